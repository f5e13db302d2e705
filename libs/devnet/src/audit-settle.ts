// Auditing a network that has just finished its workload: again until it passes, within a time window, also through reads that time out.
import type { AuditReport } from '@shardlab/audit';
import { ErrorCode, isShardLabError } from '@shardlab/common';

/** What {@link auditWhenSettled} needs besides the audit. Defaults in brackets. */
export interface AuditSettleOpts {
  /** How long to try, in milliseconds from the first attempt. */
  timeoutMs: number;
  /** Pause between attempts, in milliseconds [250]. */
  pauseMs?: number;
  /** Clock in milliseconds [Date.now]. */
  now?: () => number;
  /** Waits `ms` milliseconds [a timer]. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `audit` until its report passes or `timeoutMs` has passed, and returns the last report:
 * decisions land in the shards' next blocks, so a network that just finished its workload may
 * still have transactions in flight. A read that fails with UNAVAILABLE (a service busy or
 * restarting, a call past its deadline on a loaded machine) is tried again in the same window.
 * @throws the audit's error when it is not UNAVAILABLE, or when UNAVAILABLE persists to the end.
 */
export async function auditWhenSettled(audit: () => Promise<AuditReport>, opts: AuditSettleOpts): Promise<AuditReport> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const end = now() + opts.timeoutMs;
  for (;;) {
    let report: AuditReport | undefined;
    try {
      report = await audit();
    } catch (err) {
      if (!isShardLabError(err, ErrorCode.Unavailable) || now() > end) throw err;
    }
    if (report && (report.ok || now() > end)) return report;
    await sleep(opts.pauseMs ?? 250);
  }
}
