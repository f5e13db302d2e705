// Indexes everything collected of a network (shards and orchestrator) and the order cross-shard transactions are audited in.
import { indexClientLed, type ClientLedIndex } from './client-led-index';
import type { Finding } from './findings';
import { indexOrchestrator, type OrchestratorIndex } from './orchestrator-index';
import type { AuditInput } from './report';
import { indexShards, type ShardsIndex } from './shard-index';

/** Everything the checks read, indexed. */
export interface NetworkIndex extends Omit<ShardsIndex, 'findings'> {
  /** The orchestrator's blocks, indexed. */
  orchestrator: OrchestratorIndex;
  /** Whether the input has orchestrator blocks at all. */
  haveOrchestrator: boolean;
  /** Client-led two-phase commit: the transactions the shards decided themselves. */
  clientLed: ClientLedIndex;
  /**
   * Every cross-shard transaction seen in orchestrator or shard blocks (ordered, decided — by the
   * orchestrator or, client-led, in a shard block — with a system transaction or a vote): the
   * ordered ones in orchestrator order, then the others by hash.
   */
  txHashes: string[];
  /** What the indexing could not read, shards' then orchestrator's, then client-led records'. */
  findings: Finding[];
}

/** Indexes an audit input (pure). */
export function indexNetwork(input: AuditInput): NetworkIndex {
  const shards = indexShards(input.shards);
  const orchestrator = indexOrchestrator(input.orchestratorBlocks);
  const clientLed = indexClientLed(shards, orchestrator, input);
  const all = new Set<string>([
    ...orchestrator.ordered.keys(),
    ...orchestrator.decisions.keys(),
    ...shards.effects.keys(),
    ...shards.votes.keys(),
    ...shards.shardDecisions.keys(),
  ]);
  const position = orchestrator.orderPosition;
  const txHashes = [...all].sort((a, b) => {
    const pa = position.get(a);
    const pb = position.get(b);
    if (pa !== undefined && pb !== undefined) return pa - pb;
    if (pa !== undefined) return -1;
    if (pb !== undefined) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return {
    ...shards,
    orchestrator,
    haveOrchestrator: input.orchestratorBlocks.length > 0,
    clientLed,
    txHashes,
    findings: [...shards.findings, ...orchestrator.findings, ...clientLed.findings],
  };
}
