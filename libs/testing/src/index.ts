import type { ServiceError } from '@grpc/grpc-js';

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
