// Indexes client-led two-phase commit for the atomicity checks: which cross-shard transactions the shards decided themselves (StateShardBlock.decisions), as the same order and decision structures the orchestrator's blocks give.
import { place, type Finding } from './findings';
import type { Decided, OrchestratorIndex, Ordered } from './orchestrator-index';
import type { AuditInput, ClientLedSummary } from './report';
import type { ShardDecisionSeen, ShardsIndex } from './shard-index';
import { parseWeiOrUndefined } from './util';

/** What the audit of one client-led transaction needs besides its effects and votes. */
export interface ClientLedFacts {
  /**
   * Every shard that takes part: the involved shards of the coordinator's decision as recorded,
   * else (no decision of the coordinator recorded yet) every shard that accepted, voted on,
   * recorded a decision on or applied an effect of the transaction; ascending.
   */
  involved: number[];
  /** Shard → height of the block that recorded its (first) decision on the transaction. */
  recordedAt: Map<number, number>;
  /** Shard → height of its head block (every shard the audit read). */
  heads: ReadonlyMap<number, number>;
  /** The shards' lock timeout in blocks ({@link ClientLedIndex.lockTimeoutBlocks}). */
  lockTimeoutBlocks: number | undefined;
}

/** One client-led transaction, in the shapes the atomicity checks read for block-2PC. */
export interface ClientLedTx {
  /** Its acceptance by its source shard as an order (involved shards from {@link ClientLedFacts.involved}); undefined when no block includes it. */
  ordered: Ordered | undefined;
  /** Every decision recorded on it, each with its shard: the coordinator's first (shard order), then lock-timeout aborts. */
  decisions: Decided[];
  facts: ClientLedFacts;
}

/** The client-led transactions of a network. */
export interface ClientLedIndex {
  /** Lower-case transaction hash → the transaction. */
  txs: Map<string, ClientLedTx>;
  /**
   * The lock timeout in blocks: `AuditInput.lockTimeoutBlocks`, else the largest timeout recorded
   * by a lock-timeout abort of a YES vote in the blocks; undefined when neither says.
   */
  lockTimeoutBlocks: number | undefined;
  summary: ClientLedSummary;
  /** Transactions both the orchestrator and shard decision records claim; acceptances with a malformed value. */
  findings: Finding[];
}

/**
 * Finds the client-led transactions (pure): every transaction a shard recorded a decision for in
 * `StateShardBlock.decisions` and that the orchestrator neither ordered nor decided (one it did is
 * audited as block-2PC and reported), and — when the network is client-led (`input.protocol`, or
 * when absent any recorded decision) — every other transaction with a vote or a system transaction
 * that the orchestrator never saw. Each one's order is its source shard's acceptance (the first
 * block that includes the user transaction): sender, recipient, value, and whether it is a call
 * (a creation or a transaction with data, as the shards detect calls).
 */
export function indexClientLed(shards: ShardsIndex, orchestrator: OrchestratorIndex, input: Pick<AuditInput, 'protocol' | 'lockTimeoutBlocks'>): ClientLedIndex {
  const findings: Finding[] = [];
  const recorded = shards.shardDecisions;
  const byOrchestrator = (h: string) => orchestrator.ordered.has(h) || orchestrator.decisions.has(h);
  const hashes = new Set<string>();
  for (const [h, ds] of recorded) {
    if (!byOrchestrator(h)) hashes.add(h);
    else findings.push({ place: place.transactions, text: `tx ${h}: the orchestrator ordered or decided it, yet shard ${[...new Set(ds.map((d) => d.shardId))].join(', ')} recorded a client-led decision on it` });
  }
  const clientLedNetwork = input.protocol !== undefined ? input.protocol === 'client-led' : recorded.size > 0;
  if (clientLedNetwork) for (const h of [...shards.effects.keys(), ...shards.votes.keys()]) if (!byOrchestrator(h)) hashes.add(h);

  let recordedTimeout: number | undefined;
  let decisions = 0;
  let lockTimeouts = 0;
  for (const [h, ds] of recorded) {
    for (const d of ds) {
      decisions++;
      if (!d.lockTimeout) continue;
      lockTimeouts++;
      // Only the timeout of a YES vote (a nonce reservation that waited for its prepare has a timeout of its own).
      const votedYes = shards.votes.get(h)?.get(d.shardId)?.some((v) => v.yes) ?? false;
      if (votedYes && d.lockTimeout.blocks !== undefined) recordedTimeout = Math.max(recordedTimeout ?? 0, d.lockTimeout.blocks);
    }
  }
  const lockTimeoutBlocks = input.lockTimeoutBlocks ?? recordedTimeout;
  const heads = new Map(shards.shards.map((sh) => [sh.shardId, sh.blocks.length > 0 ? sh.blocks[sh.blocks.length - 1]!.height : -1]));
  const accepted = acceptances(shards, hashes, findings);

  const txs = new Map<string, ClientLedTx>();
  for (const h of hashes) {
    const seen = recorded.get(h) ?? [];
    const coordinator = seen.filter((d) => !d.lockTimeout);
    const recordedAt = new Map<number, number>();
    for (const d of seen) if (!recordedAt.has(d.shardId)) recordedAt.set(d.shardId, d.height);
    const a = accepted.get(h);
    const involved = coordinator.length > 0 ? [...coordinator[0]!.involvedShards] : partakers(shards, h, seen, a?.sourceShard);
    involved.sort((x, y) => x - y);
    txs.set(h, {
      ordered: a ? { ...a, involvedShards: involved } : undefined,
      decisions: [...coordinator, ...seen.filter((d) => d.lockTimeout)].map(asDecided),
      facts: { involved, recordedAt, heads, lockTimeoutBlocks },
    });
  }
  return { txs, lockTimeoutBlocks, summary: { transactions: txs.size, decisions, lockTimeouts, lockTimeoutBlocks: lockTimeoutBlocks ?? null }, findings };
}

/** A shard's record as a decision of the shapes the checks read. */
function asDecided(d: ShardDecisionSeen): Decided {
  return { height: d.height, commit: d.commit, involvedShards: [...d.involvedShards], shardId: d.shardId, ...(d.lockTimeout ? { lockTimeout: true } : {}) };
}

/** Every shard that accepted, voted on, recorded a decision on or applied an effect of `h`. */
function partakers(shards: ShardsIndex, h: string, seen: readonly ShardDecisionSeen[], source: number | undefined): number[] {
  const out = new Set<number>([...(shards.votes.get(h)?.keys() ?? []), ...(shards.effects.get(h)?.keys() ?? []), ...seen.map((d) => d.shardId)]);
  if (source !== undefined) out.add(source);
  return [...out];
}

/** The first block (in shard-id, then block order) that includes each of `hashes` as a user transaction: its acceptance by the source shard. */
function acceptances(shards: ShardsIndex, hashes: ReadonlySet<string>, findings: Finding[]): Map<string, Omit<Ordered, 'involvedShards'>> {
  const out = new Map<string, Omit<Ordered, 'involvedShards'>>();
  if (hashes.size === 0) return out;
  for (const sh of shards.shards) {
    for (const b of sh.blocks) {
      for (const t of b.transactions) {
        if (t.kind?.$case !== 'user') continue;
        const tx = t.kind.value;
        const h = tx.hash.toLowerCase();
        if (!hashes.has(h) || out.has(h)) continue;
        const to = tx.to.toLowerCase();
        const value = parseWeiOrUndefined(tx.value, true);
        if (value === undefined) findings.push({ place: place.transactions, text: `tx ${h}: shard ${sh.shardId} block ${b.height} accepts it with a malformed value ${JSON.stringify(tx.value)}` });
        out.set(h, {
          height: b.height,
          from: tx.from.toLowerCase(),
          to,
          value,
          sourceShard: sh.shardId,
          ...(to === '' || tx.data.length > 0 ? { opaqueCall: true } : {}),
        });
      }
    }
  }
  return out;
}
