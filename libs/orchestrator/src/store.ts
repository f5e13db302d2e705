// The orchestrator's LevelDB schema: blocks, cross-shard records, per-shard stream cursors and the head, and the one batch a block is written in.
import { RLP } from '@ethereumjs/rlp';
import { hexToBytes, intToBytes } from '@ethereumjs/util';
import { nativeKeccak256, ZERO_HASH } from '@shardlab/chain';
import { toHex } from '@shardlab/common';
import { OrchestratorBlock } from '@shardlab/proto';
import type { KV, KVOp } from '@shardlab/storage';
import { decodeCrossRecord, encodeCrossRecord, isDecided, type CrossRecord } from './coordinator';

const HEAD_KEY = 'm:head';
const blockKey = (h: number) => `b:${h.toString(16).padStart(12, '0')}`;
const recordKey = (hash: string) => `r:${hash}`;
const cursorKey = (shard: number) => `c:${shard}`;

/** Height and hash of the orchestrator's durable head. */
export interface OrchestratorHead {
  height: number;
  hash: string;
}

/**
 * Hash of an orchestrator block: keccak256 of RLP([height, parentHash, timestampMs,
 * [ordered tx hashes], [[decided tx hash, decision]]]).
 */
export function orchestratorBlockHash(b: Omit<OrchestratorBlock, 'hash'>): string {
  return toHex(
    nativeKeccak256(
      RLP.encode([
        intToBytes(b.height),
        hexToBytes(b.parentHash as `0x${string}`),
        intToBytes(b.timestampMs),
        b.ctToOrder.map((x) => hexToBytes((x.tx?.hash ?? ZERO_HASH) as `0x${string}`)),
        b.tpcResult.map((r) => [hexToBytes(r.txHash as `0x${string}`), r.decision]),
      ]),
    ),
  );
}

/**
 * The orchestrator's keys in its KV store (docs/ARCHITECTURE.md §4): `b:<height, 12 hex digits>`
 * → OrchestratorBlock (protobuf); `r:<tx hash>` → cross-shard record (JSON, coordinator.ts);
 * `c:<shard>` → last state-shard height whose votes were taken (decimal); `m:head` → head
 * (JSON {height, hash}). A block, the records it changed, the cursors it advanced and the head
 * are written in one batch ({@link writeBlock}); new forwarded records in one batch before they
 * are answered ({@link writeRecords}).
 */
export class OrchestratorStore {
  constructor(private readonly kv: KV) {}

  /**
   * Opens the store: writes the genesis block (height 0) when empty, else reads the head; then
   * every stored record and the cursor of each of `shardCount` shards (-1 for none).
   */
  async open(shardCount: number): Promise<{ head: OrchestratorHead; records: CrossRecord[]; cursors: number[]; genesis: boolean }> {
    const headBytes = await this.kv.get(HEAD_KEY);
    let head: OrchestratorHead;
    const genesis = !headBytes;
    if (!headBytes) {
      const body: Omit<OrchestratorBlock, 'hash'> = { height: 0, parentHash: ZERO_HASH, timestampMs: 0, ctToOrder: [], tpcResult: [] };
      const block = { ...body, hash: orchestratorBlockHash(body) };
      head = { height: 0, hash: block.hash };
      await this.kv.batch([
        { type: 'put', key: blockKey(0), value: OrchestratorBlock.encode(block).finish() },
        { type: 'put', key: HEAD_KEY, value: Buffer.from(JSON.stringify(head)) },
      ]);
    } else {
      head = JSON.parse(Buffer.from(headBytes).toString('utf8')) as OrchestratorHead;
    }
    const records = (await this.kv.entries('r:')).map(([, v]) => decodeCrossRecord(v));
    const cursors: number[] = [];
    for (let s = 0; s < shardCount; s++) {
      const c = await this.kv.get(cursorKey(s));
      cursors.push(c ? Number(Buffer.from(c).toString('utf8')) : -1);
    }
    return { head, records, cursors, genesis };
  }

  /** The stored record of `hash` (0x hex, any case), or undefined. */
  async record(hash: string): Promise<CrossRecord | undefined> {
    const bytes = await this.kv.get(recordKey(hash.toLowerCase()));
    return bytes ? decodeCrossRecord(bytes) : undefined;
  }

  /** The stored record of `hash` when it is decided; undefined otherwise. */
  async decidedRecord(hash: string): Promise<CrossRecord | undefined> {
    const r = await this.record(hash);
    return r && isDecided(r.phase) ? r : undefined;
  }

  /** Writes records in one batch (group commit of forwards). */
  writeRecords(records: readonly CrossRecord[]): Promise<void> {
    return this.kv.batch(records.map((r) => ({ type: 'put' as const, key: recordKey(r.tx.hash), value: encodeCrossRecord(r) })));
  }

  /**
   * Writes a block, the records it changed, the cursors that differ from `durableCursors`, and
   * the new head, in one atomic batch.
   */
  writeBlock(block: OrchestratorBlock, changed: readonly CrossRecord[], cursors: readonly number[], durableCursors: readonly number[]): Promise<void> {
    const ops: KVOp[] = [{ type: 'put', key: blockKey(block.height), value: OrchestratorBlock.encode(block).finish() }];
    for (const r of changed) ops.push({ type: 'put', key: recordKey(r.tx.hash), value: encodeCrossRecord(r) });
    cursors.forEach((c, s) => {
      if (c !== durableCursors[s]) ops.push({ type: 'put', key: cursorKey(s), value: Buffer.from(String(c)) });
    });
    ops.push({ type: 'put', key: HEAD_KEY, value: Buffer.from(JSON.stringify({ height: block.height, hash: block.hash })) });
    return this.kv.batch(ops);
  }

  /** The stored block at `height`, or undefined. */
  async block(height: number): Promise<OrchestratorBlock | undefined> {
    const bytes = await this.kv.get(blockKey(height));
    return bytes ? OrchestratorBlock.decode(bytes) : undefined;
  }
}
