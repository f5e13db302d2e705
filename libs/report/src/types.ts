// Types of the experiment report: the run's input (outcomes, config, audit) and the report.json structure with its schema tag.
/**
 * Types of the experiment report: what a run hands in ({@link ReportInput}) and what
 * `buildReport` makes of it ({@link Report}, the content of `report.json`).
 *
 * Units are in the names: `…Ms` epoch or duration milliseconds, `…Seconds` seconds,
 * `…PerSecond` per second, `…Wei` decimal strings of wei. Every number in a {@link Report} is
 * finite; a figure that cannot be computed (no sample, zero-length window) is `null`.
 */

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/** Whether a transaction stays on its home shard or involves several shards. */
export type TxClass = 'local' | 'cross-shard';

/**
 * Terminal status of one transaction.
 * - `committed`: a local transaction final with a successful receipt, or a cross-shard one COMMITTED;
 * - `reverted`: a local transaction included in a block whose receipt failed;
 * - `aborted`: a cross-shard transaction ABORTED by the protocol (with its reason);
 * - `rejected`: refused at submission (with its reason);
 * - `unknown`: no terminal status known when the run ended (must be 0 in a good run).
 */
export type TxOutcomeKind = 'committed' | 'reverted' | 'aborted' | 'rejected' | 'unknown';

/** What happened to one submitted transaction. */
export interface TxOutcome {
  /** Transaction hash (0x…), when the transaction got as far as having one. */
  hash?: string;
  class: TxClass;
  /** Workload kind: 'transfer' | 'erc20' | 'swap' | 'call' | … */
  kind: string;
  /** Shard of the sender. */
  homeShard: number;
  /** Every shard involved (the home shard is counted as involved even when missing here). */
  shards: readonly number[];
  /** When it was submitted, epoch ms. */
  submittedAtMs: number;
  /** When its terminal status became known (final, committed, aborted), epoch ms. */
  finalAtMs?: number;
  outcome: TxOutcomeKind;
  /** Why it was aborted, rejected or reverted. */
  reason?: string;
  /**
   * The code the reason is grouped by: a typed reason's key for an abort
   * (`shard-voted-no/read-set-changed`), the gRPC code for a rejection (`failed-precondition`).
   */
  reasonCode?: string;
  /**
   * Cross-shard: how it ended — by block-2PC (under shard-led: a fallback), by shard-led receipts,
   * or by client-led two-phase commit (the decision recorded by the involved shards, or an abort
   * by a shard's lock timeout).
   */
  path?: 'block-2pc' | 'shard-led' | 'client-led';
  /**
   * Client-led, aborted by a shard's lock timeout (no decision of the coordinator reached it in
   * time): heights, on that shard's chain, of the block that recorded its prepare and of the one
   * that recorded the abort. Their difference is the blocking window (see {@link LockTimeouts}).
   */
  lockTimeout?: { preparedAtHeight: number; abortedAtHeight: number };
}

/** Workload of a run: the replay of a real trace, or a synthetic mix. */
export type WorkloadConfig =
  | { kind: 'trace'; file: string; format: string; rows: number; skippedRows: number; valueScale: string; notes: string[] }
  | {
      kind: 'synthetic';
      txs: number;
      mix: Record<string, number>;
      /** Zipf exponent of the popularity of accounts and tokens (weight of rank k ∝ 1/k^zipf; 0 = uniform). */
      zipf: number;
      accounts: number;
      notes: string[];
    };

/**
 * How accounts were placed on shards, planned before genesis from the workload's interaction
 * graph (sender → recipient or contract): `hash` is the default rule (last byte of the address mod
 * the shard count), `graph` a load-capped label propagation over that graph.
 */
export interface PlacementConfig {
  policy: 'hash' | 'graph';
  /** Seed of the partitioner (recorded under `hash` too, where it is unused). */
  seed: number;
  /** Planned share of the graph's edge weight (≈ transactions) whose ends are on different shards, in [0, 1]. */
  crossShardRatio: number;
  /** Planned transactions sent from each shard (index = shard). */
  perShardLoad: number[];
  /** The same ratio under the hash rule, for comparison. */
  hashCrossShardRatio?: number;
  /** Accounts placed off their hash shard (the registry's initial overrides). */
  overrides?: number;
}

/** How the run was set up; copied into the report as given. */
export interface RunConfig {
  /** Number of state shards (shards are numbered 0..shards-1). */
  shards: number;
  /** Time between blocks of a state shard, ms. Latencies are also given in these intervals. */
  blockIntervalMs: number;
  /** Commit protocol, e.g. 'block-2pc'. */
  protocol: string;
  workload: WorkloadConfig;
  seed: number;
  /** Git commit of the code, or 'unknown'. */
  commit: string;
  /** Offered rate in tx/s; null = as fast as possible. */
  rate: number | null;
  /** Transactions in flight at most. */
  concurrency: number;
  /** ISO 8601 time the run started. */
  startedAt: string;
  machine?: { cpus: number; memoryGiB: number; node: string };
  /** Account placement (absent in reports of runs before placement policies). */
  placement?: PlacementConfig;
}

/** The audit's verdict, as the audit tool gives it (amounts in decimal wei strings). */
export interface AuditSummary {
  ok: boolean;
  conservation: { ok: boolean; genesisWei: string; burnedWei: string; expectedWei: string; actualWei: string };
  atomicity: { ok: boolean; committed: number; aborted: number; inFlight: number };
  locks: { ok: boolean; accountsWithLocks: number };
  /** Shard-led receipts (absent in reports written before there were any). */
  receipts?: { ok: boolean; sent: number; credited: number; inFlight: number };
  problems: string[];
}

/** Everything `buildReport` needs. All times are epoch ms. */
export interface ReportInput {
  config: RunConfig;
  /** One entry per submitted transaction (rejected ones included). */
  outcomes: readonly TxOutcome[];
  /** The network was up and the workload about to start. */
  runStartedAtMs: number;
  /** The last transaction was submitted. */
  submitEndedAtMs: number;
  /** Every transaction settled (or the run gave up waiting). */
  runEndedAtMs: number;
  /** CPU time (user + system) of all processes of the network over the run, seconds. */
  cpuSeconds?: number;
  audit: AuditSummary;
}

// ---------------------------------------------------------------------------------------------
// Report (report.json)
// ---------------------------------------------------------------------------------------------

/** Version tag of {@link Report}; changes when a field changes meaning or goes away. */
export const REPORT_SCHEMA = 'shardlab.report/v1' as const;

/** Transactions by terminal status; `submitted` is their sum. */
export interface OutcomeCounts {
  submitted: number;
  committed: number;
  reverted: number;
  aborted: number;
  rejected: number;
  unknown: number;
}

/** {@link OutcomeCounts} over all transactions, and per class. */
export interface ReportCounts extends OutcomeCounts {
  local: OutcomeCounts;
  crossShard: OutcomeCounts;
}

/** Throughput of the run. */
export interface Throughput {
  /** Committed transactions / `durationSeconds`; null when the window is empty. */
  committedPerSecond: number | null;
  /** Submitted transactions / `submitDurationSeconds` (offered load); null when that window is empty. */
  submittedPerSecond: number | null;
  /** First submission → last terminal time (`finalAtMs`) of any transaction, seconds. */
  durationSeconds: number;
  /** First submission → the later of `submitEndedAtMs` and the last submission, seconds. */
  submitDurationSeconds: number;
  /** Start and end of the throughput window (epoch ms); null without transactions / final times. */
  windowStartMs: number | null;
  windowEndMs: number | null;
}

/** Latency figures of one sample, in one unit. Percentiles are nearest-rank. */
export interface LatencyFigures {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Latency (submission → terminal status) of the committed transactions of one class. */
export interface LatencyStats {
  /** Committed transactions with a final time: the sample size. */
  n: number;
  /** In milliseconds; null when n = 0. */
  ms: LatencyFigures | null;
  /** In block intervals (ms / blockIntervalMs); null when n = 0. */
  blockIntervals: LatencyFigures | null;
}

/** Latency per class. */
export interface ReportLatency {
  local: LatencyStats;
  crossShard: LatencyStats;
  all: LatencyStats;
}

/** One point of an empirical CDF: a fraction `q` of the sample took at most `ms`. */
export interface CdfPoint {
  /** Cumulative fraction, 0.01 … 1. */
  q: number;
  /** Latency, ms (nearest-rank quantile of the sample). */
  ms: number;
}

/** A count split by transaction class. */
export interface ClassSplit {
  local: number;
  crossShard: number;
  total: number;
}

/** Load of one shard. */
export interface ShardLoad {
  shard: number;
  /** Transactions whose sender is on this shard. */
  home: ClassSplit;
  /** Transactions involving this shard (home or any other role). */
  involved: ClassSplit;
  /** Committed transactions involving this shard. */
  committedInvolved: ClassSplit;
}

/**
 * Transactions grouped by reason: by its code when the outcomes carry one (typed reasons), else
 * (and, within a code, for rejections) by the normalised text.
 */
export interface ReasonCount {
  /** The code the group shares (`read-set-changed`, `failed-precondition`…); '' for untyped reasons. */
  code: string;
  /** The reason with hashes, addresses and numbers replaced (see `normaliseReason`), of the group's first member. */
  reason: string;
  count: number;
  /** One original reason of the group, as received. */
  example: string;
}

/** Activity in one second of the run. */
export interface TimeBucket {
  /** Start of the bucket, seconds from `runStartedAtMs`. */
  t: number;
  /** Transactions submitted in this second. */
  submitted: number;
  /** Transactions whose commit became known in this second. */
  committed: number;
  /** Transactions aborted in this second. */
  aborted: number;
}

/** Per-second activity from run start, for charts. */
export interface TimeSeries {
  /** Epoch ms of bucket 0 (the run start). */
  startMs: number;
  bucketSeconds: 1;
  buckets: TimeBucket[];
  /** Committed / aborted transactions without a final time, hence in no bucket. */
  unplaced: { committed: number; aborted: number };
}

/** CPU cost of the run. */
export interface CpuFigures {
  /** CPU seconds of all processes of the network. */
  cpuSeconds: number;
  /** cpuSeconds / committed transactions; null when nothing committed. */
  cpuSecondsPerCommittedTx: number | null;
  /** cpuSeconds / run duration: cores busy on average; null for a zero-length run. */
  averageCores: number | null;
}

/**
 * Client-led two-phase commit: transactions aborted by a shard's lock timeout — the shard waited
 * for a decision of the coordinator (a client) that did not come, so it held the transaction's
 * locks until the timeout: the blocking window of a coordinator failure.
 */
export interface LockTimeouts {
  /** Aborted transactions whose reason is a lock timeout (`reasonCode` `lock-timeout`). */
  count: number;
  /**
   * Blocks from the prepare to the abort (abort block height − prepared-at height, on the shard
   * that timed out), over the `n` of them whose outcome carries both heights; `p50` (nearest
   * rank) and `max` are null when n = 0.
   */
  blockingWindowBlocks: { n: number; p50: number | null; max: number | null };
}

/** The experiment report: the content of `report.json`. Plain JSON data (no bigint, no NaN). */
export interface Report {
  schema: typeof REPORT_SCHEMA;
  config: RunConfig;
  run: { startedAtMs: number; submitEndedAtMs: number; endedAtMs: number; durationSeconds: number };
  counts: ReportCounts;
  /** Every submitted transaction reached a terminal status (`counts.unknown` = 0). */
  accountedFor: boolean;
  throughput: Throughput;
  latency: ReportLatency;
  /** 100 nearest-rank quantiles (q = 0.01 … 1) per class; empty without a sample. */
  latencyCdf: { local: CdfPoint[]; crossShard: CdfPoint[]; all: CdfPoint[] };
  /** Submitted cross-shard / submitted; null without transactions. */
  crossShardRatio: number | null;
  /**
   * Cross-shard transactions that ended, by how: shard-led receipts, block-2PC (under
   * `shard-led`: the calls that reach several shards, its fallback), or client-led two-phase
   * commit (`clientLed`, absent in reports written before it). Absent in reports without paths.
   */
  crossShardPaths?: { shardLed: number; blockTwoPc: number; clientLed?: number };
  /** Aborts by a shard's lock timeout (client-led two-phase commit); absent in reports written before it. */
  lockTimeouts?: LockTimeouts;
  /** One entry per shard 0..shards-1. */
  perShard: ShardLoad[];
  /** Reasons grouped after normalisation, most frequent first. */
  abortReasons: { aborted: ReasonCount[]; rejected: ReasonCount[] };
  timeSeries: TimeSeries;
  /** Null when the run did not measure CPU time. */
  cpu: CpuFigures | null;
  audit: AuditSummary;
  /** How each figure is computed, in words (for a paper's method section). */
  methods: Record<string, string>;
  /** Oddities of the input that the figures leave out (shard out of range, missing final times…). */
  warnings: string[];
}
