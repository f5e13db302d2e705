// Atomicity of a client-led transaction's decision records: one per shard, the same on every shard, and recorded by every shard that must — or still within its lock timeout.
import type { TxBook, TxParties } from './atomicity-context';
import type { ClientLedFacts } from './client-led-index';
import type { Decided } from './orchestrator-index';

/** `0 (block 5), 2 (block 9, lock timeout)`. */
function where(ds: readonly Decided[]): string {
  return ds.map((d) => `${d.shardId} (block ${d.height}${d.lockTimeout ? ', lock timeout' : ''})`).join(', ');
}

/**
 * Checks a client-led transaction's decision records (`StateShardBlock.decisions`, pure), before
 * its effects are checked against the decision by the rules of block-2PC:
 *
 * - each shard records a decision at most once;
 * - every shard that recorded one recorded the same: a commit on one shard and an abort on
 *   another (e.g. a lock-timeout abort against the coordinator's commit) is an atomicity
 *   violation naming the shards;
 * - every shard that must record the decision did: every involved shard of the coordinator's
 *   commit, and every shard that voted YES (whatever the decision, and while there is none: the
 *   lock timeout aborts what nobody decided). One that did not is pending, unless its head is
 *   more than the lock timeout past its YES vote (then its lock is left: a violation).
 */
export function checkClientLedDecisions(book: TxBook, p: TxParties, c: ClientLedFacts): void {
  const records = book.facts.decisions;
  const byShard = new Map<number, Decided[]>();
  for (const d of records) byShard.set(d.shardId!, [...(byShard.get(d.shardId!) ?? []), d]);
  for (const [s, ds] of byShard) {
    if (ds.length > 1) book.problem(`shard ${s} recorded ${ds.length} decisions on it (blocks ${ds.map((d) => d.height).join(', ')}); one is expected`);
  }
  const commits = records.filter((d) => d.commit);
  const aborts = records.filter((d) => !d.commit);
  if (commits.length > 0 && aborts.length > 0) {
    const plural = (ds: readonly Decided[]) => (new Set(ds.map((d) => d.shardId)).size > 1 ? 's' : '');
    book.problem(`not atomic: committed on shard${plural(commits)} ${where(commits)} but aborted on shard${plural(aborts)} ${where(aborts)}`);
  }

  const d = book.decision;
  const must = new Set<number>(d?.commit ? p.involved : []);
  for (const [s, vs] of book.facts.votes) if (vs.some((v) => v.yes)) must.add(s);
  for (const s of [...must].sort((a, b) => a - b)) {
    if (c.recordedAt.has(s)) continue;
    const yesAt = book.facts.votes.get(s)?.find((v) => v.yes)?.height;
    const head = c.heads.get(s);
    const n = c.lockTimeoutBlocks;
    if (yesAt !== undefined && n !== undefined && head !== undefined && head > yesAt + n) {
      book.problem(`shard ${s} voted YES at block ${yesAt} but recorded no decision by its head ${head}, more than its lock timeout of ${n} blocks later: what it holds for the transaction is never released`);
    } else {
      book.pending.push(`decision on shard ${s}${yesAt !== undefined ? ` (it voted YES at block ${yesAt})` : ''}`);
    }
  }
}
