// Logs and OpenTelemetry spans of the block-2PC steps a durable shard block carried (prepare, lock, finalize).
import { context, trace as otTrace } from '@opentelemetry/api';
import { addressOfKeyId } from '@shardlab/chain';
import { LockMode, Vote, reasonMessage, type OrchestratorBlock, type PrepareVote } from '@shardlab/proto';
import { extractContext, tracer } from '@shardlab/telemetry';
import type { ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';
import { decodeHeldLocks, type CallAcceptance, type TpcRecord } from './participant';

/** The letter of a lock mode in span attributes. */
const MODE_LETTER: Partial<Record<LockMode, string>> = { [LockMode.LOCK_MODE_SHARED]: 'S', [LockMode.LOCK_MODE_EXCLUSIVE]: 'X', [LockMode.LOCK_MODE_CREDIT]: 'C' };

const t = tracer('state-shard');

/** What {@link traceTpcBlock} reports of one durable block. */
export interface TpcBlockTrace {
  height: number;
  /** Mempool entries of the block (their trace contexts parent the spans of local submissions). */
  entries: readonly MempoolEntry[];
  /** Orchestrator blocks the block recorded (the RwSets of ordered contract calls). */
  orchBlocks: readonly OrchestratorBlock[];
  votes: readonly PrepareVote[];
  /** Participant record writes of the block (null: deleted). */
  writes: ReadonlyMap<string, TpcRecord | null>;
  /** Cross-shard contract calls accepted here as source, by hash. */
  calls: ReadonlyMap<string, CallAcceptance>;
  /** Keys locked for a contract call accepted here as source, besides the sender's (`<mode>@<key id>`, see participant.ts). */
  callLocks(txHash: string): readonly string[] | undefined;
  /** W3C trace context of each transaction, from the orchestrator blocks. */
  traces: ReadonlyMap<string, Record<string, string>>;
  decided: ReadonlyMap<string, 'commit' | 'abort'>;
}

/**
 * One span per protocol step, in the transaction's own trace (docs/ARCHITECTURE.md §6):
 * `shard.prepare` for each vote (for a contract call with the validation of this shard's part of
 * the RwSet), `shard.lock` under a YES vote that locked addresses, and `shard.finalize` for each
 * decision applied; plus a debug log line for each.
 */
export function traceTpcBlock(core: ShardCore, b: TpcBlockTrace): void {
  const { shardId } = core;
  const log = core.opts.logger;
  const entryTrace = new Map(b.entries.filter((e) => e.trace).map((e) => [e.tx.hash, e.trace!]));
  const stepSpan = (name: string, txHash: string, attributes: Record<string, string | number | boolean>) => {
    const carrier = b.traces.get(txHash);
    const parent = carrier ? extractContext(carrier) : (entryTrace.get(txHash) ?? context.active());
    return { parent, span: t.startSpan(name, { attributes: { 'tx.hash': txHash, 'shard.id': shardId, 'block.height': b.height, ...attributes } }, parent) };
  };
  // Cross-shard contract calls ordered in the orchestrator blocks of this shard block: their
  // RwSet, for the validation attributes of the prepare spans.
  const orderedCalls = new Map(
    b.orchBlocks.flatMap((o) => o.ctToOrder).filter((x) => x.tx && x.rwSet && x.involvedShards.includes(shardId)).map((x) => [x.tx!.hash, x] as const),
  );
  for (const v of b.votes) {
    log.debug({ txHash: v.txHash, vote: Vote[v.vote], reason: v.reason, height: b.height }, 'prepare vote');
    const ordered = orderedCalls.get(v.txHash);
    if (!ordered) {
      stepSpan('shard.prepare', v.txHash, { vote: Vote[v.vote], reason: v.reason }).span.end();
      continue;
    }
    // A contract call: the validation of this shard's part of the RwSet, and its locks.
    const items = ordered.rwSet!.addresses.filter((a) => Number(a.shardId) === shardId);
    const source = ordered.sourceShard === shardId;
    const refusal = source ? b.calls.get(v.txHash)?.refuse : undefined;
    const refused = refusal ? reasonMessage(refusal) : v.vote === Vote.VOTE_NO && !source ? v.reason : undefined;
    const { parent, span } = stepSpan('shard.prepare', v.txHash, {
      vote: Vote[v.vote],
      reason: v.reason,
      'call.role': source ? 'source' : 'destination',
      'validation.addresses': items.length,
      'validation.reads': items.reduce((n, a) => n + a.reads.length, 0),
      'validation.result': refused === undefined ? 'valid' : 'invalid',
      'validation.reason': refused ?? '',
    });
    if (v.vote === Vote.VOTE_YES) {
      const record = b.writes.get(v.txHash);
      // Keys as `<key id> <S|X|C>`; addresses: the sender's (its value lock, on the source) and those of the keys.
      const keys = [...decodeHeldLocks(source ? (b.callLocks(v.txHash) ?? []) : (record?.locks ?? []))].map(([id, mode]) => `${id} ${MODE_LETTER[mode] ?? mode}`);
      const addresses = [...new Set([...(source && record?.address ? [record.address] : []), ...keys.map((k) => addressOfKeyId(k))])];
      if (addresses.length > 0) {
        t.startSpan(
          'shard.lock',
          { attributes: { 'tx.hash': v.txHash, 'shard.id': shardId, 'block.height': b.height, 'lock.addresses': addresses, 'lock.keys': keys, 'lock.count': keys.length } },
          otTrace.setSpan(parent, span),
        ).end();
      }
    }
    span.end();
  }
  for (const [h, d] of b.decided) {
    log.debug({ txHash: h, decision: d, height: b.height }, 'cross-shard decision applied');
    stepSpan('shard.finalize', h, { decision: d }).span.end();
  }
}
