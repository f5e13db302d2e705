// runExperiment: a workload against a running network — declared to the tracker, submitted through the gateway, every outcome awaited, the rest asked of the gateway
import { ReasonCode, TxStatus, reasonKey, type GatewayServiceClient, type TransactionStatus } from '@shardlab/proto';
import { unaryCall } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { submitAll, type Submission, type SubmissionResult } from './submitter';
import { OutcomeTracker, type CrossShardPath, type TrackedOutcome, type TrackerPeers } from './tracker';

/** One transaction of an experiment's workload. */
export interface ExperimentTx extends Submission {
  /** What it does, for the report: `transfer`, `erc20`, `swap`, ... */
  readonly kind: string;
  /** The shards it is expected to involve (home first), for per-shard load. */
  readonly shards: readonly number[];
}

/** The end of one transaction of an experiment (`tx` is the object that was submitted). */
export interface ExperimentOutcome<T extends ExperimentTx = ExperimentTx> {
  readonly tx: T;
  /** Class as the home shard decided it (undefined when refused at submission). */
  crossShard?: boolean;
  homeShard: number;
  submittedAtMs: number;
  finalAtMs?: number;
  outcome: 'committed' | 'reverted' | 'aborted' | 'rejected' | 'unknown';
  reason?: string;
  /**
   * What the report groups the reason by: the typed reason's key for an abort
   * (`shard-voted-no/read-set-changed`, see `reasonKey`), the gRPC code for a rejection.
   */
  reasonCode?: string;
  /** Cross-shard: committed or aborted by block-2PC, by shard-led receipts or by client-led 2PC (see {@link CrossShardPath}). */
  path?: CrossShardPath;
  /**
   * Client-led, aborted by a shard's lock timeout (no decision reached it in time): the height of
   * the shard block that recorded its prepare (the reason's detail) and of the one that recorded
   * the abort, on that shard's chain; their difference is how long the transaction held its locks.
   */
  lockTimeout?: { preparedAtHeight: number; abortedAtHeight: number };
}

/** Counts shown while an experiment runs. */
export interface ExperimentProgress {
  submitted: number;
  committed: number;
  /** Local transactions included with a failed receipt. */
  reverted: number;
  aborted: number;
  rejected: number;
  inFlight: number;
}

/** Options of {@link runExperiment}. */
export interface ExperimentOpts {
  gateway: GatewayServiceClient;
  /**
   * The state shards and the orchestrator whose block streams tell outcomes, found through the
   * registry (a `Peers` from `@shardlab/registry`, e.g. `connectPeers`). Not closed here.
   */
  peers: TrackerPeers;
  logger: Logger;
  /** Submissions per second; undefined or 0 = as fast as possible. */
  rate?: number;
  /** Most submissions awaiting the gateway at once [256]. */
  concurrency?: number;
  /**
   * How long to wait for outcomes once every transaction was submitted, with no outcome
   * arriving, before asking the gateway for the rest, in milliseconds [30,000].
   */
  idleTimeoutMs?: number;
  /** Called whenever a count changes (throttle on the receiving side). */
  onProgress?: (p: ExperimentProgress) => void;
  signal?: AbortSignal;
}

/** What {@link runExperiment} returns. */
export interface ExperimentRun<T extends ExperimentTx = ExperimentTx> {
  outcomes: ExperimentOutcome<T>[];
  startedAtMs: number;
  submitEndedAtMs: number;
  endedAtMs: number;
}

/**
 * Runs a workload against a running network: declares every transaction to an
 * {@link OutcomeTracker}, submits them through the gateway ({@link submitAll}: in order, paced,
 * bounded, each sender's transactions one after another), and waits until every accepted one has
 * a terminal outcome. Transactions still without one after `idleTimeoutMs` without progress are
 * asked of the gateway (GetTransaction); what even the gateway cannot settle is `unknown` — every
 * submitted transaction is accounted for.
 * @throws ShardLabError UNAVAILABLE when the block streams cannot be opened.
 */
export async function runExperiment<T extends ExperimentTx>(txs: readonly T[], opts: ExperimentOpts): Promise<ExperimentRun<T>> {
  const tracker = new OutcomeTracker({ peers: opts.peers, logger: opts.logger });
  tracker.expect(txs.map((t) => t.hash));
  await tracker.start();
  const p: ExperimentProgress = { submitted: 0, committed: 0, reverted: 0, aborted: 0, rejected: 0, inFlight: 0 };
  const report = () => opts.onProgress?.({ ...p });
  const outcomes = new Map<string, ExperimentOutcome<T>>();
  let lastOutcomeAtMs = Date.now();
  const pending = new Set<string>();
  /** Wakes the wait for the last outcomes (set while waiting). */
  let wake: (() => void) | undefined;
  const settle = (o: ExperimentOutcome<T>, t: TrackedOutcome) => {
    if (!pending.delete(o.tx.hash)) return;
    o.outcome = t.outcome;
    o.finalAtMs = t.atMs;
    if (t.reason) o.reason = t.reason;
    if (t.cause) o.reasonCode = reasonKey(t.cause);
    if (t.path) o.path = t.path;
    const window = lockTimeoutOf(t);
    if (window) o.lockTimeout = window;
    p.inFlight -= 1;
    p[t.outcome] += 1;
    lastOutcomeAtMs = Date.now();
    report();
    if (pending.size === 0) wake?.();
  };
  const startedAtMs = Date.now();
  try {
    await submitAll(txs, {
      gateway: opts.gateway,
      ...(opts.rate ? { rate: opts.rate } : {}),
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onSubmit: () => {
        p.submitted += 1;
        p.inFlight += 1;
        report();
      },
      onResult: (s, r: SubmissionResult) => {
        const tx = s as T;
        const o: ExperimentOutcome<T> = { tx, homeShard: r.accepted?.homeShard ?? tx.shards[0] ?? 0, submittedAtMs: r.submittedAtMs, outcome: 'unknown' };
        outcomes.set(tx.hash, o);
        if (!r.accepted) {
          o.outcome = 'rejected';
          o.reason = r.rejected ?? 'refused';
          if (r.rejectedCode) o.reasonCode = r.rejectedCode;
          p.inFlight -= 1;
          p.rejected += 1;
          report();
          return;
        }
        o.crossShard = r.accepted.crossShard;
        pending.add(tx.hash);
        tracker.accepted(tx.hash, r.accepted.homeShard, r.accepted.crossShard);
        void tracker.outcome(tx.hash).then((t) => settle(o, t));
      },
    });
    const submitEndedAtMs = Date.now();
    lastOutcomeAtMs = Math.max(lastOutcomeAtMs, submitEndedAtMs);
    const idle = opts.idleTimeoutMs ?? 30_000;
    // Wait until nothing is pending, or `idle` ms pass without an outcome (the timer re-arms
    // itself to the latest outcome's deadline), or the run is aborted.
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', finish);
        wake = undefined;
        resolve();
      };
      const check = () => {
        const left = idle - (Date.now() - lastOutcomeAtMs);
        if (pending.size === 0 || left <= 0 || opts.signal?.aborted) finish();
        else timer = setTimeout(check, left);
      };
      wake = finish;
      opts.signal?.addEventListener('abort', finish, { once: true });
      check();
    });
    // Whatever the streams did not settle: ask the gateway (e.g. a transaction dropped by its shard).
    for (const hash of [...pending]) {
      const o = outcomes.get(hash)!;
      const s = await unaryCall<TransactionStatus>('gateway', (md, op, cb) => opts.gateway.getTransaction({ txHash: hash }, md, op, cb)).catch((err: Error) => {
        o.reason = `no terminal status seen; the gateway answered: ${err.message}`;
        return undefined;
      });
      if (!s) continue;
      const final = statusOutcome(s);
      if (final) settle(o, { ...final, atMs: Date.now(), height: Number(s.blockHeight) });
      else o.reason = `no terminal status after ${idle} ms without progress; the gateway reports ${TxStatus[s.status] ?? s.status}`;
    }
    return { outcomes: txs.filter((t) => outcomes.has(t.hash)).map((t) => outcomes.get(t.hash)!), startedAtMs, submitEndedAtMs, endedAtMs: Date.now() };
  } finally {
    await tracker.stop();
  }
}

/**
 * The prepare and abort heights of an outcome ended by a shard's lock timeout (client-led: the
 * cause is REASON_CODE_LOCK_TIMEOUT, its detail the prepare's height, and `height` the block that
 * recorded the abort); undefined for any other outcome or a malformed detail.
 */
export function lockTimeoutOf(t: Pick<TrackedOutcome, 'outcome' | 'cause' | 'height' | 'path'>): ExperimentOutcome['lockTimeout'] {
  if (t.outcome !== 'aborted' || t.path !== 'client-led' || t.cause?.code !== ReasonCode.REASON_CODE_LOCK_TIMEOUT) return undefined;
  const preparedAtHeight = Number(t.cause.detail);
  if (t.cause.detail === '' || !Number.isSafeInteger(preparedAtHeight) || preparedAtHeight < 0) return undefined;
  return { preparedAtHeight, abortedAtHeight: t.height };
}

/** The terminal outcome a gateway status stands for, if it is terminal. */
function statusOutcome(s: TransactionStatus): Pick<TrackedOutcome, 'outcome' | 'reason' | 'cause'> | undefined {
  switch (s.status) {
    case TxStatus.TX_STATUS_COMMITTED:
      // A shard-led call that reverted on the contract's shard is COMMITTED with a failed receipt.
      return s.receipt && !s.receipt.success ? { outcome: 'reverted', reason: s.receipt.error || 'reverted' } : { outcome: 'committed' };
    case TxStatus.TX_STATUS_FINAL:
      return s.receipt?.success ? { outcome: 'committed' } : { outcome: 'reverted', reason: s.receipt?.error ?? 'reverted' };
    case TxStatus.TX_STATUS_ABORTED:
    case TxStatus.TX_STATUS_DROPPED:
      return { outcome: 'aborted', reason: s.reason || TxStatus[s.status], ...(s.cause ? { cause: s.cause } : {}) };
    default:
      return undefined;
  }
}
