// Test helpers that capture the ShardLabError a function throws or a promise rejects with, failing the test otherwise.
import { ShardLabError } from '@shardlab/common';

/**
 * The ShardLabError `fn` throws (synchronously).
 * @throws Error when `fn` returns, or throws something that is not a ShardLabError (the test fails).
 */
export function thrown(fn: () => unknown): ShardLabError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ShardLabError) return err;
    throw new Error(`expected a ShardLabError, got ${String(err)}`);
  }
  throw new Error('expected a ShardLabError, but nothing was thrown');
}

/**
 * The ShardLabError a promise rejects with (or that `fn`, sync or async, throws).
 * @throws Error when it settles without one, or with something that is not a ShardLabError.
 */
export async function rejection(p: Promise<unknown> | (() => unknown)): Promise<ShardLabError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof ShardLabError) return err;
    throw new Error(`expected a ShardLabError, got ${String(err)}`);
  }
  throw new Error('expected a ShardLabError, but it resolved');
}
