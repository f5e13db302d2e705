import { EventEmitter, on } from 'node:events';
import { RLP } from '@ethereumjs/rlp';
import { hexToBytes, intToBytes } from '@ethereumjs/util';
import { context, trace, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { nativeKeccak256, toProtoTransaction, ZERO_HASH, type DecodedTx } from '@shardlab/chain';
import { errors, parseHash, toHex } from '@shardlab/common';
import { OrchestratorBlock, TxStatus, type ForwardTransactionRequest, type RwSet, type SimulateResponse, type StateShardBlock, type Transaction, type TransactionStatus } from '@shardlab/proto';
import type { KV, KVOp } from '@shardlab/storage';
import { extractContext, injectContext, tracer, withSpan, type Logger } from '@shardlab/telemetry';
import { Coordinator, decodeCrossRecord, encodeCrossRecord, isDecided, statusOf, type CrossRecord } from './coordinator';

const t = tracer('orchestrator');

const HEAD_KEY = 'm:head';
const blockKey = (h: number) => `b:${h.toString(16).padStart(12, '0')}`;
const recordKey = (hash: string) => `r:${hash}`;
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;

/** The refusal of a forward of a transaction the orchestrator already decided. */
function alreadyDecided(r: CrossRecord): Error {
  return errors.alreadyExists(`transaction ${r.tx.hash} was already ${r.phase} by the orchestrator${r.reason ? ` (${r.reason})` : ''}`, { txHash: r.tx.hash });
}
const cursorKey = (shard: number) => `c:${shard}`;

/** Options of {@link OrchestratorNode.create}. Defaults in brackets. */
export interface OrchestratorNodeOpts {
  /** This instance's store (LevelDB in production, memory in tests). */
  kv: KV;
  logger: Logger;
  /** Number of state shards (ids 0..shardCount-1). */
  shardCount: number;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  /** Time between orchestrator blocks, in milliseconds [250]. */
  blockIntervalMs?: number;
  /** Orchestrator blocks to wait for votes after ordering before aborting [20]. */
  voteTimeoutBlocks?: number;
  /** Clock in milliseconds [Date.now]. */
  now?: () => number;
  /**
   * Decodes and signature-checks a raw transaction (`decodeTransaction` with the network's
   * chain). When given, a forwarded transaction is rebuilt from its raw bytes, and its hash, home
   * shard and recipient's shard are checked, so a faulty forwarder cannot make the destination
   * credit something the source never debits [none: trust the forwarded fields].
   */
  decode?: (raw: Uint8Array) => DecodedTx;
  /**
   * The simulator (SimulatorService.Simulate). When given, a forwarded contract call or contract
   * creation without an RwSet is simulated in the background after it is stored, and ordered once
   * its RwSet is known (involved shards: the home shard and every shard of the RwSet); a failed
   * simulation aborts it [none: such transactions are ordered without an RwSet, as before].
   */
  simulate?: (tx: Transaction) => Promise<SimulateResponse>;
  /** Simulation attempts when the simulator cannot be reached [4]. */
  simulationAttempts?: number;
  /** Delay before the first retry of a simulation, in ms (doubling) [200]. */
  simulationRetryMs?: number;
  /** Base fee per gas of the network, in wei, for the conservation check of RwSets [1 gwei]. */
  baseFeePerGas?: bigint;
  /**
   * How many orchestrator blocks a decided transaction stays in memory after every state shard
   * has applied its decision; then it is read from the store only [2 × voteTimeoutBlocks, at
   * least 40].
   */
  pruneAfterBlocks?: number;
}

/** The price per gas of a transaction at `baseFee`: min(maxFee, baseFee + tip), or its gas price. */
function priceOf(tx: Transaction, baseFee: bigint): bigint {
  if (tx.maxFeePerGas) {
    const viaTip = baseFee + BigInt(tx.maxPriorityFeePerGas || '0');
    const cap = BigInt(tx.maxFeePerGas);
    return viaTip < cap ? viaTip : cap;
  }
  return BigInt(tx.gasPrice || '0');
}

/**
 * Why an RwSet must not be ordered (undefined when it may): an address on the wrong shard, no
 * item for the sender on its home shard, or balance deltas that do not sum to minus the fee
 * (value conservation: Σ deltas = −gasUsed × effective gas price).
 */
export function checkRwSet(tx: Transaction, homeShard: number, rwSet: RwSet, shardOf: (a: string) => number, baseFee: bigint): string | undefined {
  const from = tx.from.toLowerCase();
  if (!rwSet.addresses.some((a) => a.address.toLowerCase() === from && Number(a.shardId) === homeShard)) {
    return `the RwSet has no item for the sender ${from} on its home shard ${homeShard}`;
  }
  let sum = 0n;
  for (const a of rwSet.addresses) {
    const s = shardOf(a.address.toLowerCase());
    if (Number(a.shardId) !== s) return `the RwSet places ${a.address} on shard ${a.shardId}, but it is on shard ${s}`;
    try {
      sum += BigInt(a.balanceDelta || '0');
    } catch {
      return `malformed balance delta ${JSON.stringify(a.balanceDelta)} of ${a.address}`;
    }
  }
  const fee = BigInt(rwSet.gasUsed) * priceOf(tx, baseFee);
  if (sum !== -fee) return `value conservation violated: balance deltas sum to ${sum} wei, expected minus the fee ${fee} wei`;
  if (BigInt(rwSet.gasUsed) > BigInt(tx.gasLimit)) return `gas used ${rwSet.gasUsed} exceeds the gas limit ${tx.gasLimit}`;
  return undefined;
}

interface Head {
  height: number;
  hash: string;
}

/**
 * Hash of an orchestrator block: keccak256 of RLP([height, parentHash, timestampMs,
 * [ordered tx hashes], [[decided tx hash, decision]]]).
 */
export function orchestratorBlockHash(b: Omit<OrchestratorBlock, 'hash'>): string {
  return toHex(
    nativeKeccak256(
      RLP.encode([
        intToBytes(b.height),
        hexToBytes(b.parentHash as `0x${string}`),
        intToBytes(b.timestampMs),
        b.ctToOrder.map((x) => hexToBytes((x.tx?.hash ?? ZERO_HASH) as `0x${string}`)),
        b.tpcResult.map((r) => [hexToBytes(r.txHash as `0x${string}`), r.decision]),
      ]),
    ),
  );
}

/**
 * The orchestrator shard (DESIGN.md sections 1 and 3): accepts cross-shard transactions from home
 * shards, produces a block every `blockIntervalMs` with `ct_to_order` and `tpc_result`, reads
 * votes from state-shard block streams, and keeps blocks, records and per-shard stream cursors in
 * its store. A block, the records it changed and the cursors of the shard blocks whose votes it
 * used are written in one batch, so after a crash the orchestrator resumes each shard stream
 * after the last block it durably processed, and nothing is applied twice.
 */
export class OrchestratorNode {
  readonly blockIntervalMs: number;
  private readonly coordinator: Coordinator;
  private readonly events = new EventEmitter();
  private readonly cursors: number[];
  private readonly durableCursors: number[];
  private readonly recent = new Map<number, OrchestratorBlock>();
  /** Per state shard: the highest orchestrator height its blocks say it has applied (-1: none seen). */
  private readonly applied: number[];
  private readonly pruneAfterBlocks: number;
  /** First writes of forwarded records in progress, by tx hash (settle true when durable). */
  private readonly firstWrites = new Map<string, Promise<boolean>>();
  private head: Head;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<unknown> = Promise.resolve();
  private readonly closing = new AbortController();
  private readonly now: () => number;
  /** Simulations in progress. */
  private readonly simulations = new Set<Promise<void>>();
  /** Last simulation started per sender: a sender's simulations run one after the other. */
  private readonly senderSimulations = new Map<string, Promise<void>>();

  private constructor(
    private readonly opts: OrchestratorNodeOpts,
    head: Head,
    records: CrossRecord[],
    cursors: number[],
  ) {
    this.blockIntervalMs = opts.blockIntervalMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.coordinator = new Coordinator({ voteTimeoutBlocks: opts.voteTimeoutBlocks ?? 20, shardOf: opts.shardOf }, records);
    this.applied = Array.from({ length: opts.shardCount }, () => -1);
    this.pruneAfterBlocks = opts.pruneAfterBlocks ?? Math.max(40, 2 * (opts.voteTimeoutBlocks ?? 20));
    this.head = head;
    this.cursors = [...cursors];
    this.durableCursors = [...cursors];
    this.events.setMaxListeners(0);
  }

  /** Opens the orchestrator on its store: writes block 0 on an empty store, else resumes. */
  static async create(opts: OrchestratorNodeOpts): Promise<OrchestratorNode> {
    const headBytes = await opts.kv.get(HEAD_KEY);
    let head: Head;
    if (!headBytes) {
      const genesis: Omit<OrchestratorBlock, 'hash'> = { height: 0, parentHash: ZERO_HASH, timestampMs: 0, ctToOrder: [], tpcResult: [] };
      const block = { ...genesis, hash: orchestratorBlockHash(genesis) };
      head = { height: 0, hash: block.hash };
      await opts.kv.batch([
        { type: 'put', key: blockKey(0), value: OrchestratorBlock.encode(block).finish() },
        { type: 'put', key: HEAD_KEY, value: Buffer.from(JSON.stringify(head)) },
      ]);
      opts.logger.info({ height: 0 }, 'orchestrator genesis written');
    } else {
      head = JSON.parse(Buffer.from(headBytes).toString('utf8')) as Head;
    }
    const records = (await opts.kv.entries('r:')).map(([, v]) => decodeCrossRecord(v));
    const cursors: number[] = [];
    for (let s = 0; s < opts.shardCount; s++) {
      const c = await opts.kv.get(cursorKey(s));
      cursors.push(c ? Number(Buffer.from(c).toString('utf8')) : -1);
    }
    const open = records.filter((r) => !isDecided(r.phase)).length;
    opts.logger.info({ height: head.height, records: records.length, inFlight: open, cursors }, 'orchestrator opened');
    const node = new OrchestratorNode(opts, head, records, cursors);
    node.resumeSimulations();
    return node;
  }

  /** Resolves once no simulation is in progress (including those started meanwhile). */
  async simulationsSettled(): Promise<void> {
    while (this.simulations.size > 0) await Promise.all([...this.simulations]);
  }

  /** Starts the simulations of stored records still waiting for their RwSet (after a restart). */
  resumeSimulations(): void {
    for (const r of this.coordinator.simulating()) this.startSimulation(r);
  }

  private startSimulation(r: CrossRecord): void {
    const simulate = this.opts.simulate;
    if (!simulate) return;
    const hash = r.tx.hash;
    // A sender's simulations run in arrival (nonce) order, one at a time: a later one holding the
    // simulation locks an earlier one needs would stall both (the later one is ordered only after
    // the earlier one), until its locks expire.
    const from = r.tx.from;
    const previous = this.senderSimulations.get(from);
    // One span in the transaction's trace (child of its enqueue span), around the simulation
    // with its retries (DESIGN.md section 6); the simulator call runs inside it.
    const run = context.with(extractContext(r.traceContext), () => withSpan(t, 'orchestrator.simulate', { 'tx.hash': hash, 'shard.home': r.homeShard }, async (span) => {
      if (previous) await previous;
      const attempts = Math.max(1, this.opts.simulationAttempts ?? 4);
      let outcome: { rwSet: RwSet } | { error: string } | undefined;
      let lastError = '';
      for (let i = 0; i < attempts && !this.closing.signal.aborted; i++) {
        if (i > 0) await new Promise((res) => setTimeout(res, (this.opts.simulationRetryMs ?? 200) * 2 ** (i - 1)));
        try {
          const res = await simulate(r.tx);
          if (!res.success || !res.rwSet) outcome = { error: res.error || 'no read/write set' };
          else {
            const bad = checkRwSet(r.tx, r.homeShard, res.rwSet, this.opts.shardOf, this.opts.baseFeePerGas ?? 1_000_000_000n);
            outcome = bad ? { error: bad } : { rwSet: res.rwSet };
          }
          break;
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
          this.opts.logger.warn({ txHash: hash, attempt: i + 1, err: lastError }, 'simulation failed; retrying');
        }
      }
      if (this.closing.signal.aborted) {
        span.setAttribute('simulation.interrupted', true);
        return; // resumed from the store after a restart
      }
      outcome ??= { error: `simulator unreachable: ${lastError}` };
      span.setAttributes({ success: 'rwSet' in outcome, error: 'error' in outcome ? outcome.error : '' });
      const rec = this.coordinator.resolveSimulation(hash, outcome, this.now());
      if (rec) {
        span.setAttribute('tx.involved_shards', rec.involved);
        this.opts.logger.debug({ txHash: hash, involved: rec.involved, error: rec.simulationError }, 'cross-shard transaction simulated');
        this.emitStatus(rec);
      }
    }))
      .catch((err: unknown) => this.opts.logger.error({ err, txHash: hash }, 'simulation bookkeeping failed'))
      .finally(() => {
        this.simulations.delete(run);
        if (this.senderSimulations.get(from) === run) this.senderSimulations.delete(from);
      });
    this.simulations.add(run);
    this.senderSimulations.set(from, run);
  }

  /** Starts producing a block every `blockIntervalMs`. */
  start(): void {
    if (this.timer || this.closing.signal.aborted) return;
    const tick = () => {
      this.produceBlock()
        .catch((err: unknown) => this.opts.logger.error({ err }, 'orchestrator block production failed'))
        .finally(() => {
          if (!this.closing.signal.aborted) this.timer = setTimeout(tick, this.blockIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.blockIntervalMs);
  }

  /** Stops block production, waits for a block in progress, and ends every stream. */
  async stop(): Promise<void> {
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.producing;
    await Promise.all([...this.simulations]);
  }

  /** Height and hash of the durable head. */
  headInfo(): Head {
    return { ...this.head };
  }

  /** Last state-shard height whose block was read (votes taken), per shard; -1 for none. */
  shardCursor(shardId: number): number {
    return this.cursors[shardId] ?? -1;
  }

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
        return this.coordinator.get(key) || this.firstWrites.has(key) || !this.coordinator.mayBePruned(key) ? [] : [i];
      });
      if (todo.length === 0) break;
      for (const i of todo) checked.add(i);
      const found = await Promise.all(todo.map((i) => this.storedDecided(reqs[i]!.tx!.hash)));
      todo.forEach((i, k) => (stored[i] = found[k]));
    }
    reqs.forEach((req, index) => {
      const ctx = req.traceContext && Object.keys(req.traceContext).length > 0 ? extractContext(req.traceContext) : context.active();
      context.with(ctx, () => {
        const span = t.startSpan('orchestrator.enqueue', { attributes: { 'shard.home': req.homeShard } });
        try {
          const old = stored[index];
          if (old && !this.coordinator.get(old.tx.hash)) throw alreadyDecided(old);
          const a = this.admitForward(req, trace.setSpan(ctx, span));
          span.setAttribute('tx.hash', a.record.tx.hash);
          const first = freshByHash.get(a.record.tx.hash);
          const writing = this.firstWrites.get(a.record.tx.hash);
          if (first !== undefined) {
            sameAs.set(index, first);
            span.end();
          } else if (a.isNew) {
            freshByHash.set(a.record.tx.hash, index);
            this.coordinator.hold(a.record.tx.hash);
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
      const write = Promise.resolve().then(() => this.opts.kv.batch(fresh.map((f) => ({ type: 'put' as const, key: recordKey(f.record.tx.hash), value: encodeCrossRecord(f.record) }))));
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
        if (!failure) this.coordinator.release(f.record.tx.hash);
        if (failure) {
          // Not durable, so not accepted: the home shard is told it failed and drops it.
          this.coordinator.forget(f.record.tx.hash);
          out[f.index] = failure;
          f.span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
        } else {
          this.opts.logger.debug({ txHash: f.record.tx.hash, homeShard: f.record.homeShard, involved: f.record.involved, simulating: f.simulating }, 'cross-shard transaction queued');
          this.emitStatus(f.record);
          if (f.simulating) this.startSimulation(f.record);
          out[f.index] = statusOf(f.record).status;
        }
        f.span.end();
      }
    }
    for (const [index, first] of sameAs) out[index] = out[first];
    for (const l of laterOf) {
      const durable = await l.writing;
      const r = this.coordinator.get(l.hash);
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
    const simulating = !req.rwSet && this.opts.simulate !== undefined && (tx.data.length > 0 || !tx.to);
    const { record, isNew } = this.coordinator.forward(tx, req.homeShard, req.involvedShards, req.rwSet, injectContext(ctx), this.now(), simulating);
    if (!isNew && isDecided(record.phase)) throw alreadyDecided(record);
    if (!isNew && Object.values(record.votes).includes('no')) {
      throw errors.alreadyExists(`transaction ${tx.hash} was refused (${record.reason}); it is being aborted`, { txHash: tx.hash });
    }
    return { record, isNew, simulating };
  }

  /** The stored record of `hash` (0x hex) when it is decided; undefined otherwise. */
  private async storedDecided(hash: string): Promise<CrossRecord | undefined> {
    const bytes = await this.opts.kv.get(recordKey(hash.toLowerCase()));
    const r = bytes ? decodeCrossRecord(bytes) : undefined;
    return r && isDecided(r.phase) ? r : undefined;
  }

  /**
   * Status of a cross-shard transaction, from memory or, for one decided long ago, from the
   * store (GetCrossShardStatus); UNKNOWN when the orchestrator never saw it.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async lookup(txHash: string): Promise<TransactionStatus> {
    const h = parseHash(txHash, 'tx_hash');
    if (this.coordinator.get(h) || !this.coordinator.mayBePruned(h)) return this.status(h);
    const bytes = await this.opts.kv.get(recordKey(h));
    return bytes ? statusOf(decodeCrossRecord(bytes)) : this.status(h);
  }

  /** Status of a cross-shard transaction held in memory; UNKNOWN when it is not (see {@link lookup}). */
  status(txHash: string): TransactionStatus {
    const h = parseHash(txHash, 'tx_hash');
    const r = this.coordinator.get(h);
    if (!r) return { txHash: h, status: TxStatus.TX_STATUS_UNKNOWN, homeShard: 0, crossShard: true, blockHeight: 0, receipt: undefined, reason: '', updatedAtMs: this.now() };
    return statusOf(r);
  }

  /**
   * Reads the votes of the next block of a state shard's stream. Blocks at or below the shard's
   * cursor are ignored (duplicates after a reconnect).
   * @throws ShardLabError FAILED_PRECONDITION on a gap, so the subscriber resubscribes after
   *   {@link shardCursor}.
   */
  onShardBlock(shardId: number, block: StateShardBlock): void {
    const cursor = this.shardCursor(shardId);
    if (block.height <= cursor) return;
    if (block.height !== cursor + 1) throw errors.failedPrecondition(`shard ${shardId} block ${block.height} does not follow ${cursor}`);
    for (const r of this.coordinator.onShardBlock(shardId, block, this.now())) {
      this.opts.logger.debug({ txHash: r.tx.hash }, 'cross-shard transaction prepared');
      this.emitStatus(r);
    }
    this.cursors[shardId] = block.height;
    this.applied[shardId] = Math.max(this.applied[shardId] ?? -1, block.orchestratorHeight);
  }

  /** Produces the next orchestrator block now (serialised with the timer's). */
  produceBlock(): Promise<OrchestratorBlock> {
    const run = this.producing.then(() => this.produceBlockNow());
    this.producing = run.catch(() => undefined);
    return run;
  }

  private async produceBlockNow(): Promise<OrchestratorBlock> {
    const height = this.head.height + 1;
    const now = Math.max(this.now(), 1);
    const plan = this.coordinator.planBlock(height, now);
    const body: Omit<OrchestratorBlock, 'hash'> = { height, parentHash: this.head.hash, timestampMs: now, ctToOrder: plan.ctToOrder, tpcResult: plan.tpcResult };
    const block: OrchestratorBlock = { ...body, hash: orchestratorBlockHash(body) };
    const cursors = [...this.cursors];
    const ops: KVOp[] = [{ type: 'put', key: blockKey(height), value: OrchestratorBlock.encode(block).finish() }];
    for (const r of plan.changed) ops.push({ type: 'put', key: recordKey(r.tx.hash), value: encodeCrossRecord(r) });
    cursors.forEach((c, s) => {
      if (c !== this.durableCursors[s]) ops.push({ type: 'put', key: cursorKey(s), value: Buffer.from(String(c)) });
    });
    const head = { height, hash: block.hash };
    ops.push({ type: 'put', key: HEAD_KEY, value: Buffer.from(JSON.stringify(head)) });
    try {
      await this.opts.kv.batch(ops);
    } catch (err) {
      // Nothing was written: the orderings and decisions are not durable. A restart replays from
      // the store; in this process, undo the plan so the next block orders and decides the same
      // transactions, and keep the records dirty so it writes them.
      this.coordinator.revertPlan(plan);
      throw err;
    }
    this.head = head;
    cursors.forEach((c, s) => (this.durableCursors[s] = c));
    this.recent.set(height, block);
    this.recent.delete(height - 512);
    for (const d of block.tpcResult) {
      const r = this.coordinator.get(d.txHash)!;
      const parent = extractContext(r.traceContext);
      context.with(parent, () => {
        const span = t.startSpan('orchestrator.decision', { attributes: { 'tx.hash': d.txHash, decision: r.phase, 'orchestrator.height': height, reason: r.reason } });
        span.end();
      });
      this.opts.logger.debug({ txHash: d.txHash, decision: r.phase, reason: r.reason || undefined, height }, 'cross-shard decision');
      this.emitStatus(r);
    }
    if (block.ctToOrder.length > 0 || block.tpcResult.length > 0) {
      this.opts.logger.info({ height, ordered: block.ctToOrder.length, decided: block.tpcResult.length, inMemory: this.coordinator.size }, 'orchestrator block');
    }
    this.events.emit('block', block);
    // Every shard follows every orchestrator block: once the slowest has applied height h, the
    // decisions up to h are done everywhere; keep them in memory a while longer, then drop them.
    const everywhere = Math.min(...this.applied);
    if (everywhere >= 0) this.coordinator.pruneDecided(everywhere - this.pruneAfterBlocks);
    return block;
  }

  /** Cross-shard records held in memory (open and recently decided transactions). */
  recordsInMemory(): number {
    return this.coordinator.size;
  }

  /**
   * An orchestrator block by height, or the head block.
   * @throws ShardLabError NOT_FOUND beyond the head.
   */
  async getBlock(height?: number): Promise<OrchestratorBlock> {
    const h = height ?? this.head.height;
    const cached = this.recent.get(h);
    if (cached) return cached;
    const bytes = h <= this.head.height ? await this.opts.kv.get(blockKey(h)) : undefined;
    if (!bytes) throw errors.notFound(`the orchestrator has no block at height ${h} (head is ${this.head.height})`);
    return OrchestratorBlock.decode(bytes);
  }

  /** Every block from `fromHeight` on, history first, then live; ends on abort or stop. */
  async *subscribe(fromHeight: number, signal: AbortSignal): AsyncGenerator<OrchestratorBlock> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    if (stop.aborted) return;
    const events = on(this.events, 'block', { signal: stop });
    let next = fromHeight;
    try {
      while (!stop.aborted) {
        while (next <= this.head.height && !stop.aborted) {
          yield await this.getBlock(next);
          next += 1;
        }
        if (next > this.head.height) await events.next();
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    } finally {
      await events.return?.();
    }
  }

  /** Every status change of every cross-shard transaction from now on; ends on abort or stop. */
  async *statusChanges(signal: AbortSignal): AsyncGenerator<TransactionStatus> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    if (stop.aborted) return;
    const events = on(this.events, 'status', { signal: stop });
    try {
      for await (const [s] of events) yield s as TransactionStatus;
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      throw err;
    }
  }

  /** Number of cross-shard transactions not yet decided. */
  inFlight(): number {
    return this.coordinator.inFlight().length;
  }

  private emitStatus(r: CrossRecord): void {
    if (this.events.listenerCount('status') === 0) return; // nobody subscribed: nothing to build
    this.events.emit('status', statusOf(r));
  }
}
