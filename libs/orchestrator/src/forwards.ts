// Intake of cross-shard transactions forwarded by home shards: checks, recording in the coordinator, group commit of new records, answers per item.
import { context, trace, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { toProtoTransaction, type DecodedTx } from '@shardlab/chain';
import { errors, parseHash } from '@shardlab/common';
import type { ForwardTransactionRequest, TxStatus } from '@shardlab/proto';
import { extractContext, injectContext, tracer, type Logger } from '@shardlab/telemetry';
import { isDecided, statusOf, type Coordinator, type CrossRecord } from './coordinator';
import type { SimulationScheduler } from './simulations';
import type { OrchestratorStore } from './store';

const t = tracer('orchestrator');
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;

/** The refusal of a forward of a transaction the orchestrator already decided. */
function alreadyDecided(r: CrossRecord): Error {
  return errors.alreadyExists(`transaction ${r.tx.hash} was already ${r.phase} by the orchestrator${r.reason ? ` (${r.reason})` : ''}`, { txHash: r.tx.hash });
}

/** What {@link ForwardIntake} needs. */
export interface ForwardIntakeOpts {
  coordinator: Coordinator;
  store: OrchestratorStore;
  logger: Logger;
  /** Number of state shards (ids 0..shardCount-1). */
  shardCount: number;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  now: () => number;
  /** Rebuilds and checks a forwarded transaction from its raw bytes [none: trust the forwarded fields]. */
  decode?: (raw: Uint8Array) => DecodedTx;
  /** Where contract calls and creations without an RwSet go [none: ordered without an RwSet]. */
  simulations?: SimulationScheduler;
  /** Called with each new record once it is durable. */
  onStatus(record: CrossRecord): void;
}

/**
 * Takes cross-shard transactions forwarded by their home shards (ForwardTransaction(s),
 * docs/ARCHITECTURE.md §3): each is checked and recorded in the coordinator in order, and the new
 * ones are made durable in one store write (group commit) before any is answered.
 */
export class ForwardIntake {
  /** First writes of forwarded records in progress, by tx hash (settle true when durable). */
  private readonly firstWrites = new Map<string, Promise<boolean>>();

  constructor(private readonly opts: ForwardIntakeOpts) {}

  /**
   * Accepts a cross-shard transaction forwarded by its home shard and writes it to the store
   * before answering, so an acknowledged transaction survives a crash; it is ordered in the next
   * block. Forwarding the same hash again while it is undecided is answered with its current
   * status; once decided, it is refused, so that a resubmitted transaction whose round is over is
   * never accepted (and locked) again by its home shard.
   * @throws ShardLabError INVALID_ARGUMENT for a missing or malformed transaction or shard ids
   *   outside the network; ALREADY_EXISTS for a transaction already committed or aborted.
   */
  async forward(req: ForwardTransactionRequest): Promise<TxStatus> {
    const [out] = await this.forwardMany([req]);
    if (out instanceof Error) throw out;
    return out!;
  }

  /**
   * {@link forward} for many transactions at once (ForwardTransactions): each is checked and
   * recorded in order, and the new ones are made durable in one store write (group commit)
   * before any is answered. Each item's trace context is its `traceContext` field when set, else
   * the caller's. A transaction named twice in one batch gets the first one's outcome.
   * @returns one outcome per request, in order: its status, or its error (as {@link forward}
   *   throws); a failed store write fails every new transaction of the batch (none is accepted).
   */
  async forwardMany(reqs: readonly ForwardTransactionRequest[]): Promise<(TxStatus | Error)[]> {
    const out: (TxStatus | Error | undefined)[] = new Array(reqs.length);
    const fresh: { index: number; record: CrossRecord; simulating: boolean; span: Span }[] = [];
    const sameAs = new Map<number, number>();
    const freshByHash = new Map<string, number>();
    const laterOf: { index: number; hash: string; writing: Promise<boolean> }[] = [];
    // A transaction decided long ago is no longer in memory (see pruneAfterBlocks): its stored
    // record answers for it, so a repeated forward is refused as when it was in memory.
    // Only hashes the coordinator may have dropped are looked up (almost never a new transaction).
    // A block produced while the store answers may drop more: look again until nothing new may
    // have been dropped, so that the checks below and the recording run with no await between.
    const stored: (CrossRecord | undefined)[] = [];
    const checked = new Set<number>(); // looked up in the store while not in memory
    for (;;) {
      const todo = reqs.flatMap((req, i) => {
        const h = req.tx?.hash;
        if (checked.has(i) || typeof h !== 'string' || !HASH_RE.test(h)) return [];
        const key = h.toLowerCase();
        return this.opts.coordinator.get(key) || this.firstWrites.has(key) || !this.opts.coordinator.mayBePruned(key) ? [] : [i];
      });
      if (todo.length === 0) break;
      for (const i of todo) checked.add(i);
      const found = await Promise.all(todo.map((i) => this.opts.store.decidedRecord(reqs[i]!.tx!.hash)));
      todo.forEach((i, k) => (stored[i] = found[k]));
    }
    reqs.forEach((req, index) => {
      const ctx = req.traceContext && Object.keys(req.traceContext).length > 0 ? extractContext(req.traceContext) : context.active();
      context.with(ctx, () => {
        const span = t.startSpan('orchestrator.enqueue', { attributes: { 'shard.home': req.homeShard } });
        try {
          const old = stored[index];
          if (old && !this.opts.coordinator.get(old.tx.hash)) throw alreadyDecided(old);
          const a = this.admitForward(req, trace.setSpan(ctx, span));
          span.setAttribute('tx.hash', a.record.tx.hash);
          const first = freshByHash.get(a.record.tx.hash);
          const writing = this.firstWrites.get(a.record.tx.hash);
          if (first !== undefined) {
            sameAs.set(index, first);
            span.end();
          } else if (a.isNew) {
            freshByHash.set(a.record.tx.hash, index);
            this.opts.coordinator.hold(a.record.tx.hash);
            fresh.push({ index, record: a.record, simulating: a.simulating, span });
          } else if (writing) {
            // Forwarded again while its first write (another batch) is in progress: answered
            // with that write's outcome.
            laterOf.push({ index, hash: a.record.tx.hash, writing });
            span.end();
          } else {
            out[index] = statusOf(a.record).status;
            span.end();
          }
        } catch (err) {
          out[index] = err as Error;
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          span.end();
        }
      });
    });
    if (fresh.length > 0) {
      let failure: Error | undefined;
      // A synchronous throw (encoding) fails the write like a rejection does.
      const write = Promise.resolve().then(() => this.opts.store.writeRecords(fresh.map((f) => f.record)));
      const settled = write.then(
        () => true,
        () => false,
      );
      for (const f of fresh) this.firstWrites.set(f.record.tx.hash, settled);
      try {
        await write;
      } catch (err) {
        failure = err as Error;
      }
      for (const f of fresh) {
        this.firstWrites.delete(f.record.tx.hash);
        if (!failure) this.opts.coordinator.release(f.record.tx.hash);
        if (failure) {
          // Not durable, so not accepted: the home shard is told it failed and drops it.
          this.opts.coordinator.forget(f.record.tx.hash);
          out[f.index] = failure;
          f.span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
        } else {
          this.opts.logger.debug({ txHash: f.record.tx.hash, homeShard: f.record.homeShard, involved: f.record.involved, simulating: f.simulating }, 'cross-shard transaction queued');
          this.opts.onStatus(f.record);
          if (f.simulating) this.opts.simulations?.start(f.record);
          out[f.index] = statusOf(f.record).status;
        }
        f.span.end();
      }
    }
    for (const [index, first] of sameAs) out[index] = out[first];
    for (const l of laterOf) {
      const durable = await l.writing;
      const r = this.opts.coordinator.get(l.hash);
      out[l.index] = durable && r ? statusOf(r).status : errors.unavailable(`transaction ${l.hash} could not be stored by the orchestrator; forward it again`, { txHash: l.hash });
    }
    return out as (TxStatus | Error)[];
  }

  /**
   * Checks one forwarded transaction and records it in the coordinator (in memory; the caller
   * makes a new record durable). `ctx` is the trace context kept with the record.
   * @throws ShardLabError as {@link forward}.
   */
  private admitForward(req: ForwardTransactionRequest, ctx: Context): { record: CrossRecord; isNew: boolean; simulating: boolean } {
    if (!req.tx) throw errors.invalidArgument('tx is required');
    // The canonical (lower-case) hash is the id everywhere (status queries, votes, blocks).
    let tx = { ...req.tx, hash: parseHash(req.tx.hash, 'tx.hash') };
    if (!tx.raw || tx.raw.length === 0) throw errors.invalidArgument('tx.raw is required');
    const bad = [req.homeShard, ...req.involvedShards].find((s) => !Number.isInteger(s) || s < 0 || s >= this.opts.shardCount);
    if (bad !== undefined) throw errors.invalidArgument(`shard ${bad} does not exist: this network has shards 0..${this.opts.shardCount - 1}`);
    if (!req.involvedShards.some((s) => s !== req.homeShard)) throw errors.invalidArgument('involved_shards must name the shards besides the home shard');
    if (this.opts.decode) {
      const d = this.opts.decode(new Uint8Array(tx.raw));
      if (d.hash !== tx.hash) throw errors.invalidArgument(`tx.hash ${tx.hash} is not the hash of tx.raw (${d.hash})`);
      if (this.opts.shardOf(d.from) !== req.homeShard) throw errors.invalidArgument(`home_shard ${req.homeShard} is not the shard of sender ${d.from}`);
      if (d.to && !req.involvedShards.includes(this.opts.shardOf(d.to))) throw errors.invalidArgument(`involved_shards does not name the recipient's shard ${this.opts.shardOf(d.to)}`);
      tx = toProtoTransaction(d);
    }
    // A contract call or creation gets its RwSet from the simulator before it is ordered.
    const simulating = !req.rwSet && this.opts.simulations !== undefined && (tx.data.length > 0 || !tx.to);
    const { record, isNew } = this.opts.coordinator.forward(tx, req.homeShard, req.involvedShards, req.rwSet, injectContext(ctx), this.opts.now(), simulating);
    if (!isNew && isDecided(record.phase)) throw alreadyDecided(record);
    if (!isNew && Object.values(record.votes).includes('no')) {
      throw errors.alreadyExists(`transaction ${tx.hash} was refused (${record.reason}); it is being aborted`, { txHash: tx.hash });
    }
    return { record, isNew, simulating };
  }
}
