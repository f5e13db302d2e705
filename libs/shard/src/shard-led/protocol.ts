// The shard-led (receipt-based) cross-shard protocol as a state shard runs it: transfers debited with an outgoing receipt at the source, credited once at the destination; contract calls fall back to block-2PC
import { decodeTransaction, type BlockExecution, type BlockStep, type DecodedTx, type ReceiptCallStep, type SourceCursor } from '@shardlab/chain';
import { CrossShardReceipt, ReceiptKind, type LockKey, type ReceiptBatch, type StateShardBlock } from '@shardlab/proto';
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
 * Call receipts taken from the inbox whose execution waits for a block-2PC lock, under
 * `slp:<arrival sequence, 16 digits>:<hash>` (protobuf CrossShardReceipt): read back in key order,
 * which is their arrival order (a sender's calls run in that order).
 */
const PENDING_PREFIX = 'slp:';

/** A call receipt waiting for a lock, with its arrival sequence (its store key). */
interface PendingCall {
  receipt: CrossShardReceipt;
  seq: number;
}

/** The store key of a waiting call receipt. */
const pendingKey = (p: PendingCall, hash: string) => `${PENDING_PREFIX}${String(p.seq).padStart(16, '0')}:${hash}`;

/**
 * Shard-led cross-shard commit, receipt-based (docs/ARCHITECTURE.md §3, shard-led commit; Monoxide's relay
 * transactions, Ethereum's receipt-based cross-shard proposals), with no orchestrator and no
 * locks:
 * - a cross-shard value transfer is an ordinary entry of its source shard's block: the block
 *   consumes the nonce, charges the fee and debits the value (`receipt-debit`), and lists a
 *   TRANSFER receipt under its outgoing receipts root;
 * - a call to a contract on another shard whose state lies on that shard alone (its DryRunCall
 *   reaches no third shard) is debited the same way for its value and gas limit × fee cap (a
 *   CALL receipt with the signed transaction); the contract's shard executes it in its own block
 *   order as an ordinary transaction (msg.sender and tx.origin the sender) and sends back a
 *   CALL_RESULT receipt with what returns to the sender (unused gas; the value on a revert);
 * - every shard follows every other shard's receipt stream, verifies each batch (header hash,
 *   parent link, Merkle proof per receipt) and applies each receipt in its next block exactly
 *   once: per-source cursors, received receipts and calls waiting for a lock are written in the
 *   block's atomic batch;
 * - other cross-shard contract calls and creations fall back to block-2PC (`fallback`), which this
 *   protocol runs beside itself in the same blocks.
 */
export class ShardLedProtocol implements CrossShardProtocol {
  readonly name = 'shard-led';
  readonly carriesCrossShard = true;
  readonly follows: readonly FollowedStream[];
  private readonly inbox: ReceiptInbox;
  /** Call receipts waiting for a block-2PC lock on this shard, by transaction hash, in arrival order. */
  private readonly pending: Map<string, PendingCall>;

  private constructor(
    private readonly core: ShardCore,
    private readonly fallback: BlockTwoPhaseCommit,
    cursors: Map<number, SourceCursor>,
    pending: Map<string, PendingCall>,
  ) {
    const store = core.opts.store;
    this.pending = pending;
    this.inbox = new ReceiptInbox(core.opts.common, core.shardId, cursors, async (h) => (await store.meta(CREDITED_PREFIX + h)) !== undefined);
    const others = Array.from({ length: core.opts.placement.shardCount }, (_, s) => s).filter((s) => s !== core.shardId);
    this.follows = [
      ...fallback.follows,
      ...others.map((source): FollowedStream => ({ service: 'state-shard', shardId: source, cursor: () => this.inbox.cursor(source), accept: (b: ReceiptBatch) => this.inbox.accept(source, b) })),
    ];
  }

  /** Opens the protocol on the shard's store (per-source cursors, calls waiting for a lock); `fallback` runs the other contract calls. */
  static async open(core: ShardCore, fallback: BlockTwoPhaseCommit): Promise<ShardLedProtocol> {
    const store = core.opts.store;
    const cursors = new Map<number, SourceCursor>();
    for (const [k, v] of await store.metaEntries(CURSOR_PREFIX)) {
      cursors.set(Number(k.slice(CURSOR_PREFIX.length)), JSON.parse(Buffer.from(v).toString('utf8')) as SourceCursor);
    }
    // Key order is arrival order (see PENDING_PREFIX).
    const pending = new Map<string, PendingCall>();
    for (const [k, v] of await store.metaEntries(PENDING_PREFIX)) {
      const [seq, hash] = k.slice(PENDING_PREFIX.length).split(':');
      pending.set(hash!, { receipt: CrossShardReceipt.decode(v), seq: Number(seq) });
    }
    return new ShardLedProtocol(core, fallback, cursors, pending);
  }

  /**
   * Whether the protocol carries a cross-shard mempool entry itself (a value transfer, or a call
   * admitted as a call receipt: neither reserves a nonce for the orchestrator's ordered copy),
   * rather than its block-2PC fallback (a nonce reservation).
   */
  private static carries(entry: MempoolEntry): boolean {
    return entry.crossShard && !entry.reservation && entry.tx.to !== undefined;
  }

  async carriesCall(tx: DecodedTx, targetShard: number): Promise<boolean> {
    const ask = this.core.opts.dryRunCallOn;
    if (!ask) return false;
    try {
      const reached = await ask(targetShard, tx.raw);
      if (reached.length > 0) return false;
    } catch (err) {
      this.core.opts.logger.warn({ txHash: tx.hash, targetShard, err: (err as Error).message }, 'DryRunCall failed; the call goes to block-2PC');
      return false;
    }
    return true;
  }

  lockedOf(address: string): bigint {
    return this.fallback.lockedOf(address);
  }

  async dispatch(tx: DecodedTx, entry: MempoolEntry, involvedShards: number[]): Promise<void> {
    if (!ShardLedProtocol.carries(entry)) return this.fallback.dispatch(tx, entry, involvedShards);
    // Nothing to hand over: the transfer or call goes into this shard's next block.
    entry.ready = true;
  }

  /**
   * What this shard can tell of a shard-led transaction (nothing of it aborts once debited): 'commit'
   * once it credited the transaction's receipt here — the destination of a transfer, the sender's
   * shard crediting a call's result (the end of the call), or the contract's shard having taken a
   * call receipt (it is not waiting for a lock); undefined while a receipt it sent is in flight (a
   * transfer debited here ends with its destination's credit, which this shard cannot see; a call
   * debited here ends when its result is credited here) or a call receipt waits for a lock here.
   * Other transactions: block-2PC's decision.
   */
  async decisionOf(txHash: string): Promise<'commit' | 'abort' | undefined> {
    const store = this.core.opts.store;
    const h = txHash.toLowerCase();
    if (this.pending.has(h)) return undefined;
    if (this.inbox.creditedHere(h) || (await store.meta(CREDITED_PREFIX + h)) !== undefined) return 'commit';
    if ((await store.meta(SENT_PREFIX + h)) !== undefined) return undefined;
    return this.fallback.decisionOf(txHash);
  }

  /** Block-2PC's height for the transactions it carries; unknown for shard-led credits. */
  decisionHeightOf(txHash: string): number | undefined {
    return this.fallback.decisionHeightOf(txHash.toLowerCase());
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
    return new ShardLedBlock(this.core, this.inbox, this.fallback.beginBlock(), { carries: (e) => ShardLedProtocol.carries(e), pending: this.pending });
  }
}

/** Whether a carried transaction is a call (calldata): a CALL receipt, not a TRANSFER. */
const isCallTx = (tx: DecodedTx): boolean => tx.tx.data.length > 0;

/** What one {@link ShardLedBlock} reads and updates of its protocol. */
interface ShardLedShared {
  carries(entry: MempoolEntry): boolean;
  pending: Map<string, PendingCall>;
}

/** The shard-led part of one block (incoming receipts applied, outgoing receipts listed) around block-2PC's part. */
class ShardLedBlock implements ProtocolBlock {
  private take: InboxTake | undefined;
  /** Entries of this block carried by the shard-led protocol (transfers and calls), by hash. */
  private readonly sent = new Map<string, DecodedTx>();
  /** Call receipts executed (or waiting) in this block, by hash, with their receipt. */
  private readonly callSteps = new Map<string, { step: ReceiptCallStep; receipt: CrossShardReceipt }>();
  /** Call receipts that could not be decoded: everything prepaid goes back. */
  private readonly undecodable = new Map<string, CrossShardReceipt>();
  private outgoing: CrossShardReceipt[] = [];
  private pendingWrites = new Map<string, PendingCall | null>();

  constructor(
    private readonly core: ShardCore,
    private readonly inbox: ReceiptInbox,
    private readonly inner: ProtocolBlock,
    private readonly s: ShardLedShared,
  ) {}

  async plan(input: BlockInput): Promise<BlockStep[]> {
    const core = this.core;
    const external = new Map<string, BlockStep>();
    for (const e of input.entries) {
      if (!this.s.carries(e)) continue;
      this.sent.set(e.tx.hash, e.tx);
      // A call pays no gas here: its value and gas limit × fee cap (the up-front cost Ethereum
      // checks) are prepaid; the contract's shard charges the gas used and returns the rest.
      const prepaid = e.tx.maxCost;
      external.set(e.tx.hash, isCallTx(e.tx) ? { kind: 'accept', tx: e.tx, lock: false, debit: true, gasUsed: 0n, lockAmount: prepaid } : { kind: 'accept', tx: e.tx, lock: false, debit: true });
    }
    const take = (this.take = await this.inbox.take());
    const credits: BlockStep[] = [];
    const calls: BlockStep[] = [];
    const addCall = (r: CrossShardReceipt) => {
      const h = r.txHash.toLowerCase();
      try {
        const tx = decodeTransaction(new Uint8Array(r.rawTransaction), core.opts.common);
        const step: ReceiptCallStep = { kind: 'receipt-call', tx, prepaid: BigInt(r.value) };
        this.callSteps.set(h, { step, receipt: r });
        calls.push(step);
      } catch (err) {
        core.opts.logger.error({ txHash: h, err: (err as Error).message }, 'call receipt cannot be decoded; everything prepaid goes back');
        this.undecodable.set(h, r);
        const op = { txHash: h, address: r.from.toLowerCase(), amount: BigInt(r.value) };
        calls.push({ kind: 'system', op: { ...op, kind: 'receipt-credit' } }, { kind: 'system', op: { ...op, kind: 'receipt-debit' } });
      }
    };
    for (const p of this.s.pending.values()) addCall(p.receipt);
    for (const r of take.receipts) {
      if (r.kind === ReceiptKind.RECEIPT_KIND_CALL) addCall(r);
      else credits.push({ kind: 'system', op: { kind: 'receipt-credit', txHash: r.txHash.toLowerCase(), address: r.to.toLowerCase(), amount: BigInt(r.value) } });
    }
    // Credits first (value received is spendable in the block), then the calls that arrived.
    return [...credits, ...calls, ...(await this.inner.plan({ ...input, external }))];
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
    const outgoing: CrossShardReceipt[] = [];
    for (const o of execution.outcomes) {
      if (o.kind !== 'system' || o.op.kind !== 'receipt-debit') continue;
      const r = this.receiptOf(o.op.txHash, o.op.amount);
      if (r) outgoing.push(r);
    }
    this.outgoing = outgoing;
    const inner = await this.inner.finish(execution);
    const meta = new Map(inner.meta);
    for (const r of outgoing) if (r.kind !== ReceiptKind.RECEIPT_KIND_CALL_RESULT) meta.set(SENT_PREFIX + r.txHash, Buffer.from(String(r.destShard)));
    const take = this.take!;
    for (const r of take.receipts) meta.set(CREDITED_PREFIX + r.txHash.toLowerCase(), Buffer.from(String(r.sourceShard)));
    for (const [s, c] of take.cursors) meta.set(CURSOR_PREFIX + s, Buffer.from(JSON.stringify(c)));
    // Calls that wait for a lock stay pending (durably); the others leave the pending set.
    const writes = new Map<string, PendingCall | null>();
    let seq = Math.max(0, ...[...this.s.pending.values()].map((p) => p.seq)) + 1;
    for (const [h, { step, receipt }] of this.callSteps) {
      const waits = step.result?.deferred === true;
      if (waits && !this.s.pending.has(h)) writes.set(h, { receipt, seq: seq++ });
      if (!waits && this.s.pending.has(h)) writes.set(h, null);
    }
    for (const h of this.undecodable.keys()) if (this.s.pending.has(h)) writes.set(h, null);
    for (const [h, p] of writes) {
      if (p) meta.set(pendingKey(p, h), CrossShardReceipt.encode(p.receipt).finish());
      else meta.set(pendingKey(this.s.pending.get(h)!, h), null);
    }
    this.pendingWrites = writes;
    return { ...inner, meta, outgoingReceipts: outgoing };
  }

  /** The outgoing receipt of a `receipt-debit` of `amount` wei for `txHash` in this block. */
  private receiptOf(txHash: string, amount: bigint): CrossShardReceipt | undefined {
    const core = this.core;
    const base = { txHash, sourceShard: core.shardId, value: amount.toString(), rawTransaction: Buffer.alloc(0), success: false, gasUsed: 0, error: '' };
    const tx = this.sent.get(txHash);
    if (tx && tx.to !== undefined) {
      const call = isCallTx(tx);
      return { ...base, destShard: shardOfAddress(core, tx.to), from: tx.from, to: tx.to, kind: call ? ReceiptKind.RECEIPT_KIND_CALL : ReceiptKind.RECEIPT_KIND_TRANSFER, ...(call ? { rawTransaction: Buffer.from(tx.raw) } : {}) };
    }
    const executed = this.callSteps.get(txHash);
    const from = executed?.receipt.from ?? this.undecodable.get(txHash)?.from;
    if (from === undefined) return undefined;
    const res = executed?.step.result;
    return {
      ...base,
      destShard: executed?.receipt.sourceShard ?? this.undecodable.get(txHash)!.sourceShard,
      from,
      to: from,
      kind: ReceiptKind.RECEIPT_KIND_CALL_RESULT,
      success: res?.success ?? false,
      gasUsed: Number(res?.gasUsed ?? 0n),
      error: res ? (res.error ?? '') : 'the call receipt could not be decoded',
    };
  }

  applyDurable(deferred: ReadonlySet<string>): string[] {
    if (this.take) this.inbox.settle(this.take);
    for (const [h, r] of this.pendingWrites) {
      if (r) this.s.pending.set(h, r);
      else this.s.pending.delete(h);
    }
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
