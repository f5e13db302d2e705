/**
 * ERC-20 transfers as cross-shard calls at slot granularity (issue 12): two holders on shard 0
 * move one token (on shard 1) to two recipients at the same time. Their keys (the balance slots of
 * four different holders) never conflict, so both are simulated, ordered in the same orchestrator
 * block and committed in the same round; the balances equal one unsharded @ethereumjs/vm
 * (RefChain) running the same transactions, and the audit passes.
 *
 * Runs on the deterministic in-memory network of protocol-harness.ts.
 */
import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { BUILDS, RefChain, SLOT_BALANCE_OF, TOKEN_SUPPLY, calldata, mappingSlot, word } from '@shardlab/contracts';
import { TxStatus } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

const placement = createPlacement(2);
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const createdBy = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
/** The token's deployer: a shard-1 account whose first contract lands on shard 1. */
const deployer = on(1).find((a) => shardOf(placement, createdBy(a, 0n)) === 1)!;
const token = createdBy(deployer, 0n);
const [h1, h2] = on(0) as [DevAccount, DevAccount];
const [r1, r2] = on(1).filter((a) => a !== deployer) as [DevAccount, DevAccount];
/** The token's balanceOf slot of `holder`. */
const balanceSlot = (holder: string) => mappingSlot(holder, SLOT_BALANCE_OF);

describe('ERC-20 transfers of one token by different holders (slot-level locks)', () => {
  it('are ordered in the same orchestrator block, commit in the same round, and match the unsharded run', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator: true });
    const ref = await RefChain.create(net.common, dev);
    const run = async (from: DevAccount, to: string, data: string, gasLimit: bigint) => {
      // The reference's nonce: the shard's mempool may hold the sender's earlier transactions.
      const nonce = await ref.nonce(from.address);
      const res = await net.submit(from, { to, nonce, gasLimit, data: Buffer.from(data, 'hex') });
      expect(await ref.run(from, { to, data, gasLimit })).toMatchObject({ success: true });
      return res.txHash;
    };
    // Set-up (local): deploy the token on shard 1 and hand 1,000 tokens to each holder.
    const nonce = BigInt((await net.home(deployer.address).getAccount(deployer.address)).nonce);
    await net.submit(deployer, { nonce, gasLimit: 3_000_000n, data: Buffer.from(BUILDS.ERC20 + word(TOKEN_SUPPLY), 'hex') });
    expect(await ref.run(deployer, { data: BUILDS.ERC20 + word(TOKEN_SUPPLY), gasLimit: 3_000_000n })).toMatchObject({ success: true });
    await net.settle();
    for (const h of [h1, h2]) await run(deployer, token, calldata('transfer(address,uint256)', h.address, 1000n), 100_000n);
    await net.settle();

    // Two transfers from shard 0, submitted together.
    const t1 = await run(h1, token, calldata('transfer(address,uint256)', r1.address, 5n), 100_000n);
    const t2 = await run(h2, token, calldata('transfer(address,uint256)', r2.address, 7n), 100_000n);
    await net.orchestrator.simulationsSettled();
    const ordering = await net.orchestratorBlock();
    expect(ordering.ctToOrder.map((c) => c.tx?.hash).sort()).toEqual([t1, t2].sort());
    await net.settle();
    expect(net.orchestrator.status(t1).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    expect(net.orchestrator.status(t2).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    // Both decided in the same orchestrator block.
    let decidedAt: number[] = [];
    for (let h = ordering.height; h <= net.orchestrator.headInfo().height; h++) {
      const b = await net.orchestrator.getBlock(h);
      for (const d of b.tpcResult) if (d.txHash === t1 || d.txHash === t2) decidedAt.push(h);
    }
    decidedAt = [...new Set(decidedAt)];
    expect(decidedAt).toHaveLength(1);

    // Token balances as on one unsharded VM.
    const balanceOf = async (a: string) => {
      const p = await net.shards[1]!.getProof(token, [balanceSlot(a)]);
      return BigInt(p.storage[0]!.value);
    };
    for (const a of [h1, h2, r1, r2]) expect(await balanceOf(a.address)).toBe(await ref.storage(token, balanceSlot(a.address)));
    expect([await balanceOf(r1.address), await balanceOf(r2.address)]).toEqual([5n, 7n]);
    expect(net.shards.flatMap((s) => s.simulationLocks())).toEqual([]);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });
});
