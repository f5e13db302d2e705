import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { TxStatus, type SimulateResponse } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

const BASE_FEE = 1_000_000_000n;
const PRICE = BASE_FEE + 1n; // signTransaction's default: 2 gwei cap, 1 wei tip
const ETHER = 10n ** 18n;
const SLOT0 = '0x' + '00'.repeat(32);
const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

/** Runtime: slot0 += 1; LOG0(new value); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
/** Runtime: REVERT(0, 0). */
const REVERTER = '60006000fd';
/** Init code that deploys `runtime`. */
const deployer = (runtime: string) => {
  const len = (runtime.length / 2).toString(16).padStart(2, '0');
  return hex(`60${len}600c60003960${len}6000f3${runtime}`);
};

const placement = createPlacement(2);
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
/** A shard-1 account whose first two contracts are created on shard 1. */
const deployerAccount = on(1).find((a) => shardOf(placement, created(a, 0n)) === 1 && shardOf(placement, created(a, 1n)) === 1)!;
const [alice, carol] = on(0) as [DevAccount, DevAccount];
const local1 = on(1).find((a) => a !== deployerAccount)!;

async function setup(simulator: NonNullable<Parameters<typeof Network.create>[0]["simulator"]> = true) {
  const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator });
  await net.submit(deployerAccount, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) });
  await net.submit(deployerAccount, { nonce: 1n, gasLimit: 200_000n, data: deployer(REVERTER) });
  await net.settle();
  const counter = created(deployerAccount, 0n);
  const reverter = created(deployerAccount, 1n);
  expect((await net.shards[1]!.getAccount(counter)).codeHash).not.toBe('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  return { net, counter, reverter };
}

const slot0 = async (net: Network, a: string) => (await net.shards[1]!.getProof(a, [SLOT0])).storage[0]!.value;
const account = async (net: Network, a: DevAccount) => net.home(a.address).getAccount(a.address);

describe('cross-shard contract calls (simulator RwSet)', () => {
  it('commits a call from shard 0 to a counter on shard 1: slot written, sender charged value + fee, audit passes', async () => {
    const { net, counter } = await setup();
    const before = await account(net, alice);
    const value = 12_345n;
    const res = await net.submit(alice, { to: counter, nonce: 0n, value, gasLimit: 100_000n, data: hex('01') });
    expect(res).toMatchObject({ crossShard: true, status: TxStatus.TX_STATUS_PENDING });
    await net.settle();
    expect(net.orchestrator.status(res.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    expect(await slot0(net, counter)).toBe(word(1n));
    expect(BigInt((await net.shards[1]!.getAccount(counter)).balance)).toBe(value);

    const tx = await net.shards[0]!.getTransaction(res.txHash);
    expect(tx.status).toBe(TxStatus.TX_STATUS_COMMITTED);
    const gasUsed = BigInt(tx.receipt!.gasUsed);
    expect(gasUsed).toBeGreaterThan(21_000n);
    expect(tx.receipt!.logs).toHaveLength(1);
    expect(tx.receipt!.logs[0]!.address).toBe(counter);
    expect(Buffer.from(tx.receipt!.logs[0]!.data).toString('hex')).toBe(word(1n).slice(2));

    const after = await account(net, alice);
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(value + gasUsed * PRICE);
    expect(after.nonce).toBe(1);
    expect(after.locked).toBe('0');
    expect(await net.systemOps(0, res.txHash)).toEqual(['LOCK', 'DEBIT']);
    expect(await net.systemOps(1, res.txHash)).toEqual(['WRITE_SET', 'CREDIT']);

    // A second call sees the first one's write.
    await net.submit(alice, { to: counter, nonce: 1n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    expect(await slot0(net, counter)).toBe(word(2n));

    const report = auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('aborts when the slot read changes between simulation and prepare (read set changed), changing nothing', async () => {
    const { net, counter } = await setup();
    const before = await account(net, alice);
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled(); // simulated against slot0 = 0
    // A local call on shard 1 increments the counter before the orchestrator orders the call.
    await net.submit(local1, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.shardBlocks();
    await net.deliverShardBlocks();
    expect(await slot0(net, counter)).toBe(word(1n));
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toContain(`read set changed: ${counter} slot ${SLOT0}`);
    expect(await slot0(net, counter)).toBe(word(1n));
    const after = await account(net, alice);
    expect(after.locked).toBe('0');
    // Only the fee of the acceptance was charged; no value moved.
    const receipt = (await net.shards[0]!.getTransaction(res.txHash)).receipt!;
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(BigInt(receipt.gasUsed) * PRICE);
    expect(net.shards[0]!.head().mempoolSize).toBe(0);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('refuses a forged proof', async () => {
    const forge = async (tx: Parameters<Network['simulate']>[0], real: Network['simulate']): Promise<SimulateResponse> => {
      const res = await real(tx);
      const item = res.rwSet?.addresses.find((a) => Number(a.shardId) === 1);
      const proof = item?.reads[0]?.proof[0];
      if (proof) proof[proof.length - 1] = proof[proof.length - 1]! ^ 0xff;
      return res;
    };
    const { net, counter } = await setup(forge);
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toContain(`invalid proof for ${counter}`);
    expect(await slot0(net, counter)).toBe(word(0n));
    expect((await account(net, alice)).locked).toBe('0');
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('aborts a call whose simulation fails (revert), releasing the nonce reservation', async () => {
    const { net, reverter } = await setup();
    const before = await account(net, carol);
    const res = await net.submit(carol, { to: reverter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toBe('simulation failed: execution reverted');
    const after = await account(net, carol);
    expect(after.nonce).toBe(1);
    expect(after.locked).toBe('0');
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(21_016n * PRICE); // intrinsic gas (1 nonzero calldata byte)
    expect(net.shards[0]!.head().mempoolSize).toBe(0);
    // The sender goes on: its next transaction is accepted.
    await net.submit(carol, { to: alice.address, nonce: 1n, value: ETHER });
    await net.settle();
    expect((await account(net, carol)).nonce).toBe(2);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });
});
