/**
 * Detection on the home shard (docs/ARCHITECTURE.md §3): a call to a local contract is first run with
 * a tracking state; when it reaches an account on another shard it is handled as a cross-shard
 * call (simulated, validated and committed with its read/write set) instead of executed locally.
 */
import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

const SLOT0 = '0x' + '00'.repeat(32);
const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** Runtime: slot0 += 1; LOG0(new value); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
/** Runtime: CALL(gas, target, 0, 0, 0, 0, 0); STOP. */
const caller = (target: string) => `60006000600060006000 73${target.slice(2)} 5af100`.replace(/\s/g, '');
const deployer = (runtime: string) => {
  const len = (runtime.length / 2).toString(16).padStart(2, '0');
  return hex(`60${len}600c60003960${len}6000f3${runtime}`);
};

const placement = createPlacement(2);
const dev = devAccounts();
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
const deployerOn = (s: number) => dev.find((a) => shardOf(placement, a.address) === s && shardOf(placement, created(a, 0n)) === s && shardOf(placement, created(a, 1n)) === s);

describe('detection of local calls that reach other shards', () => {
  const d0 = deployerOn(0);
  const d1 = deployerOn(1);
  const alice = dev.find((a) => shardOf(placement, a.address) === 0 && a !== d0)!;

  (d0 && d1 ? it : it.skip)('forwards a call to a local contract that calls a contract on another shard, and commits it there', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator: true });
    const remoteCounter = created(d1!, 0n);
    const localCounter = created(d0!, 0n);
    const localCaller = created(d0!, 1n);
    await net.submit(d1!, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) });
    await net.submit(d0!, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) });
    await net.submit(d0!, { nonce: 1n, gasLimit: 200_000n, data: deployer(caller(remoteCounter)) });
    await net.settle();

    // A purely local call stays local.
    const local = await net.submit(alice, { to: localCounter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    expect(local).toMatchObject({ crossShard: false, status: TxStatus.TX_STATUS_QUEUED });
    // A local call that reaches shard 1 is detected and handled as cross-shard.
    const reaching = await net.submit(alice, { to: localCaller, nonce: 1n, gasLimit: 200_000n, data: hex('01') });
    expect(reaching).toMatchObject({ crossShard: true, status: TxStatus.TX_STATUS_PENDING });
    await net.settle();
    expect((await net.shards[0]!.getTransaction(local.txHash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(net.orchestrator.status(reaching.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
    expect((await net.shards[1]!.getProof(remoteCounter, [SLOT0])).storage[0]!.value).toBe(word(1n));
    expect((await net.shards[0]!.getProof(localCounter, [SLOT0])).storage[0]!.value).toBe(word(1n));
    const report = auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('keeps a sender\'s nonce order when a call (dry run first) and the next transfer arrive together', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator: true });
    const bob = dev.find((a) => shardOf(placement, a.address) === 0 && a !== alice)!;
    // Nonce 0 carries calldata to a local account (a dry run decides whether it is cross-shard);
    // nonce 1 is a plain transfer. Submitted in the same turn, both are admitted in nonce order.
    const [call, transfer] = await Promise.all([
      net.submit(alice, { to: bob.address, nonce: 0n, gasLimit: 100_000n, data: hex('01') }),
      net.submit(alice, { to: bob.address, nonce: 1n }),
    ]);
    expect(call).toMatchObject({ crossShard: false, status: TxStatus.TX_STATUS_QUEUED });
    expect(transfer).toMatchObject({ crossShard: false, status: TxStatus.TX_STATUS_QUEUED });
    await net.settle();
    expect((await net.shards[0]!.getAccount(alice.address)).nonce).toBe(2);
  });
});
