// A minimal ABI encoder and Solidity storage-slot arithmetic shared by the contract fixtures (pure).
import { nativeKeccak256 } from '@shardlab/chain';

/** keccak256 of hex bytes (no 0x), as hex (no 0x). */
export const keccakHex = (hex: string): string => Buffer.from(nativeKeccak256(Buffer.from(hex, 'hex'))).toString('hex');

/** ABI word of a uint or an address (hex, no 0x, 64 digits). */
export function word(v: bigint | string): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  return n.toString(16).padStart(64, '0');
}

/** 4-byte selector (hex, no 0x) of a function signature. */
export const selector = (sig: string): string => keccakHex(Buffer.from(sig).toString('hex')).slice(0, 8);

/** Calldata (hex, no 0x) of `sig` with static arguments. */
export const calldata = (sig: string, ...args: (bigint | string)[]): string => selector(sig) + args.map(word).join('');

/** Storage key (0x, 32 bytes) of slot number `n`. */
export const slotKey = (n: bigint): string => '0x' + word(n);
/** Slot of `mapping[key]` for a mapping at `slot`: keccak256(abi.encode(key, slot)). */
export const mappingSlot = (key: string, slot: bigint): string => '0x' + keccakHex(word(key) + word(slot));
/** Slot of `mapping[k1][k2]` for a nested mapping at `slot`. */
export const nestedMappingSlot = (k1: string, k2: string, slot: bigint): string => '0x' + keccakHex(word(k2) + mappingSlot(k1, slot).slice(2));
