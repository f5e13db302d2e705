import { mulberry32 } from '@shardlab/workload';
import type { AuditSummary, ReportInput, RunConfig, TxOutcome } from '../src';

/** Run start of the fixtures, epoch ms. */
export const T0 = 1_700_000_000_000;

export const AUDIT_OK: AuditSummary = {
  ok: true,
  conservation: {
    ok: true,
    genesisWei: '10000000000000000000000000',
    burnedWei: '441000000000000',
    expectedWei: '9999999999559000000000000',
    actualWei: '9999999999559000000000000',
  },
  atomicity: { ok: true, committed: 3, aborted: 2, inFlight: 0 },
  locks: { ok: true, accountsWithLocks: 0 },
  problems: [],
};

export function config(over: Partial<RunConfig> = {}): RunConfig {
  return {
    shards: 4,
    blockIntervalMs: 250,
    protocol: 'block-2pc',
    workload: { kind: 'synthetic', txs: 10, mix: { transfer: 0.8, call: 0.2 }, zipf: 1, accounts: 10, notes: [] },
    seed: 1,
    commit: 'abc1234',
    rate: null,
    concurrency: 8,
    startedAt: '2023-11-14T22:13:20.000Z',
    ...over,
  };
}

export function local(over: Partial<TxOutcome> = {}): TxOutcome {
  return { class: 'local', kind: 'transfer', homeShard: 0, shards: [0], submittedAtMs: T0, outcome: 'committed', ...over };
}

export function cross(over: Partial<TxOutcome> = {}): TxOutcome {
  return { class: 'cross-shard', kind: 'transfer', homeShard: 0, shards: [0, 1], submittedAtMs: T0, outcome: 'committed', ...over };
}

export function input(outcomes: TxOutcome[], over: Partial<ReportInput> = {}): ReportInput {
  return {
    config: config(),
    outcomes,
    runStartedAtMs: T0,
    submitEndedAtMs: T0 + 1000,
    runEndedAtMs: T0 + 5000,
    audit: AUDIT_OK,
    ...over,
  };
}

function hex(rand: () => number, bytes: number): string {
  let s = '0x';
  for (let i = 0; i < bytes; i++) s += Math.floor(rand() * 256).toString(16).padStart(2, '0');
  return s;
}

/**
 * A realistic-looking run (deterministic): `txs` transactions submitted at `rate` tx/s over
 * `shards` shards, half cross-shard, latencies of a few block intervals with a tail, some aborts
 * with conflict and timeout reasons, a few rejections.
 */
export function sampleInput(opts: { txs?: number; shards?: number; rate?: number; seed?: number } = {}): ReportInput {
  const txs = opts.txs ?? 2000;
  const shards = opts.shards ?? 8;
  const rate = opts.rate ?? 100;
  const rand = mulberry32(opts.seed ?? 7);
  const blockMs = 250;
  const start = T0;
  const firstSubmit = start + 800;
  const outcomes: TxOutcome[] = [];
  for (let i = 0; i < txs; i++) {
    const submittedAtMs = Math.round(firstSubmit + (i * 1000) / rate + rand() * 5);
    const isCross = rand() < 0.5;
    const home = Math.floor(rand() * shards);
    // Hot shard 0 gets more traffic.
    const homeShard = rand() < 0.15 ? 0 : home;
    const other = (homeShard + 1 + Math.floor(rand() * (shards - 1))) % shards;
    const kind = rand() < 0.8 ? 'transfer' : rand() < 0.5 ? 'erc20' : 'swap';
    const r = rand();
    if (r < 0.01) {
      outcomes.push({
        hash: hex(rand, 32),
        class: isCross ? 'cross-shard' : 'local',
        kind,
        homeShard,
        shards: isCross ? [homeShard, other] : [homeShard],
        submittedAtMs,
        outcome: 'rejected',
        reason: rand() < 0.5 ? `nonce too low: expected ${Math.floor(rand() * 100)}, got ${Math.floor(rand() * 100)}` : 'insufficient funds for gas * price + value',
      });
      continue;
    }
    if (!isCross) {
      const latency = blockMs * (1 + rand()) + (rand() < 0.03 ? rand() * 2000 : 0) + 20;
      const reverted = rand() < 0.01;
      outcomes.push({
        hash: hex(rand, 32),
        class: 'local',
        kind,
        homeShard,
        shards: [homeShard],
        submittedAtMs,
        finalAtMs: Math.round(submittedAtMs + latency),
        outcome: reverted ? 'reverted' : 'committed',
        ...(reverted ? { reason: 'execution reverted: UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT' } : {}),
      });
    } else {
      const latency = blockMs * (4 + 2 * rand()) + (rand() < 0.05 ? rand() * 6000 : 0) + 40;
      const aborted = rand() < 0.06;
      const reason = aborted
        ? rand() < 0.7
          ? `conflict: ${hex(rand, 20).slice(0, 8)}… is locked by ${hex(rand, 32).slice(0, 10)}…`
          : `vote timeout: shard ${other} did not vote within ${Math.floor(3 + rand() * 3)} blocks`
        : undefined;
      outcomes.push({
        hash: hex(rand, 32),
        class: 'cross-shard',
        kind,
        homeShard,
        shards: [homeShard, other],
        submittedAtMs,
        finalAtMs: Math.round(submittedAtMs + latency),
        outcome: aborted ? 'aborted' : 'committed',
        ...(reason ? { reason } : {}),
      });
    }
  }
  const lastFinal = Math.max(...outcomes.map((o) => o.finalAtMs ?? 0));
  const committed = outcomes.filter((o) => o.outcome === 'committed' && o.class === 'cross-shard').length;
  const aborted = outcomes.filter((o) => o.outcome === 'aborted').length;
  return {
    config: {
      shards,
      blockIntervalMs: blockMs,
      protocol: 'block-2pc',
      workload: {
        kind: 'synthetic',
        txs,
        mix: { transfer: 0.8, erc20: 0.1, swap: 0.1 },
        zipf: 1,
        accounts: 1000,
        notes: ['recipients drawn uniformly; 50 % cross-shard', 'values 1 gwei to 1 ether, log-uniform'],
      },
      seed: opts.seed ?? 7,
      commit: '214c7d3f00e1',
      rate,
      concurrency: 64,
      startedAt: new Date(start).toISOString(),
      machine: { cpus: 8, memoryGiB: 16, node: 'v20.19.0' },
    },
    outcomes,
    runStartedAtMs: start,
    submitEndedAtMs: Math.max(...outcomes.map((o) => o.submittedAtMs)) + 1,
    runEndedAtMs: lastFinal + 300,
    cpuSeconds: 95.4,
    audit: { ...AUDIT_OK, atomicity: { ok: true, committed, aborted, inFlight: 0 } },
  };
}
