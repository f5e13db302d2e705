// Client-led two-phase commit: validation of Prepare and Decide requests (pure) and the stored form of a recorded vote.
import type { Common } from '@ethereumjs/common';
import { decodeTransaction, shardOf, toProtoTransaction, type Placement } from '@shardlab/chain';
import { errors, parseHash } from '@shardlab/common';
import { Decision, Vote, type CrossShardTx, type PrepareVote, type Reason, type TpcResult } from '@shardlab/proto';

/** A vote this shard recorded in a durable block, until the transaction is decided here. */
export interface RecordedVote {
  vote: PrepareVote;
  /** Height of the block that recorded it. */
  height: number;
}

/** Serialised form of a {@link RecordedVote} (the shard store's `clv:<hash>` metadata). */
export function encodeRecordedVote(v: RecordedVote): Uint8Array {
  return Buffer.from(JSON.stringify({ vote: v.vote.vote, reason: v.vote.reason, cause: v.vote.cause, height: v.height }));
}

/** Inverse of {@link encodeRecordedVote}. */
export function decodeRecordedVote(txHash: string, bytes: Uint8Array): RecordedVote {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as { vote: Vote; reason: string; cause?: Reason; height: number };
  return { vote: { txHash, vote: o.vote, reason: o.reason, ...(o.cause ? { cause: o.cause } : {}) }, height: o.height };
}

/** Checks a list of shard ids: integers of the network, no duplicates, this shard among them. */
function checkInvolved(involved: readonly number[], shardId: number, shardCount: number, what: string): number[] {
  const out = [...new Set(involved.map(Number))].sort((a, b) => a - b);
  if (out.length !== involved.length) throw errors.invalidArgument(`${what}: involved_shards ${involved.join(',')} names a shard twice`);
  for (const s of out) {
    if (!Number.isInteger(s) || s < 0 || s >= shardCount) throw errors.invalidArgument(`${what}: involved shard ${s} is not a shard of 0..${shardCount - 1}`);
  }
  if (!out.includes(shardId)) throw errors.invalidArgument(`${what}: involved_shards ${out.join(',')} does not name this shard (${shardId})`);
  return out;
}

/**
 * Validates a Prepare request and returns the cross-shard transaction this shard prepares: the
 * transaction rebuilt from its signed bytes (the client's decoded fields are not trusted), the
 * involved shards sorted, the source shard checked against the sender's placement.
 * @throws ShardLabError INVALID_ARGUMENT naming what is wrong (no transaction, undecodable or
 *   wrongly signed bytes, a hash that does not match them, involved shards that are not shards of
 *   the network or leave out this shard or the source, a source shard that is not the sender's).
 */
export function checkPrepareRequest(x: CrossShardTx | undefined, shardId: number, placement: Placement, common: Common): CrossShardTx {
  if (!x?.tx) throw errors.invalidArgument('Prepare: transaction (with its raw signed bytes) is required');
  if (!x.tx.raw || x.tx.raw.length === 0) throw errors.invalidArgument('Prepare: transaction.raw is empty');
  const d = decodeTransaction(new Uint8Array(x.tx.raw), common);
  if (x.tx.hash && x.tx.hash.toLowerCase() !== d.hash) throw errors.invalidArgument(`Prepare: transaction hash ${x.tx.hash} does not match its raw bytes (${d.hash})`);
  const involvedShards = checkInvolved(x.involvedShards, shardId, placement.shardCount, `Prepare ${d.hash}`);
  const source = shardOf(placement, d.from);
  if (Number(x.sourceShard) !== source) throw errors.invalidArgument(`Prepare ${d.hash}: source_shard ${x.sourceShard} is not the sender's shard (${source})`);
  if (!involvedShards.includes(source)) throw errors.invalidArgument(`Prepare ${d.hash}: involved_shards ${involvedShards.join(',')} leaves out the source shard ${source}`);
  return { tx: toProtoTransaction(d), involvedShards, sourceShard: source, traceContext: x.traceContext ?? {}, ...(x.rwSet ? { rwSet: x.rwSet } : {}) };
}

/**
 * Validates a Decide request.
 * @throws ShardLabError INVALID_ARGUMENT for a missing result, a malformed hash, a decision that
 *   is neither commit nor abort, or involved shards that leave out this shard.
 */
export function checkDecideRequest(r: TpcResult | undefined, shardId: number, shardCount: number): TpcResult & { decision: Decision.DECISION_COMMIT | Decision.DECISION_ABORT } {
  if (!r) throw errors.invalidArgument('Decide: result is required');
  const txHash = parseHash(r.txHash, 'Decide: tx hash');
  if (r.decision !== Decision.DECISION_COMMIT && r.decision !== Decision.DECISION_ABORT) throw errors.invalidArgument(`Decide ${txHash}: decision must be COMMIT or ABORT`);
  const involvedShards = checkInvolved(r.involvedShards, shardId, shardCount, `Decide ${txHash}`);
  return { ...r, txHash, decision: r.decision, involvedShards, traceContext: r.traceContext ?? {}, reason: r.decision === Decision.DECISION_COMMIT ? '' : r.reason };
}
