// The persistent keys of block-2PC on a state shard (participant records, applied decisions) inside the ShardStore's metadata.
import type { ShardStore } from '@shardlab/storage';
import { decodeRecord, encodeRecord, type TpcRecord } from './participant';

/** Record keys of the two-phase-commit participant in the shard store's metadata. */
const TPC_PREFIX = 'tpc:';
/** Keys of applied decisions (tx hash → commit/abort), for status queries after a restart. */
const DECIDED_PREFIX = 'tpcd:';

/**
 * Block-2PC's schema over a {@link ShardStore}'s metadata: participant records under `tpc:<hash>`
 * (JSON, see participant.ts) and applied decisions under `tpcd:<hash>` (`commit` / `abort`). Both
 * are written in the atomic batch of the block that changes them (see {@link metaWrites}).
 */
export class TpcStore {
  constructor(private readonly store: ShardStore) {}

  /** Every participant record in the store (cross-shard transactions in flight here). */
  async records(): Promise<TpcRecord[]> {
    return (await this.store.metaEntries(TPC_PREFIX)).map(([, v]) => decodeRecord(v));
  }

  /** The decision applied to `txHash` in a durable block, or undefined. */
  async decision(txHash: string): Promise<'commit' | 'abort' | undefined> {
    const v = await this.store.meta(DECIDED_PREFIX + txHash);
    if (v === undefined) return undefined;
    const d = Buffer.from(v).toString('utf8');
    return d === 'commit' || d === 'abort' ? d : undefined;
  }

  /** Whether a decision on `txHash` is stored. */
  async hasDecision(txHash: string): Promise<boolean> {
    // Any stored value counts, whatever it says ({@link decision} reads only commit / abort).
    return (await this.store.meta(DECIDED_PREFIX + txHash)) !== undefined;
  }

  /**
   * The metadata writes of one block: record writes (null deletes) and the decisions it applied,
   * for {@link ShardStore.commitBlock}'s `meta` argument.
   */
  metaWrites(writes: ReadonlyMap<string, TpcRecord | null>, decided: ReadonlyMap<string, 'commit' | 'abort'>): Map<string, Uint8Array | null> {
    const meta = new Map<string, Uint8Array | null>([...writes].map(([h, r]) => [TPC_PREFIX + h, r ? encodeRecord(r) : null] as const));
    // Decisions are kept for status queries after a restart (the records themselves are gone).
    for (const [h, d] of decided) meta.set(DECIDED_PREFIX + h, Buffer.from(d));
    return meta;
  }
}
