// User transactions: decoding raw signed bytes with state-free checks (canonical RLP, type, chain id, signature, gas), checks against the sender's state, the wire form
import { RLP } from '@ethereumjs/rlp';
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx';
import type { Common } from '@ethereumjs/common';
import { bytesToBigInt } from '@ethereumjs/util';
import { errors, toHex } from '@shardlab/common';
import type { Transaction as ProtoTransaction } from '@shardlab/proto';
import { nativeKeccak256 } from './crypto';

/** Smallest gas limit a transaction may carry (intrinsic gas of a plain transfer). */
export const MIN_GAS_LIMIT = 21_000n;
/** Largest gas limit a transaction may carry (also the block gas limit). */
export const MAX_GAS_LIMIT = 30_000_000n;

/** A decoded, signature-checked user transaction. */
export interface DecodedTx {
  /** The ethereumjs transaction (frozen; its sender public key is cached). */
  readonly tx: TypedTransaction;
  /** Raw signed bytes as submitted. */
  readonly raw: Uint8Array;
  /** Ethereum transaction hash, lowercase 0x hex; the id everywhere. */
  readonly hash: string;
  /** Recovered sender, lowercase 0x hex. */
  readonly from: string;
  /** Recipient, lowercase 0x hex; undefined for contract creation. */
  readonly to: string | undefined;
  readonly nonce: bigint;
  /** Value in wei. */
  readonly value: bigint;
  readonly gasLimit: bigint;
  /** Highest fee per gas the sender may pay, in wei (gasPrice or maxFeePerGas). */
  readonly maxFeePerGas: bigint;
  /** Upper bound of what the transaction can cost: value + gasLimit × maxFeePerGas, in wei. */
  readonly maxCost: bigint;
}

/** The chain id a raw transaction was signed for, read from its envelope; undefined if pre-EIP-155. */
function envelopeChainId(raw: Uint8Array): bigint | undefined {
  const first = raw[0];
  if (first !== undefined && first <= 0x7f) {
    const fields = RLP.decode(raw.subarray(1));
    if (!Array.isArray(fields)) throw new Error('typed transaction payload is not an RLP list');
    checkCanonicalNumbers(fields, first === 0x02 ? EIP1559_NUMBERS : EIP2930_NUMBERS);
    const id = fields[0];
    return id instanceof Uint8Array ? bytesToBigInt(id) : undefined;
  }
  const fields = RLP.decode(raw);
  if (!Array.isArray(fields)) throw new Error('legacy transaction is not an RLP list');
  // 9 fields signed, 6 unsigned (pre-EIP-155); anything else is not a transaction.
  if (fields.length !== 9 && fields.length !== 6) throw new Error(`legacy transaction has ${fields.length} fields, expected 9`);
  checkCanonicalNumbers(fields, LEGACY_NUMBERS);
  const v = fields[6];
  if (!(v instanceof Uint8Array)) return undefined;
  const vn = bytesToBigInt(v);
  return vn >= 35n ? (vn - 35n) / 2n : undefined;
}

/** Positions of the integer fields of each envelope (EIP-1559, EIP-2930, legacy/EIP-155). */
const EIP1559_NUMBERS = [0, 1, 2, 3, 4, 6, 9, 10, 11];
const EIP2930_NUMBERS = [0, 1, 2, 3, 5, 8, 9, 10];
const LEGACY_NUMBERS = [0, 1, 2, 4, 6, 7, 8];

/**
 * Refuses an integer field with a leading zero byte (RLP integers are minimal: zero is the empty
 * string), so that one transaction has one encoding and one hash. The library checks most fields
 * itself but not every one (not the chain id of typed transactions).
 * @throws Error naming the field's position.
 */
function checkCanonicalNumbers(fields: unknown[], positions: readonly number[]): void {
  for (const i of positions) {
    const f = fields[i];
    if (f instanceof Uint8Array && f.length > 0 && f[0] === 0) throw new Error(`integer field ${i} has a leading zero byte (non-canonical encoding)`);
  }
}

/**
 * Decodes a raw signed transaction (legacy with EIP-155, EIP-2930 or EIP-1559) and checks what
 * does not depend on state: well-formed RLP, supported type, chain id, signature, gas limit
 * within {@link MIN_GAS_LIMIT}..{@link MAX_GAS_LIMIT} and at least the intrinsic gas. `senderPublicKey`, when given, is the
 * sender's key already recovered from this very transaction (by a {@link SignaturePool}).
 * @throws ShardLabError INVALID_ARGUMENT naming what is wrong (malformed RLP, unsupported type,
 *   missing EIP-155 replay protection, wrong chain id, bad signature, gas out of bounds).
 */
export function decodeTransaction(raw: Uint8Array, common: Common, senderPublicKey?: Uint8Array): DecodedTx {
  if (raw.length === 0) throw errors.invalidArgument('raw transaction is empty');
  const type = raw[0]!;
  if (type <= 0x7f && type !== 0x01 && type !== 0x02) {
    throw errors.invalidArgument(`unsupported transaction type 0x${type.toString(16)}: legacy, EIP-2930 and EIP-1559 are accepted`);
  }
  let chainId: bigint | undefined;
  try {
    chainId = envelopeChainId(raw);
  } catch (err) {
    throw errors.invalidArgument(`malformed transaction RLP: ${(err as Error).message}`);
  }
  if (chainId === undefined) {
    throw errors.invalidArgument('transaction has no chain id: legacy transactions must be signed with EIP-155 replay protection');
  }
  if (chainId !== common.chainId()) {
    throw errors.invalidArgument(`wrong chain id: transaction is signed for chain ${chainId}, this network is chain ${common.chainId()}`);
  }
  let tx: TypedTransaction;
  try {
    tx = createTxFromRLP(raw, { common }) as TypedTransaction;
  } catch (err) {
    throw errors.invalidArgument(`malformed transaction: ${(err as Error).message}`);
  }
  if (tx.gasLimit < MIN_GAS_LIMIT || tx.gasLimit > MAX_GAS_LIMIT) {
    throw errors.invalidArgument(`gas limit ${tx.gasLimit} out of bounds ${MIN_GAS_LIMIT}..${MAX_GAS_LIMIT}`);
  }
  const intrinsic = tx.getIntrinsicGas();
  if (intrinsic > tx.gasLimit) {
    throw errors.invalidArgument(`gas limit ${tx.gasLimit} is below the intrinsic gas ${intrinsic} (base, calldata and access list)`);
  }
  let from: string;
  try {
    if (!tx.isSigned()) throw new Error('transaction is not signed');
    // A key recovered elsewhere (SignaturePool) is the same computation done off the main thread.
    if (senderPublicKey) tx.cache.senderPubKey = senderPublicKey;
    // The address is the last 20 bytes of keccak256(public key), as `getSenderAddress` computes
    // it, with the native keccak (the library's is JavaScript).
    from = toHex(nativeKeccak256(tx.getSenderPublicKey()).subarray(12));
  } catch (err) {
    throw errors.invalidArgument(`bad signature: ${(err as Error).message}`);
  }
  const maxFeePerGas = 'maxFeePerGas' in tx ? tx.maxFeePerGas : tx.gasPrice;
  // The hash is keccak256 of the serialized transaction. The decoder accepts only canonical
  // encodings (strict RLP, no leading zeros in numbers), so the serialization is `raw` itself:
  // hash it instead of encoding the transaction again (the library caches it on the frozen tx).
  tx.cache.hash = nativeKeccak256(raw);
  return {
    tx,
    raw,
    hash: toHex(tx.hash()),
    from: from.toLowerCase(),
    to: tx.to?.toString().toLowerCase(),
    nonce: tx.nonce,
    value: tx.value,
    gasLimit: tx.gasLimit,
    maxFeePerGas,
    maxCost: tx.value + tx.gasLimit * maxFeePerGas,
  };
}

/** What the home shard knows of a sender when it validates a transaction. */
export interface SenderView {
  /** Nonce in the state at the head. */
  stateNonce: bigint;
  /** Balance at the head, in wei. */
  balance: bigint;
  /** Balance locked by prepared cross-shard transactions, in wei. */
  locked: bigint;
  /** Transactions of this sender waiting in the mempool. */
  pendingCount: number;
  /** Sum of `maxCost` of those pending transactions, in wei. */
  pendingCost: bigint;
}

/**
 * Checks a decoded transaction against its sender's state (docs/ARCHITECTURE.md §3): its nonce must
 * be exactly the next one (state nonce + pending), its fee cap must cover the base fee, and the
 * available balance (balance − locked − pending costs) must cover value + gasLimit × maxFee.
 * @throws ShardLabError FAILED_PRECONDITION: nonce too low, nonce too high, fee cap below base
 *   fee, insufficient funds; each message states expected and actual values.
 */
export function checkAgainstSender(d: DecodedTx, sender: SenderView, baseFeePerGas: bigint): void {
  const expected = sender.stateNonce + BigInt(sender.pendingCount);
  if (d.nonce < expected) {
    throw errors.failedPrecondition(`nonce too low: transaction nonce ${d.nonce}, next nonce of ${d.from} is ${expected}`, { txHash: d.hash });
  }
  if (d.nonce > expected) {
    throw errors.failedPrecondition(`nonce too high: transaction nonce ${d.nonce}, next nonce of ${d.from} is ${expected}`, { txHash: d.hash });
  }
  if (d.maxFeePerGas < baseFeePerGas) {
    throw errors.failedPrecondition(`fee per gas ${d.maxFeePerGas} wei is below the base fee ${baseFeePerGas} wei`, { txHash: d.hash });
  }
  const available = sender.balance - sender.locked - sender.pendingCost;
  if (available < d.maxCost) {
    throw errors.failedPrecondition(
      `insufficient funds: ${d.from} has ${available < 0n ? 0n : available} wei available, the transaction may cost ${d.maxCost} wei (value + gas limit × fee cap)`,
      { txHash: d.hash },
    );
  }
}

/** The wire form of a decoded transaction (raw bytes plus decoded fields). */
export function toProtoTransaction(d: DecodedTx): ProtoTransaction {
  const tx = d.tx;
  const is1559 = 'maxFeePerGas' in tx;
  return {
    raw: Buffer.from(d.raw),
    hash: d.hash,
    type: tx.type,
    from: d.from,
    to: d.to ?? '',
    nonce: Number(d.nonce),
    value: d.value.toString(),
    gasLimit: Number(d.gasLimit),
    gasPrice: is1559 ? '' : (tx as { gasPrice: bigint }).gasPrice.toString(),
    maxFeePerGas: is1559 ? tx.maxFeePerGas.toString() : '',
    maxPriorityFeePerGas: is1559 ? tx.maxPriorityFeePerGas.toString() : '',
    data: Buffer.from(tx.data),
    chainId: Number(tx.common.chainId()),
  };
}
