import type { Common } from '@ethereumjs/common';
import { signTransaction, shardOf, type DevAccount, type Placement } from '@shardlab/chain';
import { isShardLabError } from '@shardlab/common';
import { TxStatus, type GatewayServiceClient, type SendRawTransactionResponse } from '@shardlab/proto';
import { streamCall, unaryCall } from '@shardlab/rpc';
import { mulberry32 } from '@shardlab/workload';

/** One signed transfer of a workload. */
export interface PlannedTx {
  readonly from: string;
  readonly to: string;
  /** Wei. */
  readonly value: bigint;
  readonly nonce: bigint;
  readonly raw: Uint8Array;
  readonly homeShard: number;
  /** Whether the recipient is on another shard. */
  readonly crossShard: boolean;
  /** Whether it calls a contract (a counter) rather than paying an account. */
  readonly call: boolean;
}

/**
 * Init code of a counter contract: its runtime adds 1 to storage slot 0 on every call and emits
 * the new value as a LOG0 (runtime `PUSH1 0 SLOAD PUSH1 1 ADD DUP1 PUSH1 0 SSTORE PUSH1 0 MSTORE
 * PUSH1 32 PUSH1 0 LOG0 STOP`). It accepts value.
 */
export const COUNTER_INIT_CODE = Uint8Array.from(Buffer.from('6013600c60003960136000f3' + '600054600101806000556000526020' + '6000a000', 'hex'));

/** Calldata of a counter call (the counter ignores it; non-empty marks the transaction a call). */
export const COUNTER_CALL_DATA = Uint8Array.from([0x01]);

/** A random address whose default placement is `shard`. */
function addressOnShard(rand: () => number, shard: number, shardCount: number): string {
  const bytes = Array.from({ length: 19 }, () => Math.floor(rand() * 256));
  let last = Math.floor(rand() * 256);
  last = last - (last % shardCount) + shard;
  if (last > 255) last -= shardCount;
  return '0x' + [...bytes, last].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Options of {@link planLocalTransfers}. */
export interface LocalTransferOpts {
  common: Common;
  placement: Placement;
  /** Senders (funded at genesis). */
  accounts: readonly DevAccount[];
  /** Number of transfers in all. */
  count: number;
  /** Seed of the deterministic choice of recipients and values. */
  seed: number;
  /** First nonce of each sender (its current nonce); default 0. */
  startNonces?: ReadonlyMap<string, bigint>;
  /** Share of transfers whose recipient is on another shard, 0..1 [0]. */
  crossShardRatio?: number;
  /** Counter contracts by shard (see {@link COUNTER_INIT_CODE}); calls go to the chosen shard's one. */
  counters?: ReadonlyMap<number, string>;
  /** Share of transactions that call the counter of the chosen shard instead of paying, 0..1 [0]. */
  callRatio?: number;
}

/**
 * Plans `count` signed transfers, round-robin over the senders. A share `crossShardRatio` goes to
 * an account on another shard (cross-shard); the rest to another account on the sender's own shard
 * (local). Recipients are development accounts or fresh addresses placed on the chosen shard.
 * Values are 1..1000 gwei. Deterministic for a seed.
 */
export function planLocalTransfers(opts: LocalTransferOpts): PlannedTx[][] {
  const rand = mulberry32(opts.seed);
  const n = opts.placement.shardCount;
  const nonces = new Map(opts.accounts.map((a) => [a.address, opts.startNonces?.get(a.address) ?? 0n]));
  const perSender = new Map<string, PlannedTx[]>(opts.accounts.map((a) => [a.address, []]));
  for (let i = 0; i < opts.count; i++) {
    const from = opts.accounts[i % opts.accounts.length]!;
    const home = shardOf(opts.placement, from.address);
    const cross = n > 1 && rand() < (opts.crossShardRatio ?? 0);
    const shard = cross ? (home + 1 + Math.floor(rand() * (n - 1))) % n : home;
    const counter = opts.counters?.get(shard);
    const call = counter !== undefined && rand() < (opts.callRatio ?? 0);
    const peers = opts.accounts.filter((a) => a !== from && shardOf(opts.placement, a.address) === shard);
    const to = call ? counter : peers.length > 0 && rand() < 0.5 ? peers[Math.floor(rand() * peers.length)]!.address : addressOnShard(rand, shard, n);
    const value = BigInt(1 + Math.floor(rand() * 1000)) * 1_000_000_000n;
    const nonce = nonces.get(from.address)!;
    nonces.set(from.address, nonce + 1n);
    // Calls carry no value: a credit to the counter would change the balance other in-flight calls
    // read, and the read-set check does not yet tell commutative credits from real conflicts.
    const raw = signTransaction(opts.common, from, call ? { to, value: 0n, nonce, data: COUNTER_CALL_DATA, gasLimit: 100_000n } : { to, value, nonce });
    perSender.get(from.address)!.push({ from: from.address, to, value: call ? 0n : value, nonce, raw, homeShard: home, crossShard: cross, call });
  }
  return [...perSender.values()].filter((l) => l.length > 0);
}

/** The outcome of one transaction of a workload. */
export interface TxResult {
  readonly tx: PlannedTx;
  hash?: string;
  /** Final status, or undefined when the submission was rejected. */
  status?: TxStatus;
  /** Rejection or failure reason. */
  error?: string;
  /** True once final with a successful receipt (local) or committed (cross-shard). */
  success?: boolean;
  /** Statuses seen, in order (e.g. PENDING, PREPARED, COMMITTED). */
  seen: TxStatus[];
  submittedAtMs: number;
  finalAtMs?: number;
  blockHeight?: number;
}

const TERMINAL = new Set([TxStatus.TX_STATUS_FINAL, TxStatus.TX_STATUS_COMMITTED, TxStatus.TX_STATUS_ABORTED, TxStatus.TX_STATUS_DROPPED]);

/**
 * Submits every planned transaction through the gateway (each sender's transactions in nonce
 * order, senders in parallel), watches each accepted one with WatchTransaction until a terminal
 * status, and returns one result per transaction. Never throws for a single transaction: its
 * rejection or failure is recorded in its result.
 */
export async function runWorkload(
  gateway: GatewayServiceClient,
  plan: readonly PlannedTx[][],
  onResult: (r: TxResult) => void = () => {},
): Promise<TxResult[]> {
  const results: TxResult[] = [];
  const watches: Promise<void>[] = [];
  const watch = async (r: TxResult) => {
    try {
      for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash: r.hash! }, md, o))) {
        if (r.seen.at(-1) !== s.status) r.seen.push(s.status);
        if (TERMINAL.has(s.status)) {
          r.status = s.status;
          r.finalAtMs = Date.now();
          r.blockHeight = s.blockHeight;
          r.success = s.status === TxStatus.TX_STATUS_COMMITTED || (s.status === TxStatus.TX_STATUS_FINAL && (s.receipt?.success ?? false));
          if (s.reason) r.error = s.reason;
          break;
        }
      }
      if (r.status === undefined) r.error = 'watch ended before a terminal status';
    } catch (err) {
      r.error = `watch failed: ${(err as Error).message}`;
    }
    onResult(r);
  };
  await Promise.all(
    plan.map(async (txs) => {
      for (const tx of txs) {
        const r: TxResult = { tx, submittedAtMs: Date.now(), seen: [] };
        results.push(r);
        try {
          const res = await unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(tx.raw) }, md, o, cb));
          r.hash = res.txHash;
          watches.push(watch(r));
        } catch (err) {
          r.error = isShardLabError(err) ? `${err.code}: ${err.message}` : String(err);
          onResult(r);
        }
      }
    }),
  );
  await Promise.all(watches);
  return results;
}
