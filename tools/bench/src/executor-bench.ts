import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVM, runTx } from '@ethereumjs/vm';
import { createTxFromRLP } from '@ethereumjs/tx';
import { Account, createAddressFromString } from '@ethereumjs/util';
import { accountFromKey, createChainCommon, createPlacement, shardOf, signTransaction, SignaturePool, type DevAccount } from '@shardlab/chain';
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
  for (let i = 0; i < set.raws.length; i += blockSize) {
    // Submitted concurrently, as many clients would; admission keeps their (nonce) order.
    await Promise.all(set.raws.slice(i, i + blockSize).map((raw) => node.submit(raw)));
    const b = await node.produceBlock();
    if (b.transactions.length !== Math.min(blockSize, set.raws.length - i)) throw new Error(`block ${b.height} executed ${b.transactions.length} transactions`);
  }
  const elapsed = performance.now() - t0;
  await node.stop();
  await store.close();
  await signaturePool.close();
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}
