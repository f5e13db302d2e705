// One service process of a local network: free ports, spawning apps/<app>/src/main.ts via tsx with default Node flags and a log file, stopping, waiting until healthy
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { checkHealth } from '@shardlab/rpc';

/** Root of the repository (where `apps/` lives). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** A free TCP port on 127.0.0.1 (bound and released; another process could take it meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/** A service process started by the launcher. */
export interface ServiceProcess {
  /** e.g. `registry`, `gateway`, `state-shard-2`. */
  readonly name: string;
  readonly address: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Where its JSON log lines go. */
  readonly logFile: string;
}

/**
 * Starts `apps/<app>/src/main.ts` as a separate Node.js process (through tsx), with its standard
 * output and error appended to `<logDir>/<name>.log`. Every service gets
 * {@link DEFAULT_SERVICE_NODE_FLAGS}; extra Node.js flags (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * to profile a run) come from `SHARDLAB_NODE_FLAGS` (space-separated, after the defaults, so they
 * can override them).
 */
/**
 * Node.js flags every service of a local network starts with. All services share the machine's
 * few cores, so V8's parallel garbage-collection helper threads only contend with the other
 * services: `--single-threaded-gc` collects on the service's own thread. A 32 MiB young
 * generation (`--max-semi-space-size`, V8's default is 16 MiB) halves the number of scavenges of
 * the allocation-heavy transaction path. Measured on the real trace at 4 shards on the 2-core
 * machine, in alternating runs: about +5 % committed tx/s for the larger young generation, and
 * +8 % more with single-threaded GC (BENCHMARKS.md).
 */
export const DEFAULT_SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32', '--single-threaded-gc'];

export function spawnService(app: string, name: string, address: string, args: string[], logDir: string, env: NodeJS.ProcessEnv = {}): ServiceProcess {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const nodeFlags = [...DEFAULT_SERVICE_NODE_FLAGS, ...(process.env['SHARDLAB_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '')];
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join('apps', app, 'src', 'main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  const exited = new Promise<number | string>((res) =>
    child.once('exit', (code, signal) => {
      out.end();
      res(code ?? signal ?? 'unknown');
    }),
  );
  return { name, address, child, exited, logFile };
}

/**
 * Stops a process: SIGTERM, then SIGKILL after `graceMs` (default 5000 ms). Resolves when it exited.
 */
export async function stopProcess(p: ServiceProcess, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/**
 * Waits until `address` reports SERVING, polling every `everyMs` (default 100 ms), up to
 * `timeoutMs`.
 * @throws Error naming the service (and its log file) when it exits or does not become healthy in time.
 */
export async function waitHealthy(p: ServiceProcess, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | undefined;
  void p.exited.then((c) => (exited = c));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${p.name} exited (${exited}) before becoming healthy; see ${p.logFile}`);
    if ((await checkHealth(p.address, '', 1000).catch(() => '')) === 'SERVING') return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${p.name} at ${p.address} not healthy after ${timeoutMs} ms; see ${p.logFile}`);
}
