// The main job behind npm start: plan a trace or synthetic workload, start a devnet funded at genesis, run it through the gateway, audit, and write the report
/**
 * The main job (`npm start`): an experiment on a local sharded network — plan the workload (a
 * real trace or the synthetic mix), start the network with the workload's accounts funded at
 * genesis, deploy contracts (synthetic), submit through the gateway with live progress, wait for
 * every transaction's terminal outcome, audit, and report (terminal table, report.json,
 * report.html).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createChainCommon } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { runAudit, type AuditReport } from '@shardlab/audit';
import { deploySyntheticContracts, NetClient, syntheticLayout } from '@shardlab/contracts';
import { isCrossShard, totalCpuSeconds, type ExperimentOutcome, type ExperimentRun, type ExperimentTx } from '@shardlab/experiment';
import { GatewayServiceClient, type Account } from '@shardlab/proto';
import { buildReport, createProgress, describePlacement, formatReportTable, writeReportFiles, type AuditSummary, type PlacementConfig, type Report, type ReportFiles, type RunConfig, type TxOutcome, type WorkloadConfig } from '@shardlab/report';
import { formatPlacementFile } from '@shardlab/registry';
import { createClient, unaryCall } from '@shardlab/rpc';
import type { ShardProtocolName } from '@shardlab/shard';
import {
  DEFAULT_ZIPF_EXPONENT,
  placeReplay,
  planPlacement,
  planReplay,
  planSynthetic,
  readTrace,
  replayGraph,
  signSynthetic,
  syntheticGraph,
  type InteractionGraph,
  type MalformedPolicy,
  type PlacementPlan,
  type PlacementPolicy,
  type ReplayPlan,
  type SyntheticPlan,
} from '@shardlab/workload';
import { startDevnet, type Devnet } from './devnet';
import { REPO_ROOT } from './processes';
import { runExperimentOn } from './target';
import { auditWhenSettled } from './audit-settle';

/** Options of the main job (the command-line flags). */
export interface JobOpts {
  shards: number;
  /** Cross-shard commit protocol of the network, one of `SHARD_PROTOCOLS` of @shardlab/shard [`block-2pc`]. */
  protocol?: ShardProtocolName;
  blockIntervalMs: number;
  /** Trace file; undefined = the synthetic workload. */
  trace?: string;
  onMalformed: MalformedPolicy;
  /** Most trace rows to replay. */
  limit?: number;
  /** Trace values × this factor (decimal string, e.g. "0.001"). */
  valueScale: string;
  /** Synthetic: operations, accounts, mix. */
  txs: number;
  accounts: number;
  mix: { transfer: number; erc20: number; swap: number };
  /**
   * Synthetic: Zipf exponent of the popularity of senders, recipients and tokens (weight of rank
   * k ∝ 1/k^zipf; 0 = uniform); default {@link DEFAULT_ZIPF_EXPONENT} (1).
   */
  zipf?: number;
  /** Seed of the synthetic workload and of the graph placement's visiting order. */
  seed: number;
  /**
   * How accounts are placed on shards: `hash` (last byte of the address mod shards) or `graph`
   * (the workload's interaction graph partitioned before genesis, `planPlacement` of
   * @shardlab/workload; the moved accounts become the registry's initial overrides). Default hash.
   */
  placement?: PlacementPolicy;
  /** Submissions per second; 0 = as fast as possible. */
  rate: number;
  concurrency: number;
  /** Where report.json and report.html go. */
  out: string;
  dataDir?: string;
  keepRunning: boolean;
  keepData: boolean;
}

/** Where the job writes its progress and report table (standard output by default; tests capture it). */
export interface JobOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A job's output and its line writer (`say` adds the newline). */
export interface JobLog {
  out: JobOutput;
  say(line: string): void;
}

/** The {@link JobLog} writing to `out`. */
export function jobLog(out: JobOutput): JobLog {
  return { out, say: (line) => void out.write(`${line}\n`) };
}

/**
 * Parses the `--zipf` flag: the popularity exponent of the synthetic workload, a finite number
 * ≥ 0 ("0" = uniform, "1" = classic Zipf, "1.5").
 * @throws ShardLabError INVALID_ARGUMENT for anything else (empty, negative, not a number, infinite).
 */
export function parseZipf(v: string): number {
  const t = v.trim();
  const s = t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(s) || s < 0) throw errors.invalidArgument(`--zipf must be a finite number ≥ 0 (0 = uniform popularity, 1 = classic Zipf), got ${JSON.stringify(v)}`);
  return s;
}

/**
 * How the report describes the synthetic workload of `o`: transactions, accounts, mix, the Zipf
 * exponent (default 1) and notes on the model. Pure.
 */
export function syntheticWorkloadConfig(o: Pick<JobOpts, 'txs' | 'accounts' | 'mix' | 'zipf'>): WorkloadConfig {
  const zipf = o.zipf ?? DEFAULT_ZIPF_EXPONENT;
  const notes = [
    zipf === 0
      ? 'account and token popularity is uniform (Zipf exponent 0) for senders, recipients and tokens; amounts are log-uniform'
      : `account popularity is Zipf (exponent ${zipf}) for senders and recipients, token popularity too; amounts are log-uniform`,
    'Uniswap V2 from the published @uniswap/v2-core and v2-periphery builds: tokens A and B, their pair, factory and Router02, each on its own shard when there are enough',
    'a swapper is placed on its input token\'s shard (its router approval is then a local call); set-up (deployment, liquidity, token funding, approvals) is not measured',
  ];
  return { kind: 'synthetic', txs: o.txs, mix: { ...o.mix }, zipf, accounts: o.accounts, notes };
}

/** Parses a decimal factor ("1", "0.001", "2.5") into num/den. @throws Error for anything else. */
export function parseScale(v: string): { num: bigint; den: bigint } {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`--value-scale must be a non-negative decimal number, got ${v}`);
  const frac = m[2] ?? '';
  return { num: BigInt(m[1]! + frac), den: 10n ** BigInt(frac.length) };
}

/**
 * The workload read and planned once, before accounts are placed: a trace's rows mapped to
 * generated keys and signed (the hash placement's plan) with its interaction graph, or the
 * synthetic plan (its graph depends on where the placement puts the contracts). Every run of a
 * comparison starts from the same one.
 */
export type JobWorkload =
  | { kind: 'trace'; file: string; format: string; rows: number; skippedRows: number; hashPlan: ReplayPlan; graph: InteractionGraph }
  | { kind: 'synthetic'; synthetic: SyntheticPlan };

/** A placed workload: its genesis funding, its transactions or plan, its placement, and how the report describes it. */
export interface PlannedWorkload {
  genesis: Map<string, bigint>;
  workload: WorkloadConfig;
  /** Trace: the signed transactions (shards under {@link placement}). Synthetic: signed after the contracts are deployed. */
  txs?: ExperimentTx[];
  synthetic?: SyntheticPlan;
  /** Where the accounts go (the hash rule, or the graph placement's overrides). */
  placement: PlacementPlan;
}

/**
 * Reads and plans the workload of `o` (a trace with `o.trace`, else the synthetic workload),
 * saying how it went on `log`.
 * @throws Error when the trace cannot be read, has no usable row, or a malformed row stops it
 *   (`--on-malformed stop`); ShardLabError INVALID_ARGUMENT for a bad `--value-scale`-like option
 *   refused by the planners.
 */
export async function readJobWorkload(o: JobOpts, log: JobLog): Promise<JobWorkload> {
  const say = log.say;
  if (o.trace) {
    const file = resolve(o.trace);
    say(`reading the trace ${file}...`);
    const t0 = Date.now();
    const trace = await readTrace(file, { onMalformed: o.onMalformed, ...(o.limit !== undefined ? { limit: o.limit } : {}) });
    for (const i of trace.issues.slice(0, 10)) say(`  line ${i.line}: ${i.message} (skipped)`);
    if (trace.issues.length > 10) say(`  ... ${trace.issues.length - 10} more malformed rows skipped`);
    say(`  ${trace.rows.length} rows (${trace.format} layout), ${trace.issues.length} malformed rows skipped, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (trace.rows.length === 0) throw new Error(`the trace ${file} has no usable rows`);
    say(`mapping addresses to generated keys and signing ${trace.rows.length} transactions...`);
    const t1 = Date.now();
    const hashPlan = planReplay(trace.rows, { common: createChainCommon(), shardCount: o.shards, valueScale: parseScale(o.valueScale) });
    say(`  ${hashPlan.stats.addresses} addresses, ${hashPlan.stats.senders} senders, cross-shard ratio ${hashPlan.stats.crossShardRatio.toFixed(3)} at ${o.shards} shards (hash placement), in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    return { kind: 'trace', file, format: trace.format, rows: trace.rows.length, skippedRows: trace.issues.length, hashPlan, graph: replayGraph(hashPlan.txs) };
  }
  const zipf = o.zipf ?? DEFAULT_ZIPF_EXPONENT;
  say(`planning the synthetic workload: ${o.txs} operations over ${o.accounts} accounts (seed ${o.seed}, Zipf exponent ${zipf})...`);
  const synthetic = planSynthetic({ seed: o.seed, txs: o.txs, accounts: o.accounts, mix: o.mix, zipf });
  return { kind: 'synthetic', synthetic };
}

/** Whether the synthetic workload of `o` calls contracts (ERC-20 transfers or swaps), so they are deployed first. */
export function needsContracts(o: Pick<JobOpts, 'mix'>): boolean {
  return o.mix.erc20 > 0 || o.mix.swap > 0;
}

/**
 * Places the accounts of a read workload under `policy` (`hash`, or `graph`: the interaction
 * graph partitioned, seeded by `o.seed`) and plans what the network needs: genesis, the trace's
 * transactions with their shards under that placement (synthetic: the contracts' layout for that
 * placement), and the report's workload description. Says how the placement went on `log`.
 */
export function placeJobWorkload(w: JobWorkload, o: JobOpts, policy: PlacementPolicy, log: JobLog): PlannedWorkload {
  if (w.kind === 'synthetic') {
    // Contracts are deployed after the network starts, on the shards syntheticLayout picks now;
    // under graph placement the contracts that call each other go on one shard (colocated).
    const layout = needsContracts(o) ? syntheticLayout(o.shards, layoutOptsOf(policy)).layout : undefined;
    const placement = placeAccounts(syntheticGraph(w.synthetic, layout), o, policy, log);
    return { genesis: w.synthetic.genesis, synthetic: w.synthetic, placement, workload: syntheticWorkloadConfig(o) };
  }
  const placement = placeAccounts(w.graph, o, policy, log);
  const plan = placement.policy === 'hash' ? w.hashPlan : placeReplay(w.hashPlan, placement.placement);
  const st = plan.stats;
  const notes = [
    placement.policy === 'hash'
      ? 'every real address is mapped to a generated key pair placed on the same shard as the real address (last byte mod shards)'
      : 'every real address is mapped to a generated key pair; accounts are placed by partitioning the sender → recipient graph (--placement graph), not on the real address\'s shard',
    'senders are funded at genesis with their outgoing value plus their maximum fees',
    `${st.calldataConverted} rows with calldata and ${st.creationsConverted} contract creations are replayed as plain value transfers (to the recipient, or to the address the creation made)`,
    'nonces are renumbered from 0 per sender in trace order (block number, transaction index); fees are EIP-1559 with a 2 gwei cap',
    ...(st.failedAsZeroValue > 0 ? [`${st.failedAsZeroValue} rows that failed on mainnet (isError) are replayed as zero-value transfers (nonce and fee kept, no value moved)`] : []),
  ];
  const txs: ExperimentTx[] = plan.txs.map((t) => ({ hash: t.hash, from: t.from, raw: t.raw, kind: 'transfer', shards: t.crossShard ? [t.homeShard, t.toShard] : [t.homeShard] }));
  return {
    genesis: plan.genesis,
    txs,
    placement,
    workload: { kind: 'trace', file: w.file, format: w.format, rows: w.rows, skippedRows: w.skippedRows, valueScale: o.valueScale, notes },
  };
}

/** Plans the placement of the workload's accounts under `policy` and says how it went. */
function placeAccounts(graph: InteractionGraph, o: JobOpts, policy: PlacementPolicy, log: JobLog): PlacementPlan {
  if (policy === 'graph') {
    log.say(`placing accounts: partitioning the interaction graph (${graph.loads.size} vertices, ${graph.edges.length} edges) over ${o.shards} shards, seed ${o.seed}...`);
  }
  const t0 = Date.now();
  const p = planPlacement(graph, { policy, shardCount: o.shards, seed: o.seed });
  const how = p.partition
    ? `; load cap ${Math.round(p.partition.loadCap)} txs, ${p.partition.rounds} rounds, ${p.partition.moves} moves, in ${((Date.now() - t0) / 1000).toFixed(1)} s`
    : '';
  log.say(`  ${describePlacement(placementConfig(p))}${how}`);
  return p;
}

/** How the report records a placement plan. */
function placementConfig(p: PlacementPlan): PlacementConfig {
  return {
    policy: p.policy,
    seed: p.seed,
    crossShardRatio: p.crossShardRatio,
    perShardLoad: p.perShardLoad,
    hashCrossShardRatio: p.hashCrossShardRatio,
    overrides: p.overrides.size,
  };
}

/** Where the synthetic contracts go: colocated under graph placement, spread under hash placement. */
function layoutOptsOf(policy: PlacementPolicy): { colocate: boolean } {
  return { colocate: policy === 'graph' };
}

/** Git commit of the code (with `+dirty` when the tree has changes), or 'unknown'. */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Runs a batch to its end with a progress line; returns its run. */
async function runBatch(devnet: Devnet, gateway: GatewayServiceClient, txs: ExperimentTx[], o: JobOpts, log: JobLog, label: string, rate?: number): Promise<ExperimentRun> {
  const progress = createProgress({ total: txs.length, out: log.out, label });
  try {
    return await runExperimentOn(devnet, gateway, txs, { concurrency: o.concurrency, ...(rate ? { rate } : {}), onProgress: (p) => progress.update(p) });
  } finally {
    progress.done();
  }
}

/** Runs set-up transactions (every one must commit). @throws Error with the first failure. */
async function setupBatch(devnet: Devnet, gateway: GatewayServiceClient, txs: ExperimentTx[], o: JobOpts, log: JobLog, label: string): Promise<void> {
  if (txs.length === 0) return;
  const run = await runBatch(devnet, gateway, txs, o, log, label);
  const bad = run.outcomes.filter((x) => x.outcome !== 'committed');
  if (bad.length > 0) throw new Error(`${bad.length} of ${txs.length} set-up transactions (${label}) did not commit; first: ${bad[0]!.outcome} ${bad[0]!.reason ?? ''}`);
}

function auditSummary(a: AuditReport): AuditSummary {
  const c = a.conservation;
  return {
    ok: a.ok,
    conservation: { ok: c.ok, genesisWei: String(c.genesisWei), burnedWei: String(c.burnedWei), expectedWei: String(c.expectedWei), actualWei: String(c.actualWei) },
    atomicity: { ok: a.atomicity.ok, committed: a.atomicity.committed, aborted: a.atomicity.aborted, inFlight: a.atomicity.inFlight },
    locks: { ok: a.locks.ok, accountsWithLocks: a.locks.accountsWithLocks.length },
    receipts: { ok: a.receipts.ok, sent: a.receipts.sent, credited: a.receipts.credited, inFlight: a.receipts.inFlight },
    problems: a.problems,
  };
}

function toOutcome(x: ExperimentOutcome): TxOutcome {
  return {
    hash: x.tx.hash,
    class: isCrossShard(x) ? 'cross-shard' : 'local',
    kind: x.tx.kind,
    homeShard: x.homeShard,
    shards: x.tx.shards,
    submittedAtMs: x.submittedAtMs,
    ...(x.finalAtMs !== undefined ? { finalAtMs: x.finalAtMs } : {}),
    outcome: x.outcome,
    ...(x.reason ? { reason: x.reason } : {}),
    ...(x.reasonCode ? { reasonCode: x.reasonCode } : {}),
    ...(x.path ? { path: x.path } : {}),
    ...(x.lockTimeout ? { lockTimeout: x.lockTimeout } : {}),
  };
}

/** One run of a placed workload on a fresh network: its protocol and where its files go. */
export interface JobRun {
  protocol: ShardProtocolName;
  /** Where report.json and report.html go. */
  out: string;
  /** The network's data directory (kept); undefined = a new directory under .data/, removed after a successful run unless `--keep-data`. */
  dataDir?: string;
  /** Print the report's terminal table (the single job does; a comparison prints its own). */
  printTable: boolean;
  /** When the experiment started (the report's `config.startedAt`). */
  startedAt: Date;
}

/** What one run produced. */
export interface JobRunResult {
  report: Report;
  files: ReportFiles;
  /** Every transaction reached a terminal outcome and the audit passed. */
  ok: boolean;
  /** The signed transactions submitted: how many, and {@link signedDigest} of them. */
  signedWorkload: { txs: number; digest: string };
}

/**
 * First 16 hex digits of the SHA-256 of the transactions' hashes, in order, one per line: equal
 * digests mean byte-identical signed transactions in the same order.
 */
export function signedDigest(txs: readonly Pick<ExperimentTx, 'hash'>[]): string {
  const h = createHash('sha256');
  for (const t of txs) h.update(`${t.hash}\n`);
  return h.digest('hex').slice(0, 16);
}

/**
 * Runs a placed workload on a fresh network running `run.protocol`: writes genesis (and the graph
 * placement's overrides) into the data directory, starts the network, deploys the synthetic
 * contracts and runs their set-up when the mix needs them, signs and submits the workload with a
 * progress line, audits, builds the report and writes report.json and report.html to `run.out`.
 * The network is stopped after the report unless `o.keepRunning` (then this never returns).
 * `track` is told the running network (to stop it on Ctrl-C) and undefined once it is stopped.
 * @throws Error when the network does not start (naming its logs), a set-up transaction does not
 *   commit, or the report cannot be written; the network is then left running for the caller
 *   to stop (it was passed to `track`).
 */
export async function runPlannedWorkload(o: JobOpts, planned: PlannedWorkload, run: JobRun, track: (d: Devnet | undefined) => void, log: JobLog): Promise<JobRunResult> {
  const say = log.say;
  const dataDir = run.dataDir ?? (mkdirSync(join(REPO_ROOT, '.data'), { recursive: true }), mkdtempSync(join(REPO_ROOT, '.data', 'devnet-')));
  mkdirSync(dataDir, { recursive: true });
  const genesisFile = join(dataDir, 'genesis.json');
  writeFileSync(genesisFile, JSON.stringify({ alloc: Object.fromEntries([...planned.genesis].map(([a, w]) => [a, w.toString()])) }));
  // Graph placement: the registry starts with the moved accounts as overrides (epoch 1).
  const placementFile = planned.placement.policy === 'graph' ? join(dataDir, 'placement.json') : undefined;
  if (placementFile) writeFileSync(placementFile, formatPlacementFile(planned.placement.overrides));
  say(
    `starting the network: ${o.shards} state shards running ${run.protocol}, block interval ${o.blockIntervalMs} ms, ${planned.genesis.size} accounts funded at genesis, ` +
      `${planned.placement.policy} placement${placementFile ? ` (${planned.placement.overrides.size} overrides in ${placementFile})` : ''}, data in ${dataDir}`,
  );
  const t0 = Date.now();
  const devnet = await startDevnet({
    shards: o.shards,
    blockIntervalMs: o.blockIntervalMs,
    dataDir,
    genesisFile,
    protocol: run.protocol,
    ...(placementFile ? { placementFile } : {}),
    onProgress: (l) => say(`  ${l}`),
  }).catch((err: Error) => {
    throw new Error(`the network failed to start: ${err.message} (logs in ${join(dataDir, 'logs')})`);
  });
  track(devnet);
  say(`network up in ${((Date.now() - t0) / 1000).toFixed(1)} s; gateway at ${devnet.gatewayAddress} (gRPC, reflection on)`);
  const gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
  try {
    let txs = planned.txs;
    // Every network's generated accounts start at nonce 0: signing starts from a fresh nonce map
    // (signSynthetic counts a transfers-only workload's nonces in the plan it is given).
    const synthetic = planned.synthetic ? { ...planned.synthetic, nextNonce: new Map<string, bigint>() } : undefined;
    if (synthetic && needsContracts(o)) {
      const net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, o.shards);
      try {
        const contracts = await deploySyntheticContracts(net, say, layoutOptsOf(planned.placement.policy));
        const holders = [contracts.uniswap.holderA, contracts.uniswap.holderB];
        const nonces = new Map<string, bigint>();
        for (const h of holders) nonces.set(h.address, BigInt((await unaryCall<Account>('gateway', (md, op, cb) => gateway.getAccount({ address: h.address }, md, op, cb))).nonce));
        const signed = signSynthetic(synthetic, contracts, net.common, planned.placement.placement, nonces);
        await setupBatch(devnet, gateway, signed.funding, o, log, 'funding token holders');
        await setupBatch(devnet, gateway, signed.approvals, o, log, 'router approvals');
        txs = signed.workload;
      } finally {
        net.close();
      }
    } else if (synthetic) {
      txs = signSynthetic(synthetic, undefined, createChainCommon(), planned.placement.placement, new Map()).workload;
    }
    const workload = txs!;
    const pids = [...devnet.processes.values()].map((p) => p.child.pid).filter((p): p is number => p !== undefined);
    say(`submitting ${workload.length} signed transactions through the gateway (${o.rate > 0 ? `${o.rate} tx/s` : 'as fast as possible'}, at most ${o.concurrency} awaiting an answer)...`);
    const cpu0 = totalCpuSeconds(pids);
    const result = await runBatch(devnet, gateway, workload, o, log, 'workload', o.rate);
    const cpu1 = totalCpuSeconds(pids);
    say('auditing the network (conservation, atomicity, locks)...');
    const audit = await auditWhenSettled(() => runAudit({ registryAddress: devnet.registryAddress, protocol: run.protocol }), { timeoutMs: 15_000 });
    const config: RunConfig = {
      shards: o.shards,
      blockIntervalMs: o.blockIntervalMs,
      protocol: run.protocol,
      workload: planned.workload,
      seed: o.seed,
      commit: gitCommit(),
      rate: o.rate > 0 ? o.rate : null,
      concurrency: o.concurrency,
      startedAt: run.startedAt.toISOString(),
      machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      placement: placementConfig(planned.placement),
    };
    const report = buildReport({
      config,
      outcomes: result.outcomes.map(toOutcome),
      runStartedAtMs: result.startedAtMs,
      submitEndedAtMs: result.submitEndedAtMs,
      runEndedAtMs: result.endedAtMs,
      ...(cpu0 !== undefined && cpu1 !== undefined ? { cpuSeconds: cpu1 - cpu0 } : {}),
      audit: auditSummary(audit),
    });
    if (run.printTable) {
      say('');
      say(formatReportTable(report));
    }
    for (const p of audit.problems.slice(0, 5)) say(`audit problem: ${p}`);
    const unsettled = result.outcomes.filter((x) => x.outcome === 'unknown');
    for (const x of unsettled.slice(0, 5)) say(`no terminal status: ${x.tx.hash} (${x.crossShard ? 'cross-shard' : 'local'}, home shard ${x.homeShard}, ${x.tx.kind})`);
    if (unsettled.length > 5) say(`no terminal status: … and ${unsettled.length - 5} more`);
    const files = await writeReportFiles(run.out, report);
    say(`report: ${files.jsonPath} and ${files.htmlPath}`);
    const ok = report.accountedFor && audit.ok;
    const removeData = ok && !o.keepData && !run.dataDir && !o.keepRunning;
    say(removeData ? 'logs and data: removed after this successful run (--keep-data keeps them)' : `logs: ${devnet.logDir}`);
    if (o.keepRunning) {
      say(`\nnetwork still running; gateway at ${devnet.gatewayAddress}. Ctrl-C to stop.`);
      return await new Promise<JobRunResult>(() => {});
    }
    gateway.close();
    await devnet.stop();
    track(undefined);
    if (removeData) rmSync(dataDir, { recursive: true, force: true });
    return { report, files, ok, signedWorkload: { txs: workload.length, digest: signedDigest(workload) } };
  } catch (err) {
    gateway.close();
    throw err;
  }
}

/**
 * Runs the main job — one experiment: `o.protocol` on `o.placement` — and returns the process
 * exit code: 0 when every transaction reached a terminal outcome and the audit passed, 1
 * otherwise. `track` is told the running network (to stop it on Ctrl-C); lines go to `output`.
 * @throws Error when the trace cannot be read (or a malformed row stops it), the network does not
 *   start, or a set-up transaction of the synthetic workload does not commit.
 */
export async function runJob(o: JobOpts, track: (d: Devnet | undefined) => void, output: JobOutput = process.stdout): Promise<number> {
  const log = jobLog(output);
  const startedAt = new Date();
  const planned = placeJobWorkload(await readJobWorkload(o, log), o, o.placement ?? 'hash', log);
  const result = await runPlannedWorkload(
    o,
    planned,
    { protocol: o.protocol ?? 'block-2pc', out: o.out, ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}), printTable: true, startedAt },
    track,
    log,
  );
  return result.ok ? 0 : 1;
}
