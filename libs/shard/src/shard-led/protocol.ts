// The shard-led (receipt-based) cross-shard protocol as a state shard runs it: transfers debited with an outgoing receipt at the source, credited once at the destination; contract calls fall back to block-2PC
import type { BlockExecution, BlockStep, DecodedTx, SourceCursor } from '@shardlab/chain';
import type { CrossShardReceipt, LockKey, ReceiptBatch, StateShardBlock } from '@shardlab/proto';
import { shardOfAddress, type ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';
import type { BlockFinish, BlockInput, CrossShardProtocol, FollowedStream, LocksGranted, ProtocolBlock } from '../protocol';
import type { BlockTwoPhaseCommit } from '../tpc/protocol';
import type { SimulationLock } from '../tpc/key-locks';
import { ReceiptInbox, type InboxTake } from './inbox';

/** Metadata keys of the shard-led protocol in the shard store. */
const CURSOR_PREFIX = 'slc:';
const CREDITED_PREFIX = 'slr:';
const SENT_PREFIX = 'sls:';

/**
 * Shard-led cross-shard commit, receipt-based (docs/ARCHITECTURE.md §3.5; Monoxide's relay
 * transactions, Ethereum's receipt-based cross-shard proposals):
 * - a cross-shard value transfer is an ordinary entry of its source shard's block: the block
 *   consumes the nonce, charges the fee and debits the value (`receipt-debit`), and lists an
 *   outgoing receipt under its outgoing receipts root; no orchestrator, no locks;
 * - every shard follows every other shard's receipt stream, verifies each batch (header hash,
 *   parent link, Merkle proof per receipt) and credits each receipt in its next block
 *   (`receipt-credit`), exactly once: per-source cursors and credited transactions are written
 *   in the block's atomic batch;
 * - cross-shard contract calls and creations fall back to block-2PC (`fallback`), which this
 *   protocol runs beside itself in the same blocks.
 */
export class ShardLedProtocol implements CrossShardProtocol {
  readonly name = 'shard-led';
  readonly carriesCrossShard = true;
  readonly follows: readonly FollowedStream[];
  private readonly inbox: ReceiptInbox;

  private constructor(
    private readonly core: ShardCore,
    private readonly fallback: BlockTwoPhaseCommit,
    cursors: Map<number, SourceCursor>,
  ) {
    const store = core.opts.store;
    this.inbox = new ReceiptInbox(core.opts.common, core.shardId, cursors, async (h) => (await store.meta(CREDITED_PREFIX + h)) !== undefined);
    const others = Array.from({ length: core.opts.placement.shardCount }, (_, s) => s).filter((s) => s !== core.shardId);
    this.follows = [
      ...fallback.follows,
      ...others.map((source): FollowedStream => ({ service: 'state-shard', shardId: source, cursor: () => this.inbox.cursor(source), accept: (b: ReceiptBatch) => this.inbox.accept(source, b) })),
    ];
  }

  /** Opens the protocol on the shard's store: the per-source cursors recorded so far; `fallback` runs the contract calls. */
  static async open(core: ShardCore, fallback: BlockTwoPhaseCommit): Promise<ShardLedProtocol> {
    const cursors = new Map<number, SourceCursor>();
    for (const [k, v] of await core.opts.store.metaEntries(CURSOR_PREFIX)) {
      cursors.set(Number(k.slice(CURSOR_PREFIX.length)), JSON.parse(Buffer.from(v).toString('utf8')) as SourceCursor);
    }
    return new ShardLedProtocol(core, fallback, cursors);
  }

  /** Whether the protocol carries `tx` itself (a value transfer), rather than its block-2PC fallback (a call or creation). */
  private carries(tx: DecodedTx): boolean {
    return tx.to !== undefined && tx.tx.data.length === 0;
  }

  lockedOf(address: string): bigint {
    return this.fallback.lockedOf(address);
  }

  async dispatch(tx: DecodedTx, entry: MempoolEntry, involvedShards: number[]): Promise<void> {
    if (!this.carries(tx)) return this.fallback.dispatch(tx, entry, involvedShards);
    // Nothing to hand over: the transfer goes into this shard's next block.
    entry.ready = true;
  }

  async decisionOf(txHash: string): Promise<'commit' | 'abort' | undefined> {
    const store = this.core.opts.store;
    if (this.inbox.creditedHere(txHash) || (await store.meta(SENT_PREFIX + txHash)) !== undefined || (await store.meta(CREDITED_PREFIX + txHash)) !== undefined) return 'commit';
    return this.fallback.decisionOf(txHash);
  }

  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    return this.fallback.acquireLocks(txHash, keys, ttlMs, waitMs);
  }

  releaseLocks(txHash: string): Promise<number> {
    return this.fallback.releaseLocks(txHash);
  }

  readLocks(): SimulationLock[] {
    return this.fallback.readLocks();
  }

  beginBlock(): ProtocolBlock {
    return new ShardLedBlock(this.core, this.inbox, this.fallback.beginBlock(), (tx) => this.carries(tx));
  }
}

/** The shard-led part of one block (credits of incoming receipts, debits with outgoing receipts) around block-2PC's part. */
class ShardLedBlock implements ProtocolBlock {
  private take: InboxTake | undefined;
  /** Transfers of this block carried by the shard-led protocol, by hash. */
  private readonly transfers = new Map<string, DecodedTx>();
  private outgoing: CrossShardReceipt[] = [];

  constructor(
    private readonly core: ShardCore,
    private readonly inbox: ReceiptInbox,
    private readonly inner: ProtocolBlock,
    private readonly carries: (tx: DecodedTx) => boolean,
  ) {}

  async plan(input: BlockInput): Promise<BlockStep[]> {
    const external = new Map<string, BlockStep>();
    for (const e of input.entries) {
      if (!e.crossShard || !this.carries(e.tx)) continue;
      this.transfers.set(e.tx.hash, e.tx);
      external.set(e.tx.hash, { kind: 'accept', tx: e.tx, lock: false, debit: true });
    }
    const take = (this.take = await this.inbox.take());
    const credits: BlockStep[] = take.receipts.map((r) => ({ kind: 'system', op: { kind: 'receipt-credit', txHash: r.txHash.toLowerCase(), address: r.to.toLowerCase(), amount: BigInt(r.value) } }));
    // Credits first: value received is spendable by the block's own transactions.
    return [...credits, ...(await this.inner.plan({ ...input, external }))];
  }

  lockedOf(address: string): bigint {
    return this.inner.lockedOf(address);
  }

  holds(key: string): boolean {
    return this.inner.holds(key);
  }

  locksHeld(): boolean {
    return this.inner.locksHeld();
  }

  async finish(execution: BlockExecution): Promise<BlockFinish> {
    const core = this.core;
    const outgoing: CrossShardReceipt[] = [];
    for (const o of execution.outcomes) {
      if (o.kind !== 'system' || o.op.kind !== 'receipt-debit') continue;
      const tx = this.transfers.get(o.op.txHash);
      if (!tx || tx.to === undefined) continue;
      outgoing.push({ txHash: tx.hash, sourceShard: core.shardId, destShard: shardOfAddress(core, tx.to), from: tx.from, to: tx.to, value: o.op.amount.toString() });
    }
    this.outgoing = outgoing;
    const inner = await this.inner.finish(execution);
    const meta = new Map(inner.meta);
    for (const r of outgoing) meta.set(SENT_PREFIX + r.txHash, Buffer.from(String(r.destShard)));
    const take = this.take!;
    for (const r of take.receipts) meta.set(CREDITED_PREFIX + r.txHash.toLowerCase(), Buffer.from(String(r.sourceShard)));
    for (const [s, c] of take.cursors) meta.set(CURSOR_PREFIX + s, Buffer.from(JSON.stringify(c)));
    return { ...inner, meta, outgoingReceipts: outgoing };
  }

  applyDurable(deferred: ReadonlySet<string>): string[] {
    if (this.take) this.inbox.settle(this.take);
    return this.inner.applyDurable(deferred);
  }

  trace(block: StateShardBlock): void {
    this.inner.trace(block);
    const credited = this.take?.receipts.length ?? 0;
    if (credited > 0 || this.outgoing.length > 0) this.core.opts.logger.debug({ height: block.height, credited, sent: this.outgoing.length }, 'shard-led receipts');
  }

  rollback(): void {
    if (this.take) this.inbox.putBack(this.take);
    this.inner.rollback();
  }

  end(): void {
    this.inner.end();
  }
}
