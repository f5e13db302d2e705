// The two-shard synthetic network the audit's invariant tests share: four accounts, their genesis and a settled history.
import type { AuditReport } from '../src';
import { addressOn, BASE_FEE, ETHER, GAS, NetBuilder } from '@shardlab/testing';

/** What one user transaction of {@link NetBuilder} burns, in wei. */
export const FEE_BURN = BigInt(GAS) * BASE_FEE;

/** Accounts a0, b0 on shard 0 and a1, b1 on shard 1. */
export const a0 = addressOn(0, 1);
export const b0 = addressOn(0, 2);
export const a1 = addressOn(1, 3);
export const b1 = addressOn(1, 4);

/** Genesis allocation of the four accounts (address, wei). */
export const GENESIS: [string, bigint][] = [
  [a0, 100n * ETHER],
  [b0, 50n * ETHER],
  [a1, 70n * ETHER],
  [b1, 30n * ETHER],
];

/** Every problem mentioning all of `words`. */
export const problemsWith = (r: AuditReport, ...words: string[]) => r.problems.filter((p) => words.every((w) => p.includes(w)));

/** A settled network: local transfers, two commits and three kinds of abort. Returns the builder and the cross-shard hashes. */
export function cleanNetwork() {
  const net = new NetBuilder(2, GENESIS);
  net.local(a0, b0, 1n * ETHER);
  const committed = net.transfer(a0, a1, 3n * ETHER);
  const committedBack = net.transfer(b1, b0, 2n * ETHER);
  const abortedDestNo = net.transfer(a0, b1, 5n * ETHER, { destYes: false });
  const abortedSourceNo = net.transfer(a1, b0, 4n * ETHER, { sourceYes: false });
  const abortedTimeout = net.transfer(b0, a1, 1n * ETHER, { commit: false });
  net.local(a1, b1, 7n);
  return { net, committed, committedBack, abortedDestNo, abortedSourceNo, abortedTimeout };
}
