/**
 * Deployment across shards (issue "Cross-shard contract calls"): a contract lives on the shard of
 * its address, so creating one from an account on another shard is a cross-shard transaction —
 * simulated, ordered with its RwSet (created code), and applied on the contract's shard.
 */
import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { TxStatus } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

const EMPTY_CODE_HASH = '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470';
const SLOT0 = '0x' + '00'.repeat(32);
/** Runtime: slot0 += 1; LOG0(new value); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** Init code: SSTORE(0, 7), then return the counter runtime (19 bytes at offset 17). */
const INIT = hex('6007600055' + '6013601160003960136000f3' + COUNTER);

const placement = createPlacement(2);
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
/** A shard-0 account whose first contract is created on shard 1. */
const creator = devAccounts().find((a) => shardOf(placement, a.address) === 0 && shardOf(placement, created(a, 0n)) === 1);

(creator ? describe : describe.skip)('cross-shard contract creation', () => {
  it('creates the contract on its own shard with its constructor storage, exactly once, and the audit passes', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator: true });
    const address = created(creator!, 0n);
    const res = await net.submit(creator!, { nonce: 0n, gasLimit: 300_000n, data: INIT });
    expect(res).toMatchObject({ crossShard: true, status: TxStatus.TX_STATUS_PENDING });
    await net.settle();
    expect(net.orchestrator.status(res.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
    const acct = await net.shards[1]!.getAccount(address);
    expect(acct.codeHash).not.toBe(EMPTY_CODE_HASH);
    expect(acct.nonce).toBe(1);
    expect((await net.shards[1]!.getProof(address, [SLOT0])).storage[0]!.value).toBe('0x' + '7'.padStart(64, '0'));
    expect((await net.shards[1]!.getCode(address)).code.toString('hex')).toBe(COUNTER);
    // The creator's shard holds no trace of the contract; the creator's nonce is consumed.
    expect((await net.shards[0]!.getAccount(creator!.address)).nonce).toBe(1);
    expect(await net.systemOps(1, res.txHash)).toContain('WRITE_SET');
    const report = auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
