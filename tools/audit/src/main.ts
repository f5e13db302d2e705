// The audit command line: audits a running network found through the registry and prints the report (text or JSON), exiting 0 only when everything holds.
import { Command, Option } from 'commander';
import { formatReport, runAudit, DEFAULT_AUDIT_DEADLINE_MS } from '@shardlab/audit';

/**
 * The audit command: reads every shard and the orchestrator of a running network (found through
 * the registry), checks conservation of ether, atomicity of cross-shard transactions and leftover
 * locks, prints the report, and exits 0 when it is ok, 1 otherwise (violations, transactions in
 * flight, or the network could not be read).
 *
 *   tsx tools/audit/src/main.ts --registry 127.0.0.1:50051 [--json]
 */

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};

const program = new Command()
  .name('audit')
  .description(
    'Audits a running ShardLab network: conservation of ether (total = genesis − burned fees, exactly), atomicity of every ' +
      'cross-shard transaction (committed: debited and credited exactly once; aborted: neither) and leftover locks. ' +
      'Exits 0 when everything holds and nothing is in flight, 1 otherwise.',
  )
  .requiredOption('--registry <host:port>', 'address of the registry')
  .addOption(new Option('--json', 'print the report as JSON (wei as decimal strings)').default(false))
  .addOption(
    new Option('--deadline-ms <ms>', 'deadline of each call, and longest wait for the next block of a stream').argParser(positiveInt).default(DEFAULT_AUDIT_DEADLINE_MS),
  )
  .addOption(new Option('--quiet', 'no progress lines on standard error').default(false));

async function main(): Promise<number> {
  program.parse();
  const o = program.opts<{ registry: string; json: boolean; deadlineMs: number; quiet: boolean }>();
  const progress = (line: string) => {
    if (!o.quiet) process.stderr.write(`  ${line}\n`);
  };
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    const report = await runAudit({ registryAddress: o.registry, deadlineMs: o.deadlineMs, onProgress: progress, signal: controller.signal });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, { source: `registry ${o.registry}` }));
    return report.ok ? 0 : 1;
  } catch (err) {
    const message = (err as Error).message;
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
    process.stderr.write(`audit failed: ${message}\n`);
    return 1;
  }
}

// exitCode rather than exit(): a large report piped to another program is written out in full.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`audit failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
