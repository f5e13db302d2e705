// Chain continuity: each shard's blocks run 0..head and chain by parent hash, orchestrator blocks are consecutive, and how far each shard followed the orchestrator.
import type { OrchestratorBlock } from '@shardlab/proto';
import { finder, place, type Finding } from './findings';
import type { IndexedShard } from './shard-index';

/** The result of {@link checkContinuity}. */
export interface ContinuityResult {
  /**
   * Shard id → the highest orchestrator height its blocks recorded (`StateShardBlock.orchestratorHeight`,
   * 0 without blocks): the shard has processed every orchestrator block up to there.
   */
  cursors: Map<number, number>;
  /** Breaks in the chains. */
  findings: Finding[];
}

/**
 * Checks that each shard has blocks, that they run 0..head without gaps, belong to the shard and
 * chain by parent hash, and that the orchestrator's blocks have consecutive heights (pure). Also
 * reads each shard's orchestrator cursor.
 */
export function checkContinuity(shards: readonly IndexedShard[], orchestratorBlocks: readonly OrchestratorBlock[]): ContinuityResult {
  const findings: Finding[] = [];
  const cursors = new Map<number, number>();
  for (const shard of shards) {
    const s = shard.shardId;
    if (shard.blocks.length === 0) finder(findings, place.shardListing(shard.rank))(`shard ${s}: no blocks (not even the genesis block)`);
    let prevHash: string | undefined;
    let cursor = 0;
    shard.blocks.forEach((b, i) => {
      const found = finder(findings, place.shardBlock(shard.rank, i, 'links'));
      if (b.height !== i) found(`shard ${s}: block at position ${i} has height ${b.height}; blocks must run 0..head without gaps`);
      if (b.shardId !== s) found(`shard ${s}: block ${b.height} says it belongs to shard ${b.shardId}`);
      if (i > 0 && prevHash && b.parentHash !== prevHash) {
        found(`shard ${s}: block ${b.height} has parent hash ${b.parentHash}, but block ${b.height - 1} has hash ${prevHash}`);
      }
      prevHash = b.hash;
      cursor = Math.max(cursor, b.orchestratorHeight);
    });
    cursors.set(s, cursor);
  }
  orchestratorBlocks.forEach((ob, i) => {
    const prev = orchestratorBlocks[i - 1];
    if (prev !== undefined && ob.height !== prev.height + 1) {
      finder(findings, place.orchestratorBlock(i, 'links'))(`orchestrator: block ${ob.height} follows block ${prev.height}; blocks must be consecutive`);
    }
  });
  return { cursors, findings };
}
