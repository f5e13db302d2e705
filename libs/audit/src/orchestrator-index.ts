// Indexes the orchestrator's collected blocks for the checks: what it ordered and decided, and at which heights.
import { Decision, type CrossShardTx, type OrchestratorBlock, type RwSet } from '@shardlab/proto';
import { finder, place, type Finding, type Found } from './findings';
import type { OrchestratorSummary } from './report';
import type { StorageWrite } from './shard-index';
import { parseSignedWei, parseWeiOrUndefined, pushTo } from './util';

/** One address of a cross-shard contract call's RwSet, as the audit reads it. */
export interface CallItem {
  address: string;
  shardId: number;
  /** Signed balance change in wei (0 when malformed; reported). */
  delta: bigint;
  /** What a commit writes there: created code first (slot ''), then the storage writes; empty when nothing. */
  writes: StorageWrite[];
}

/** The RwSet of an ordered cross-shard contract call. */
export interface CallSet {
  items: CallItem[];
  gasUsed: bigint;
}

/**
 * A cross-shard transaction as the orchestrator ordered it (`ct_to_order`), or, client-led, as its
 * source shard accepted it (the user transaction in its block). Addresses lower-case.
 */
export interface Ordered {
  /** Orchestrator height of the entry; client-led: height of the source shard's block that accepted it. */
  height: number;
  from: string;
  to: string;
  /** Value in wei; undefined when malformed (reported). */
  value: bigint | undefined;
  sourceShard: number;
  involvedShards: number[];
  /** Set for a cross-shard contract call (the ordered copy carries an RwSet). */
  call?: CallSet;
  /**
   * Client-led: a contract call (a creation, or a transaction with data) whose RwSet no block
   * carries (only its coordinator had it), so its effects are checked without it.
   */
  opaqueCall?: boolean;
}

/**
 * A decision of the orchestrator (`tpc_result`), or, client-led, one a shard recorded in its block
 * (`StateShardBlock.decisions`; then `shardId` is set).
 */
export interface Decided {
  /** Orchestrator height of the entry; client-led: height of the block of `shardId` that recorded it. */
  height: number;
  commit: boolean;
  involvedShards: number[];
  /** Client-led: the shard that recorded it. */
  shardId?: number;
  /** Client-led: an abort by that shard's lock timeout, not a decision of the coordinator. */
  lockTimeout?: boolean;
}

/** The orchestrator's blocks, indexed by lower-case transaction hash. */
export interface OrchestratorIndex {
  /** Each transaction's first `ct_to_order` entry. */
  ordered: Map<string, Ordered>;
  /** Position of each ordered transaction in orchestrator order (0, 1, …). */
  orderPosition: Map<string, number>;
  /** Each transaction's commit or abort decisions, in order. */
  decisions: Map<string, Decided[]>;
  /** What the blocks contained. */
  summary: OrchestratorSummary;
  /** Entries that could not be read (no transaction, ordered twice, malformed value or decision). */
  findings: Finding[];
}

/** Indexes the orchestrator's blocks (pure), given in height order. */
export function indexOrchestrator(blocks: readonly OrchestratorBlock[]): OrchestratorIndex {
  const index: OrchestratorIndex = {
    ordered: new Map(),
    orderPosition: new Map(),
    decisions: new Map(),
    summary: { blocks: blocks.length, headHeight: blocks.length > 0 ? blocks[blocks.length - 1]!.height : -1, ordered: 0, decided: 0 },
    findings: [],
  };
  blocks.forEach((ob, i) => {
    const found = finder(index.findings, place.orchestratorBlock(i, 'contents'));
    for (const ct of ob.ctToOrder) {
      index.summary.ordered++;
      indexOrdered(index, ob.height, ct, found);
    }
    for (const r of ob.tpcResult) {
      index.summary.decided++;
      const h = r.txHash.toLowerCase();
      if (r.decision !== Decision.DECISION_COMMIT && r.decision !== Decision.DECISION_ABORT) {
        found(`tx ${h}: orchestrator block ${ob.height} records a decision that is neither commit nor abort (${r.decision})`);
        continue;
      }
      pushTo(index.decisions, h, { height: ob.height, commit: r.decision === Decision.DECISION_COMMIT, involvedShards: [...r.involvedShards] });
    }
  });
  return index;
}

/** Indexes one `ct_to_order` entry of the orchestrator block at `height`. */
function indexOrdered(index: OrchestratorIndex, height: number, ct: CrossShardTx, found: Found): void {
  if (!ct.tx) {
    found(`orchestrator: block ${height} orders a cross-shard transaction without its transaction`);
    return;
  }
  const h = ct.tx.hash.toLowerCase();
  const first = index.ordered.get(h);
  if (first) {
    found(`tx ${h}: ordered twice by the orchestrator (blocks ${first.height} and ${height})`);
    return;
  }
  const value = parseWeiOrUndefined(ct.tx.value, true);
  if (value === undefined) found(`tx ${h}: the orchestrator's copy has a malformed value ${JSON.stringify(ct.tx.value)}`);
  const call = ct.rwSet ? readRwSet(h, ct.rwSet, found) : undefined;
  index.ordered.set(h, {
    height,
    from: ct.tx.from.toLowerCase(),
    to: ct.tx.to.toLowerCase(),
    value,
    sourceShard: ct.sourceShard,
    involvedShards: [...ct.involvedShards],
    ...(call ? { call } : {}),
  });
  index.orderPosition.set(h, index.orderPosition.size);
}

/**
 * Reads the RwSet of contract call `h`: per address its balance delta and writes, in the order a
 * shard's WRITE_SET applies them (@shardlab/chain's SystemOp.writes): created code (slot ''), the
 * new nonce (slot 'nonce', a 32-byte word), then storage.
 */
function readRwSet(h: string, rwSet: RwSet, found: Found): CallSet {
  const call: CallSet = { items: [], gasUsed: BigInt(rwSet.gasUsed) };
  for (const item of rwSet.addresses) {
    const address = item.address.toLowerCase();
    const delta = parseSignedWei(item.balanceDelta);
    if (delta === undefined) found(`tx ${h}: the RwSet has a malformed balance delta ${JSON.stringify(item.balanceDelta)} for ${address}`);
    const writes = item.writes.map((w) => ({ slot: w.slot.toLowerCase(), newValue: w.newValue.toLowerCase() }));
    if (item.newNonce !== undefined) {
      const n = item.newNonce;
      if (!Number.isSafeInteger(n) || n < 0) found(`tx ${h}: the RwSet has a malformed new nonce ${JSON.stringify(n)} for ${address}`);
      else writes.unshift({ slot: 'nonce', newValue: '0x' + n.toString(16).padStart(64, '0') });
    }
    if (item.createdCode) writes.unshift({ slot: '', newValue: item.createdCode.toLowerCase() });
    call.items.push({ address, shardId: Number(item.shardId), delta: delta ?? 0n, writes });
  }
  return call;
}
