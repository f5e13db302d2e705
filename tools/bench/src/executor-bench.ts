// The executor benchmark's runs: signed transfers, a plain runTx baseline, ShardLab's block execution, and the state shard's path including admission.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVM, runTx } from '@ethereumjs/vm';
import { createTxFromRLP } from '@ethereumjs/tx';
import { Account, createAddressFromString } from '@ethereumjs/util';
import { accountFromKey, buildBlock, createBlockExecutor, createChainCommon, createPlacement, decodeTransaction, shardOf, signTransaction, SignaturePool, ZERO_HASH, type DevAccount } from '@shardlab/chain';
import { createShardNode } from '@shardlab/shard';
import { LevelKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { keccak256 } from 'ethereum-cryptography/keccak.js';

/** Signed transfers of the executor benchmark, all local to shard 0 of a 1-shard network. */
export interface TransferSet {
  senders: DevAccount[];
  raws: Uint8Array[];
  /** Balance of each sender at genesis, in wei. */
  fund: bigint;
}

/**
 * `count` signed EIP-1559 transfers from `senderCount` deterministic accounts, round-robin (so each
 * sender's nonces increase), each to a fresh recipient. Signing is not part of any measurement.
 */
export function makeTransfers(count: number, senderCount: number): TransferSet {
  const common = createChainCommon();
  const enc = new TextEncoder();
  const senders = Array.from({ length: senderCount }, (_, i) => accountFromKey(keccak256(enc.encode(`bench-sender-${i}`))));
  const raws: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const to = '0x' + Buffer.from(keccak256(enc.encode(`bench-recipient-${i}`))).subarray(12).toString('hex');
    raws.push(signTransaction(common, senders[i % senderCount]!, { to, value: 1_000n, nonce: BigInt(Math.floor(i / senderCount)) }));
  }
  return { senders, raws, fund: 10n ** 21n };
}

/**
 * Baseline (issue 2): a plain loop of `runTx` on a fresh VM with default settings — the default
 * in-memory Merkle state manager and the default pure-JavaScript crypto — decoding each signed
 * transaction and committing state after each one, then computing the state root.
 * @returns elapsed milliseconds.
 */
export async function runBaseline(set: TransferSet): Promise<number> {
  const common = createChainCommon({ native: false });
  const vm = await createVM({ common });
  for (const s of set.senders) await vm.stateManager.putAccount(createAddressFromString(s.address), new Account(0n, set.fund));
  const t0 = performance.now();
  for (const raw of set.raws) {
    const tx = createTxFromRLP(raw, { common });
    await runTx(vm, { tx, skipHardForkValidation: true, skipBlockGasLimitValidation: true });
  }
  await vm.stateManager.getStateRoot();
  return performance.now() - t0;
}

/**
 * ShardLab's state shard on the same transfers, through its real path: `submit` (native
 * signature recovery batched on a worker thread, decode, nonce/balance checks, mempool) then `produceBlock` (EVM execution with one
 * trie flush per block, block and receipts built, everything persisted to LevelDB in one batch).
 * @returns elapsed milliseconds.
 */
export async function runShard(set: TransferSet, blockSize: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'shardlab-bench-'));
  const store = await ShardStore.open(await LevelKV.open(dir));
  const placement = createPlacement(1);
  const signaturePool = new SignaturePool(Number(createChainCommon().chainId()));
  const node = await createShardNode({
    shardId: 0,
    placement,
    common: createChainCommon(),
    store,
    logger: silentLogger(),
    genesis: new Map(set.senders.map((s) => [s.address, set.fund])),
    maxTxsPerBlock: blockSize,
    signaturePool,
  });
  if (set.senders.some((s) => shardOf(placement, s.address) !== 0)) throw new Error('bench senders must be on shard 0');
  const t0 = performance.now();
  // Submissions arrive while blocks execute, as on a live shard: block k executes while the
  // transactions of block k+1 are recovered (worker thread), validated and queued.
  const batches: Uint8Array[][] = [];
  for (let i = 0; i < set.raws.length; i += blockSize) batches.push(set.raws.slice(i, i + blockSize));
  const submitAll = (batch: Uint8Array[]) => Promise.all(batch.map((raw) => node.submit(raw)));
  let queued = submitAll(batches[0] ?? []);
  for (let k = 0; k < batches.length; k++) {
    await queued;
    const b = node.produceBlock();
    queued = submitAll(batches[k + 1] ?? []);
    const block = await b;
    if (block.transactions.length !== batches[k]!.length) throw new Error(`block ${block.height} executed ${block.transactions.length} transactions`);
  }
  const elapsed = performance.now() - t0;
  await node.stop();
  await store.close();
  await signaturePool.close();
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}

/**
 * ShardLab's block execution on the same transfers: senders recovered in batches on a worker
 * thread (native secp256k1), transactions decoded and executed block by block with the EVM (one
 * trie flush per block, native keccak), the block built (transactions and receipts roots, hash),
 * and block, receipts and state persisted to LevelDB in one batch. Recovery of block k+1 overlaps
 * execution of block k, as on a live shard.
 * @returns elapsed milliseconds.
 */
export async function runBlockExecution(set: TransferSet, blockSize: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'shardlab-bench-'));
  const store = await ShardStore.open(await LevelKV.open(dir));
  const common = createChainCommon();
  const pool = new SignaturePool(Number(common.chainId()));
  const ex = await createBlockExecutor({ common, db: store.trie as never });
  const root = await ex.applyGenesis(new Map(set.senders.map((s) => [s.address, set.fund])));
  let parent = await buildBlock(common, { shardId: 0, height: 0, parentHash: ZERO_HASH, timestampMs: 0, execution: { stateRoot: root, gasUsed: 0n, outcomes: [], touched: [] } });
  await store.commitBlock(parent);
  const batches: Uint8Array[][] = [];
  for (let i = 0; i < set.raws.length; i += blockSize) batches.push(set.raws.slice(i, i + blockSize));
  const recover = (batch: Uint8Array[] | undefined) => Promise.all((batch ?? []).map((raw) => pool.recover(raw)));
  const t0 = performance.now();
  let keys = recover(batches[0]);
  for (let k = 0; k < batches.length; k++) {
    const ks = await keys;
    keys = recover(batches[k + 1]);
    const txs = batches[k]!.map((raw, i) => decodeTransaction(raw, common, ks[i]));
    const height = k + 1;
    const execution = await ex.executeBlock(height, Date.now(), txs);
    const block = await buildBlock(common, { shardId: 0, height, parentHash: parent.hash, timestampMs: Date.now(), execution, baseFeePerGas: ex.baseFeePerGas });
    if (block.receipts.length !== txs.length) throw new Error(`block ${height} executed ${block.receipts.length} of ${txs.length} transactions`);
    await store.commitBlock(block, execution.touched);
    parent = block;
  }
  const elapsed = performance.now() - t0;
  await pool.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}
