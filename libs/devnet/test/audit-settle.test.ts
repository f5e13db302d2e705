// auditWhenSettled: retries until the audit passes within its window, through UNAVAILABLE reads, with a fake clock.
import type { AuditReport } from '@shardlab/audit';
import { errors } from '@shardlab/common';
import { auditWhenSettled } from '../src/audit-settle';

const report = (ok: boolean, tag: number) => ({ ok, problems: [`attempt ${tag}`] }) as unknown as AuditReport;

/** A fake clock advanced only by the injected sleep; `answers` are what successive audits give. */
function harness(answers: (boolean | Error)[]) {
  let t = 0;
  let calls = 0;
  const audit = async () => {
    const a = answers[Math.min(calls, answers.length - 1)]!;
    calls += 1;
    if (a instanceof Error) throw a;
    return report(a, calls);
  };
  return { audit, opts: { timeoutMs: 1000, pauseMs: 250, now: () => t, sleep: async (ms: number) => void (t += ms) }, calls: () => calls };
}

describe('auditWhenSettled', () => {
  it('returns the first passing report', async () => {
    const h = harness([false, false, true]);
    const r = await auditWhenSettled(h.audit, h.opts);
    expect(r.ok).toBe(true);
    expect(h.calls()).toBe(3);
  });

  it('tries again after a read that was UNAVAILABLE (a deadline on a loaded machine)', async () => {
    const h = harness([errors.unavailable('shard 0 (127.0.0.1:1) unavailable: deadline exceeded'), true]);
    await expect(auditWhenSettled(h.audit, h.opts)).resolves.toMatchObject({ ok: true });
    expect(h.calls()).toBe(2);
  });

  it('returns the last failing report once the window is over', async () => {
    const h = harness([false]);
    const r = await auditWhenSettled(h.audit, h.opts);
    expect(r.ok).toBe(false);
    // Attempts at t = 0, 250, 500, 750, 1000 and 1250 (the first past the 1,000 ms window).
    expect(h.calls()).toBe(6);
    expect(r.problems).toEqual(['attempt 6']);
  });

  it('throws UNAVAILABLE that lasts past the window, and any other error at once', async () => {
    const down = harness([errors.unavailable('registry unavailable')]);
    await expect(auditWhenSettled(down.audit, down.opts)).rejects.toThrow('registry unavailable');
    expect(down.calls()).toBe(6);
    const bad = harness([errors.failedPrecondition('shard 1 reports itself as shard 2')]);
    await expect(auditWhenSettled(bad.audit, bad.opts)).rejects.toThrow('reports itself as shard 2');
    expect(bad.calls()).toBe(1);
  });
});
