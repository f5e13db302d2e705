import type { ServiceError } from '@grpc/grpc-js';

export { grpcError, rawCall, waitFor } from '@shardlab/testing';

/** A manually advanced clock for liveness tests. */
export class FakeClock {
  constructor(public ms = 1_700_000_000_000) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}
