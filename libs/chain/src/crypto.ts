import { createRequire } from 'node:module';
import { Common, createCustomCommon, Hardfork, Mainnet, type CustomCrypto, type ParamsDict } from '@ethereumjs/common';
import { paramsTx } from '@ethereumjs/tx';

const require_ = createRequire(__filename);

interface NativeKeccak {
  (algorithm: 'keccak256'): { update(data: Buffer): { digest(): Buffer } };
}
interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

let keccakModule: NativeKeccak | undefined;

/** keccak256 with the native `keccak` package (which falls back to JavaScript). */
export function nativeKeccak256(msg: Uint8Array): Uint8Array {
  const keccak = (keccakModule ??= require_('keccak') as NativeKeccak);
  const d = keccak('keccak256').update(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Native keccak256 and secp256k1 recovery (the `keccak` and `secp256k1` packages, which ship
 * prebuilt binaries and fall back to JavaScript), passed to ethereumjs through `Common`'s
 * `customCrypto`. DESIGN.md section 8: signature recovery and hashing bound a shard's throughput;
 * the pure-JavaScript defaults are several times slower.
 */
export function nativeCrypto(): CustomCrypto {
  const secp = require_('secp256k1') as NativeSecp256k1;
  return {
    keccak256: nativeKeccak256,
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
  /** Use native keccak/secp256k1; default true. The benchmark's baseline turns it off. */
  native?: boolean;
}

/**
 * The ethereumjs `Common` of a ShardLab chain: mainnet rules at the Cancun hardfork with the
 * network's chain id, and native crypto by default.
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
