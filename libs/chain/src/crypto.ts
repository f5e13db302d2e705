// Native crypto for ethereumjs (keccak256, secp256k1 recovery and signing via prebuilt bindings) and the chain's Common: Cancun rules, chain id, tx params merged once
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Common, createCustomCommon, Hardfork, Mainnet, type CustomCrypto, type ParamsDict } from '@ethereumjs/common';
import { paramsTx } from '@ethereumjs/tx';

const require_ = createRequire(__filename);

interface NativeKeccak {
  (algorithm: 'keccak256'): { update(data: Buffer): { digest(): Buffer } };
}
/** The parts of the `secp256k1` package used here (prebuilt libsecp256k1 bindings). */
interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array, options?: { data?: Uint8Array }): { signature: Uint8Array; recid: number };
}

/** The options ethereumjs passes to `CustomCrypto.ecsign` (noble's `ECDSASignOpts`). */
interface EcsignOpts {
  prehash?: boolean;
  lowS?: boolean;
  format?: 'compact' | 'recovered' | 'der';
  extraEntropy?: boolean | Uint8Array;
}

let keccakModule: NativeKeccak | undefined;

/** keccak256 with the native `keccak` package (which falls back to JavaScript). */
export function nativeKeccak256(msg: Uint8Array): Uint8Array {
  const keccak = (keccakModule ??= require_('keccak') as NativeKeccak);
  const d = keccak('keccak256').update(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * `CustomCrypto.ecsign` with libsecp256k1: the drop-in for noble's `secp256k1.sign` with the
 * options ethereumjs passes (`prehash: false`, `format: 'recovered'`, `extraEntropy`). It returns
 * the same bytes as noble: 65 bytes recovery id ‖ r ‖ s, or the 64 bytes r ‖ s for
 * `format: 'compact'`. The recovery id is 0 or 1 (2 or 3 only when k·G's x ≥ n, probability about
 * 2⁻¹²⁸, as with noble); s is always low (≤ n/2, as EIP-2 requires; the recovery id flipped to
 * match). The nonce is RFC 6979 (HMAC-SHA256) from the key and the 32-byte hash, deterministic
 * unless `extraEntropy` is given: `true` adds 32 random bytes, a 32-byte array those bytes (RFC
 * 6979 section 3.6, the same seed as noble). Transactions' `sign(key)` defaults to no extra
 * entropy, so they sign byte-identically to the JavaScript default. About 35 µs a signature
 * (noble: about 600 µs).
 * @throws Error for options it does not implement (a prehash, high s, DER, extra entropy not 32
 *   bytes), and from libsecp256k1 when the hash is not 32 bytes or the key is not a valid scalar.
 */
function nativeEcsign(secp: NativeSecp256k1, msgHash: Uint8Array, privateKey: Uint8Array, opts: EcsignOpts = {}): Uint8Array {
  if (opts.prehash !== false) throw new Error('native ecsign signs a 32-byte hash: pass prehash: false');
  if (opts.lowS === false) throw new Error('native ecsign always produces low-s signatures');
  const format = opts.format ?? 'compact';
  if (format !== 'recovered' && format !== 'compact') throw new Error(`native ecsign does not produce the ${format} format`);
  const entropy = opts.extraEntropy;
  let data: Uint8Array | undefined;
  if (entropy === true) data = randomBytes(32);
  else if (entropy instanceof Uint8Array) {
    if (entropy.length !== 32) throw new Error(`native ecsign takes 32 bytes of extra entropy, got ${entropy.length}`);
    data = entropy;
  } else if (entropy !== undefined && entropy !== false) throw new Error('extraEntropy must be a boolean or bytes');
  const { signature, recid } = secp.ecdsaSign(msgHash, privateKey, data ? { data } : {});
  if (format === 'compact') return signature;
  const out = new Uint8Array(65);
  out[0] = recid;
  out.set(signature, 1);
  return out;
}

/**
 * Native keccak256, secp256k1 recovery and signing (the `keccak` and `secp256k1` packages, which
 * ship prebuilt binaries and fall back to JavaScript), passed to ethereumjs through `Common`'s
 * `customCrypto`: `keccak256`, `ecrecover` and `ecdsaRecover` for hashing and sender recovery,
 * `ecsign` (see `nativeEcsign` above) for `tx.sign(key)`: a whole signed transaction takes about
 * 70 µs against about 700 µs with the pure-JavaScript default, with byte-identical results.
 * docs/ARCHITECTURE.md §8: signature recovery and hashing bound a shard's throughput; the
 * pure-JavaScript defaults are several times slower.
 */
export function nativeCrypto(): CustomCrypto {
  const secp = require_('secp256k1') as NativeSecp256k1;
  return {
    keccak256: nativeKeccak256,
    ecsign: ((msgHash: Uint8Array, privateKey: Uint8Array, opts?: EcsignOpts) =>
      nativeEcsign(secp, msgHash, privateKey, opts)) as NonNullable<CustomCrypto['ecsign']>,
    ecdsaRecover: (sig: Uint8Array, recId: number, hash: Uint8Array) => secp.ecdsaRecover(sig, recId, hash, false),
    ecrecover: (msgHash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint) => {
      const recovery = v === 0n || v === 1n ? v : chainId === undefined ? v - 27n : v - (chainId * 2n + 35n);
      if (recovery !== 0n && recovery !== 1n) throw new Error('invalid signature v value');
      const sig = new Uint8Array(64);
      if (r.length > 32 || s.length > 32) throw new Error('invalid signature r or s');
      sig.set(r, 32 - r.length);
      sig.set(s, 64 - s.length);
      // 65-byte uncompressed key 0x04 || X || Y; ethereumjs expects the 64 bytes X || Y.
      return secp.ecdsaRecover(sig, Number(recovery), msgHash, false).subarray(1);
    },
  };
}

/** Default chain id of a ShardLab network (the id local Ethereum devnets use). */
export const DEFAULT_CHAIN_ID = 1337;

/** Options of {@link createChainCommon}. */
export interface ChainCommonOpts {
  /** EIP-155 chain id; default {@link DEFAULT_CHAIN_ID}. */
  chainId?: number;
  /**
   * Use native keccak/secp256k1 ({@link nativeCrypto}: hashing, sender recovery and signing);
   * default true. The benchmark's baseline turns it off.
   */
  native?: boolean;
}

/**
 * The ethereumjs `Common` of a ShardLab chain: mainnet rules at the Cancun hardfork with the
 * network's chain id, and native crypto by default ({@link nativeCrypto}: keccak256, sender recovery
 * and transaction signing; `signTransaction` and `tx.sign` with this Common sign natively).
 */
export function createChainCommon(opts: ChainCommonOpts = {}): Common {
  const chainId = opts.chainId ?? DEFAULT_CHAIN_ID;
  const common = createCustomCommon({ chainId, name: `shardlab-${chainId}` }, Mainnet, {
    hardfork: Hardfork.Cancun,
    ...(opts.native === false ? {} : { customCrypto: nativeCrypto() }),
  });
  if (opts.native !== false) applyTxParamsOnce(common);
  return common;
}

/**
 * Every ethereumjs transaction copies its `Common` and merges the transaction parameters into it
 * again (a JSON deep copy and a rebuild of the parameter cache, about a tenth of a millisecond per
 * transaction). A ShardLab chain never changes hardfork or parameters per transaction, so the
 * transaction parameters are merged once here and later merges of that same parameter set are
 * skipped — on this Common and on its copies, which share the merged parameters.
 */
function applyTxParamsOnce(common: Common): void {
  common.updateParams(paramsTx);
  const merge = Common.prototype.updateParams;
  common.updateParams = function (this: Common, params: ParamsDict) {
    if (params !== paramsTx) merge.call(this, params);
  };
}
