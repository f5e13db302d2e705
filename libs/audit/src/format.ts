// The audit report as text for people: verdict, conservation in ether and wei, atomicity and lock counts, per-shard lines, notes, transactions in flight, problems
import { formatEther } from '@shardlab/common';
import { SYSTEM_KIND_NAMES, type AuditReport } from './report';

/** Options of {@link formatReport}. */
export interface FormatReportOpts {
  /** Where the data came from, printed in the header (e.g. `registry 127.0.0.1:50000`). */
  source?: string;
  /** Most problems and in-flight transactions listed before "… and N more"; default 50. */
  maxItems?: number;
}

/** `1.5 ether (1500000000000000000 wei)`. */
export function formatWei(wei: bigint): string {
  return `${formatEther(wei)} ether (${wei} wei)`;
}

/**
 * Renders an {@link AuditReport} for people: verdict, conservation figures in ether and wei,
 * atomicity counts (committed, aborted, in flight), locks, the orchestrator's and (when any)
 * client-led decision counts, per-shard counts, then notes, the
 * transactions in flight and the problems. Pure; returns the text (lines end with `\n`).
 */
export function formatReport(report: AuditReport, opts: FormatReportOpts = {}): string {
  const max = opts.maxItems ?? 50;
  const out: string[] = [];
  const say = (line: string) => out.push(line);
  const verdict = report.ok
    ? 'OK'
    : `FAILED (${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}, ${report.atomicity.inFlight} in flight)`;
  say(`ShardLab audit${opts.source ? ` of ${opts.source}` : ''}: ${verdict}`);

  const c = report.conservation;
  say(`  conservation    ${c.ok ? 'ok' : 'VIOLATED'}`);
  say(`    genesis       ${formatWei(c.genesisWei)}`);
  say(`    burned        ${formatWei(c.burnedWei)}`);
  say(`    expected      ${formatWei(c.expectedWei)}`);
  say(`    actual        ${formatWei(c.actualWei)}`);
  say(`    in transit    ${formatWei(c.inTransitWei)}`);
  say(`    difference    ${c.differenceWei} wei`);

  const a = report.atomicity;
  const violated = a.transactions.filter((t) => t.state === 'violated').length;
  say(
    `  atomicity       ${a.ok ? 'ok' : violated > 0 ? 'VIOLATED' : 'not settled'}: ${a.committed} committed, ${a.aborted} aborted, ` +
      `${a.inFlight} in flight, ${violated} violated (${a.transactions.length} cross-shard transactions)`,
  );

  const l = report.locks;
  say(
    `  locks           ${l.ok ? 'ok' : 'REMAINING'}: ${formatWei(l.lockedWei)} locked on ${l.accountsWithLocks.length} account` +
      `${l.accountsWithLocks.length === 1 ? '' : 's'}, ${l.openLocks.length} open LOCK${l.openLocks.length === 1 ? '' : 's'}`,
  );

  const rc = report.receipts;
  if (rc.sent > 0 || rc.credited > 0) {
    say(`  receipts        ${rc.ok ? 'ok' : rc.inFlight > 0 ? 'not settled' : 'VIOLATED'}: ${rc.sent} sent, ${rc.credited} credited, ${rc.inFlight} in flight (${formatWei(rc.inFlightWei)})`);
  }

  const o = report.orchestrator;
  say(`  orchestrator    ${o.blocks} blocks${o.blocks > 0 ? ` (head ${o.headHeight})` : ''}: ${o.ordered} ordered, ${o.decided} decided`);
  const cl = report.clientLed;
  if (cl.transactions > 0) {
    say(
      `  client-led      ${cl.transactions} transactions, ${cl.decisions} decisions recorded by shards, ${cl.lockTimeouts} by lock timeout` +
        ` (lock timeout ${cl.lockTimeoutBlocks === null ? 'unknown' : `${cl.lockTimeoutBlocks} blocks`})`,
    );
  }
  say(`  shards          ${report.shards.length}`);
  for (const s of report.shards) {
    const sys = SYSTEM_KIND_NAMES.filter((k) => s.systemTxs[k] > 0)
      .map((k) => `${k} ${s.systemTxs[k]}`)
      .join(' ');
    say(
      `    #${s.shardId}  ${s.blocks} blocks (head ${s.headHeight}, orchestrator ${s.orchestratorHeight}), ${s.userTxs} user txs, ` +
        `system: ${sys || 'none'}, ${s.accounts} accounts, ${s.balanced ? 'balanced' : `UNBALANCED by ${s.actualWei - s.expectedWei} wei`}`,
    );
  }

  const list = (title: string, items: string[]) => {
    if (items.length === 0) return;
    say(`  ${title} (${items.length})`);
    for (const item of items.slice(0, max)) say(`    - ${item}`);
    if (items.length > max) say(`    … and ${items.length - max} more`);
  };
  list('notes', report.notes);
  list(
    'in flight',
    a.inFlightTxs.map((t) => `tx ${t.txHash}: ${t.stage}, waiting for ${t.detail}`),
  );
  list('problems', report.problems);
  if (!report.ok && report.problems.length === 0) {
    say('  nothing is violated, but cross-shard transactions are in flight: audit again once the network is idle');
  }
  return out.map((x) => `${x}\n`).join('');
}
