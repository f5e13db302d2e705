// Trace replay planning: deterministic generated keys standing in for real addresses on the same shards, rows signed as plain transfers, genesis funding and replay statistics; the plan re-placed under another placement.
import { createRequire } from 'node:module';
import type { Common } from '@ethereumjs/common';
import { createPlacement, nativeKeccak256, shardOf, signTransaction, type DevAccount, type Placement } from '@shardlab/chain';
import { errors, fromHex, parseAddress, toHex } from '@shardlab/common';
import type { TraceRow } from './trace';

const require_ = createRequire(__filename);

/** The parts of the native `secp256k1` package used here (prebuilt libsecp256k1 bindings). */
interface NativeSecp256k1 {
  privateKeyVerify(privateKey: Uint8Array): boolean;
  publicKeyCreate(privateKey: Uint8Array, compressed?: boolean): Uint8Array;
}

let secpModule: NativeSecp256k1 | undefined;
function secp(): NativeSecp256k1 {
  return (secpModule ??= require_('secp256k1') as NativeSecp256k1);
}

/** Domain separator of trace keys: keccak256(TRACE_KEY_DOMAIN ‖ address ‖ counter). */
export const TRACE_KEY_DOMAIN = 'shardlab-trace-key';

/** Gas limit of every replayed transaction (a plain transfer). */
export const REPLAY_GAS_LIMIT = 21_000n;
/** EIP-1559 fee cap of every replayed transaction, in wei (signTransaction's default). */
export const REPLAY_MAX_FEE_PER_GAS = 2_000_000_000n;
/** Most a replayed transaction can pay in fees, in wei: gas limit × fee cap. */
export const REPLAY_MAX_FEE = REPLAY_GAS_LIMIT * REPLAY_MAX_FEE_PER_GAS;

const DOMAIN_BYTES = new TextEncoder().encode(TRACE_KEY_DOMAIN);

/**
 * The generated key pair standing in for a real (mainnet) address: private key =
 * keccak256(utf8 "shardlab-trace-key" ‖ 20 address bytes ‖ 4-byte big-endian counter), for the
 * first counter 0, 1, 2, … whose key is a valid secp256k1 scalar and whose address's last byte ≡
 * the real address's last byte (mod `shardCount`). The default placement (`last byte mod
 * shardCount`) therefore puts the generated account on the real account's shard, and a trace
 * keeps its cross-shard ratio. Deterministic; about `min(shardCount, 256)` key derivations on
 * average (native secp256k1 and keccak, ~30 µs each).
 * @throws ShardLabError INVALID_ARGUMENT when `realAddress` is not a 20-byte hex address or
 *   `shardCount` is not a positive integer.
 */
export function traceAccount(realAddress: string, shardCount: number): DevAccount {
  const real = fromHex(parseAddress(realAddress, 'real address'));
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw errors.invalidArgument(`shard count must be a positive integer, got ${shardCount}`);
  }
  const want = real[19]! % shardCount;
  const preimage = new Uint8Array(DOMAIN_BYTES.length + 24);
  preimage.set(DOMAIN_BYTES, 0);
  preimage.set(real, DOMAIN_BYTES.length);
  const view = new DataView(preimage.buffer, preimage.byteOffset + DOMAIN_BYTES.length + 20, 4);
  const s = secp();
  for (let counter = 0; counter <= 0xffffffff; counter++) {
    view.setUint32(0, counter);
    const key = Uint8Array.from(nativeKeccak256(preimage));
    if (!s.privateKeyVerify(key)) continue;
    const address = nativeKeccak256(s.publicKeyCreate(key, false).subarray(1)).subarray(12);
    if (address[19]! % shardCount === want) return { address: toHex(address), privateKey: key };
  }
  throw errors.internal(`no trace key found for ${realAddress}`);
}

/** One row of a trace as a signed transaction of a replay. Amounts in wei. */
export interface PlannedTraceTx {
  /** Line of the row in the trace file. */
  readonly line: number;
  /** Real (mainnet) sender and recipient; `realTo` is the created address for a creation. */
  readonly realFrom: string;
  readonly realTo: string;
  /** Generated sender and recipient ({@link traceAccount}). */
  readonly from: string;
  readonly to: string;
  /** Value in wei, after scaling. */
  readonly value: bigint;
  /** Sender's nonce, from 0 per generated sender in trace order. */
  readonly nonce: bigint;
  /** Signed EIP-1559 transfer, for SendRawTransaction. */
  readonly raw: Uint8Array;
  /** Transaction hash: keccak256 of `raw`, lowercase 0x hex. */
  readonly hash: string;
  readonly homeShard: number;
  readonly toShard: number;
  readonly crossShard: boolean;
}

/** Figures of a replay plan. */
export interface ReplayStats {
  /** Rows planned (= transactions). */
  readonly rows: number;
  /** Rows that were plain transfers (a recipient, no calldata). */
  readonly transfers: number;
  /** Rows with a recipient and calldata, replayed as plain transfers to that recipient. */
  readonly calldataConverted: number;
  /** Contract creations, replayed as plain transfers to the created address. */
  readonly creationsConverted: number;
  /** Rows that failed on mainnet (XBlock `isError`), replayed as zero-value transfers: the nonce
   *  and the fee as on mainnet, no value moved. */
  readonly failedAsZeroValue: number;
  /** Distinct real senders. */
  readonly senders: number;
  /** Distinct real addresses: senders, recipients and created addresses. */
  readonly addresses: number;
  /** Transactions whose recipient is on another shard than the sender. */
  readonly crossShard: number;
  /** crossShard / rows (0 when there are no rows). */
  readonly crossShardRatio: number;
}

/** Signed transactions of a trace replay, and the genesis allocation they need. */
export interface ReplayPlan {
  /** In trace order. */
  readonly txs: PlannedTraceTx[];
  /** Genesis balance (wei) of each generated sender: its outgoing values + its maximum fees. */
  readonly genesis: Map<string, bigint>;
  readonly stats: ReplayStats;
}

/** Options of {@link planReplay}. */
export interface ReplayOpts {
  /**
   * Chain rules, chain id and signer: `createChainCommon()` of @shardlab/chain signs with native
   * libsecp256k1 (about 70 µs a transaction), `createChainCommon({ native: false })` with the
   * pure-JavaScript default (about 700 µs); both are RFC 6979 deterministic and byte-identical.
   */
  common: Common;
  /** Number of state shards; placement is the default `last byte mod shardCount`. */
  shardCount: number;
  /** Values are multiplied by num/den (floor). Default 1/1. */
  valueScale?: { num: bigint; den: bigint };
  /** Called with (transactions planned, total) every 1,000 transactions and at the end. */
  onProgress?: (planned: number, total: number) => void;
}

/**
 * Plans the replay of a trace: every row becomes a signed EIP-1559 plain value transfer (21,000
 * gas, fee cap 2 gwei, tip 1 wei: `signTransaction`'s defaults) between the generated accounts
 * of its real sender and recipient ({@link traceAccount}); rows with calldata become transfers
 * to their recipient, creations transfers to the created address, and rows that failed on
 * mainnet (`failed`, XBlock `isError`) zero-value transfers. Nonces are renumbered from 0
 * per sender in trace order; values are scaled by `valueScale` (floor). Each sender is funded at
 * genesis with Σ its values + Σ its maximum fees (21,000 × 2 gwei each), so no transaction lacks
 * funds whatever the interleaving. Pure (no IO) and reproducible byte for byte (deterministic
 * keys, RFC 6979 signatures); signing with `opts.common`, ~70 µs a transaction with the native
 * `createChainCommon()`.
 * @throws ShardLabError INVALID_ARGUMENT when `shardCount` is not a positive integer, the scale
 *   is not num ≥ 0, den > 0, or a row has neither a recipient nor a created address.
 */
export function planReplay(rows: readonly TraceRow[], opts: ReplayOpts): ReplayPlan {
  const { shardCount } = opts;
  const placement = createPlacement(shardCount);
  const scale = opts.valueScale ?? { num: 1n, den: 1n };
  if (scale.num < 0n || scale.den <= 0n) {
    throw errors.invalidArgument(`value scale must be num ≥ 0 and den > 0, got ${scale.num}/${scale.den}`);
  }
  const { common } = opts;
  const accounts = new Map<string, DevAccount>();
  const account = (real: string): DevAccount => {
    let a = accounts.get(real);
    if (!a) accounts.set(real, (a = traceAccount(real, shardCount)));
    return a;
  };
  const nonces = new Map<string, bigint>();
  const genesis = new Map<string, bigint>();
  const senders = new Set<string>();
  const txs: PlannedTraceTx[] = [];
  let transfers = 0;
  let calldataConverted = 0;
  let creationsConverted = 0;
  let failedAsZeroValue = 0;
  let crossShard = 0;

  for (const row of rows) {
    const realTo = row.to ?? row.createdAddress;
    if (realTo === undefined) {
      throw errors.invalidArgument(`trace row at line ${row.line} has neither a recipient nor a created address`, { line: row.line });
    }
    if (row.to === undefined) creationsConverted++;
    else if (row.hasCalldata) calldataConverted++;
    else transfers++;
    senders.add(row.from);
    const sender = account(row.from);
    const recipient = account(realTo);
    // A transaction that failed on mainnet moved no value (its nonce and fee were still spent).
    if (row.failed) failedAsZeroValue++;
    const value = row.failed ? 0n : (row.value * scale.num) / scale.den;
    const nonce = nonces.get(sender.address) ?? 0n;
    nonces.set(sender.address, nonce + 1n);
    genesis.set(sender.address, (genesis.get(sender.address) ?? 0n) + value + REPLAY_MAX_FEE);
    const raw = signTransaction(common, sender, {
      to: recipient.address,
      value,
      nonce,
      gasLimit: REPLAY_GAS_LIMIT,
      maxFeePerGas: REPLAY_MAX_FEE_PER_GAS,
      maxPriorityFeePerGas: 1n,
    });
    const homeShard = shardOf(placement, sender.address);
    const toShard = shardOf(placement, recipient.address);
    if (homeShard !== toShard) crossShard++;
    txs.push({
      line: row.line,
      realFrom: row.from,
      realTo,
      from: sender.address,
      to: recipient.address,
      value,
      nonce,
      raw,
      hash: toHex(nativeKeccak256(raw)),
      homeShard,
      toShard,
      crossShard: homeShard !== toShard,
    });
    if (opts.onProgress && txs.length % 1_000 === 0) opts.onProgress(txs.length, rows.length);
  }
  if (opts.onProgress && txs.length % 1_000 !== 0) opts.onProgress(txs.length, rows.length);

  return {
    txs,
    genesis,
    stats: {
      rows: txs.length,
      transfers,
      calldataConverted,
      creationsConverted,
      failedAsZeroValue,
      senders: senders.size,
      addresses: accounts.size,
      crossShard,
      crossShardRatio: txs.length === 0 ? 0 : crossShard / txs.length,
    },
  };
}

/**
 * The replay plan with each transaction's home and recipient shards, and the cross-shard
 * statistics, computed under `placement` instead of the default rule (e.g. a graph placement
 * whose overrides the registry starts with). Signed transactions, genesis and the other figures
 * are unchanged: a placement changes where accounts live, not what they sign. The placement
 * should have the plan's shard count (the generated keys match the real addresses' shards under
 * the default rule for that count only). Pure.
 */
export function placeReplay(plan: ReplayPlan, placement: Placement): ReplayPlan {
  let crossShard = 0;
  const txs = plan.txs.map((t) => {
    const homeShard = shardOf(placement, t.from);
    const toShard = shardOf(placement, t.to);
    if (homeShard !== toShard) crossShard++;
    return { ...t, homeShard, toShard, crossShard: homeShard !== toShard };
  });
  return { txs, genesis: plan.genesis, stats: { ...plan.stats, crossShard, crossShardRatio: txs.length === 0 ? 0 : crossShard / txs.length } };
}
