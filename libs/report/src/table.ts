// formatReportTable: the 100-column plain-text terminal summary of a report (set-up, counts, throughput, latency, per shard, reasons, audit, CPU, warnings).
import {
  describeLoad,
  describeSetup,
  describeStart,
  describePlacement,
  describeWorkload,
  fmtInt,
  fmtIntervals,
  fmtMs,
  fmtPct,
  fmtRate,
  fmtSeconds,
  fmtWeiAsEther,
  textTable,
  truncate,
  wrap,
} from './text';
import type { LatencyStats, OutcomeCounts, ReasonCount, Report } from './types';

/** Width of the terminal summary, columns. */
export const TABLE_WIDTH = 100;

/** Most abort / rejection reasons listed in the terminal summary. */
export const TABLE_TOP_REASONS = 5;

/** Most audit problems listed in the terminal summary. */
const TABLE_MAX_PROBLEMS = 10;

const LABEL = 20; // width of the section labels

function labelled(label: string, text: string): string[] {
  return wrap(text, TABLE_WIDTH, label.length >= LABEL ? `${label} ` : label.padEnd(LABEL), ' '.repeat(LABEL));
}

function countRow(name: string, c: OutcomeCounts): string[] {
  return [name, fmtInt(c.submitted), fmtInt(c.committed), fmtInt(c.reverted), fmtInt(c.aborted), fmtInt(c.rejected), fmtInt(c.unknown)];
}

function latencyRow(name: string, l: LatencyStats): string[] {
  const ms = l.ms;
  const bi = l.blockIntervals;
  return [
    name,
    fmtInt(l.n),
    fmtMs(ms?.p50),
    fmtMs(ms?.p95),
    fmtMs(ms?.p99),
    fmtMs(ms?.mean),
    fmtMs(ms?.max),
    fmtIntervals(bi?.p50),
    fmtIntervals(bi?.p95),
    fmtIntervals(bi?.p99),
  ];
}

function reasonLines(title: string, what: string, total: number, reasons: readonly ReasonCount[]): string[] {
  const out = [`${title} (${fmtInt(total)} ${what}${reasons.length > TABLE_TOP_REASONS ? `, top ${TABLE_TOP_REASONS}` : ''})`];
  if (reasons.length === 0) return [...out, '  none'];
  const top = reasons.slice(0, TABLE_TOP_REASONS);
  const countWidth = Math.max(...top.map((r) => fmtInt(r.count).length));
  for (const r of top) {
    const count = fmtInt(r.count).padStart(countWidth);
    const share = total > 0 ? `${((100 * r.count) / total).toFixed(0)}%`.padStart(4) : '';
    const prefix = `  ${count} ${share}  `;
    out.push(prefix + truncate(r.code ? `[${r.code}] ${r.reason}` : r.reason, TABLE_WIDTH - prefix.length));
  }
  if (reasons.length > top.length) out.push(`  … and ${reasons.length - top.length} more (see report.json)`);
  return out;
}

/**
 * The terminal summary of a report: plain text (no colours), lines of at most 100 columns, each
 * ending in `\n`. Sections: set-up, counts by class, throughput, cross-shard ratio (with the
 * cross-shard paths under shard-led and client-led, and the lock timeouts when there are any), latency
 * (class × p50/p95/p99/mean/max in ms, p50/p95/p99 in block intervals), per-shard load, the top 5
 * abort and rejection reasons, the audit (PASSED/FAILED with conservation, atomicity and locks),
 * CPU, and warnings. Pure.
 */
export function formatReportTable(report: Report): string {
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const c = report.counts;
  const blank = () => out.push('');

  push(`ShardLab experiment report (${report.schema})`);
  push(...labelled('  set-up', describeSetup(report)));
  push(...labelled('  workload', describeWorkload(report.config.workload)));
  if (report.config.placement) push(...labelled('  placement', describePlacement(report.config.placement)));
  push(...labelled('  load', describeLoad(report)));
  push(...labelled('  started', describeStart(report)));
  for (const note of report.config.workload.notes) push(...labelled('  note', note));
  blank();

  push(
    ...textTable([
      ['Transactions', 'submitted', 'committed', 'reverted', 'aborted', 'rejected', 'unknown'],
      countRow('  local', c.local),
      countRow('  cross-shard', c.crossShard),
      countRow('  all', c),
    ]),
  );
  push(
    ...labelled(
      '  accounted for',
      report.accountedFor
        ? 'yes: every transaction reached a terminal status'
        : `NO: ${fmtInt(c.unknown)} transaction(s) without a terminal status`,
    ),
  );
  blank();

  const t = report.throughput;
  push(
    ...labelled(
      'Throughput',
      `${fmtRate(t.committedPerSecond)} committed tx/s over ${fmtSeconds(t.durationSeconds)} (first submission to last final status)`,
    ),
  );
  push(...labelled('', `${fmtRate(t.submittedPerSecond)} submitted tx/s over ${fmtSeconds(t.submitDurationSeconds)} (offered load)`));
  push(
    ...labelled(
      'Cross-shard ratio',
      `${fmtPct(report.crossShardRatio)} (${fmtInt(c.crossShard.submitted)} of ${fmtInt(c.submitted)} submitted)`,
    ),
  );
  const paths = report.crossShardPaths;
  if (paths && report.config.protocol === 'shard-led') {
    push(...labelled('Cross-shard paths', `${fmtInt(paths.shardLed)} by shard-led receipts, ${fmtInt(paths.blockTwoPc)} by block-2PC (fallback: calls reaching several shards)`));
  }
  if (paths && report.config.protocol === 'client-led') {
    const others = [paths.blockTwoPc > 0 ? `${fmtInt(paths.blockTwoPc)} by block-2PC` : '', paths.shardLed > 0 ? `${fmtInt(paths.shardLed)} by shard-led receipts` : ''].filter(Boolean);
    push(...labelled('Cross-shard paths', `${fmtInt(paths.clientLed ?? 0)} by client-led 2PC (decision recorded by every involved shard, or a lock timeout)${others.length > 0 ? `, ${others.join(', ')}` : ''}`));
  }
  const lt = report.lockTimeouts;
  if (lt && lt.count > 0) {
    const w = lt.blockingWindowBlocks;
    const window = w.n > 0 ? `blocking window p50 ${fmtInt(w.p50!)}, max ${fmtInt(w.max!)} blocks from prepare to abort${w.n < lt.count ? ` (${fmtInt(w.n)} measured)` : ''}` : 'blocking window not measured';
    push(...labelled('Lock timeouts', `${fmtInt(lt.count)} aborted by a shard's lock timeout (no decision from the coordinator); ${window}`));
  }
  blank();

  const l = report.latency;
  push(
    ...textTable([
      ['Latency', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'mean ms', 'max ms', 'p50 blk', 'p95 blk', 'p99 blk'],
      latencyRow('  local', l.local),
      latencyRow('  cross-shard', l.crossShard),
      latencyRow('  all', l.all),
    ]),
  );
  push(
    ...wrap(
      `committed txs, submission to final status; blk = block intervals of ${report.config.blockIntervalMs} ms; nearest-rank`,
      TABLE_WIDTH,
      '  (',
      '   ',
    ).map((line, i, all) => (i === all.length - 1 ? `${line})` : line)),
  );
  blank();

  push(
    ...textTable([
      ['Per shard', 'home local', 'home cross', 'involved local', 'involved cross', 'committed'],
      ...report.perShard.map((s) => [
        `  #${s.shard}`,
        fmtInt(s.home.local),
        fmtInt(s.home.crossShard),
        fmtInt(s.involved.local),
        fmtInt(s.involved.crossShard),
        fmtInt(s.committedInvolved.total),
      ]),
    ]),
  );
  push('  (home: sender on the shard; involved: the shard takes part; committed: committed and involved)');
  blank();

  push(...reasonLines('Abort reasons', 'aborted', c.aborted, report.abortReasons.aborted));
  push(...reasonLines('Rejection reasons', 'rejected', c.rejected, report.abortReasons.rejected));
  blank();

  const a = report.audit;
  const ok = (b: boolean) => (b ? 'ok' : 'FAILED');
  push(`Audit${' '.repeat(LABEL - 5)}${a.ok ? 'PASSED' : 'FAILED'}`);
  const cons = a.conservation;
  const check = (name: string, passed: boolean, text: string) =>
    push(...wrap(text, TABLE_WIDTH, `  ${name.padEnd(13)}${ok(passed).padEnd(8)}`, ' '.repeat(23)));
  check(
    'conservation',
    cons.ok,
    `genesis ${fmtWeiAsEther(cons.genesisWei)} - burned ${fmtWeiAsEther(cons.burnedWei)} = expected ${fmtWeiAsEther(cons.expectedWei)}; actual ${fmtWeiAsEther(cons.actualWei)} (exact, in wei)`,
  );
  check(
    'atomicity',
    a.atomicity.ok,
    `${fmtInt(a.atomicity.committed)} committed, ${fmtInt(a.atomicity.aborted)} aborted, ${fmtInt(a.atomicity.inFlight)} in flight`,
  );
  check('locks', a.locks.ok, a.locks.accountsWithLocks === 0 ? 'none left' : `${fmtInt(a.locks.accountsWithLocks)} account(s) still hold locks`);
  for (const p of a.problems.slice(0, TABLE_MAX_PROBLEMS)) push(...wrap(p, TABLE_WIDTH, '  problem: ', '           '));
  if (a.problems.length > TABLE_MAX_PROBLEMS) push(`  … and ${a.problems.length - TABLE_MAX_PROBLEMS} more problems (see report.json)`);
  blank();

  const cpu = report.cpu;
  push(
    ...labelled(
      'CPU',
      cpu === null
        ? 'not measured'
        : `${cpu.cpuSeconds.toFixed(1)} s of CPU (all network processes): ${cpu.cpuSecondsPerCommittedTx === null ? '-' : `${(cpu.cpuSecondsPerCommittedTx * 1000).toFixed(2)} ms`} per committed tx, ${cpu.averageCores === null ? '-' : cpu.averageCores.toFixed(2)} cores busy on average`,
    ),
  );
  for (const w of report.warnings) push(...wrap(w, TABLE_WIDTH, 'warning: ', '         '));

  return out.map((line) => `${line}\n`).join('');
}
