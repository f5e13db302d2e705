// Entry point of @shardlab/testing: raw gRPC call and error helpers, waitFor polling, service processes started through tsx; re-exports the other test helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ServiceError } from '@grpc/grpc-js';
import { shardOf, type Placement } from '@shardlab/chain';

/** Promisifies a raw generated-client unary call; rejects with the raw gRPC ServiceError. */
export function rawCall<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

/**
 * The gRPC status code and details a raw call failed with.
 * @throws Error when the call succeeded (the test expected a failure).
 */
export async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

/**
 * The `n`-th made-up address placed on `shard` under `placement` (n ≥ 1; fresh recipients for
 * tests): 19 bytes from `n`, then the first last byte that lands on the shard.
 * @throws Error when no last byte does (a placement whose overrides cover all 256).
 */
export function addressOnShard(placement: Placement, shard: number, n: number): string {
  const body = n.toString(16).padStart(38, '0');
  for (let last = 0; last < 256; last++) {
    const a = `0x${body}${last.toString(16).padStart(2, '0')}`;
    if (shardOf(placement, a) === shard) return a;
  }
  throw new Error(`no address 0x${body}.. is placed on shard ${shard}`);
}

/**
 * Polls `cond` every 10 ms until it holds.
 * @throws Error naming `what` after `timeoutMs` (default 5000 ms).
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A service process started by {@link startServiceProcess}, with the JSON log lines it wrote so far. */
export interface ServiceProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  /** The log line that said the service was ready. */
  line: Record<string, unknown>;
}

/**
 * Starts a service's `main.ts` (through tsx, tracing off) with `args` and extra `env`, and
 * resolves once it logs a JSON line whose `msg` is `readyMsg`.
 * @throws Error with the process's standard error when it exits before that line.
 */
export function startServiceProcess(main: string, args: string[], env: Record<string, string>, readyMsg: string): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (line['msg'] === readyMsg) resolve({ child, lines, exited, line });
    });
    void exited.then((code) => reject(new Error(`process exited with ${code} before logging "${readyMsg}": ${stderr}`)));
  });
}
export * from './registry';
export * from './errors';
export * from './inprocess';
export * from './audit-fixtures';
export * from './audit-network';
