// Parsing and formatting of wire values: 0x addresses and hashes (lowercased), hex bytes, and wei amounts (decimal strings; formatted as ether)
import { errors } from './errors';

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;

/**
 * Parses a 20-byte address given as 0x-prefixed hex (any case) and returns it lowercased.
 * @throws ShardLabError INVALID_ARGUMENT when the string is not a 20-byte hex address.
 */
export function parseAddress(value: string, field = 'address'): string {
  if (!ADDRESS_RE.test(value)) {
    throw errors.invalidArgument(`${field} must be a 0x-prefixed 20-byte hex address, got ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

/**
 * Parses a 32-byte hash given as 0x-prefixed hex and returns it lowercased.
 * @throws ShardLabError INVALID_ARGUMENT when the string is not a 32-byte hex hash.
 */
export function parseHash(value: string, field = 'hash'): string {
  if (!HASH_RE.test(value)) {
    throw errors.invalidArgument(`${field} must be a 0x-prefixed 32-byte hex hash, got ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

/** Lowercase 0x-prefixed hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return '0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Bytes of a 0x-prefixed (or bare) even-length hex string.
 * @throws ShardLabError INVALID_ARGUMENT on odd length or non-hex characters.
 */
export function fromHex(value: string, field = 'hex'): Uint8Array {
  const body = value.startsWith('0x') ? value.slice(2) : value;
  if (body.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(body)) {
    throw errors.invalidArgument(`${field} must be even-length hex, got ${JSON.stringify(value)}`);
  }
  return new Uint8Array(Buffer.from(body, 'hex'));
}

/** One ether in wei. */
export const WEI_PER_ETHER = 10n ** 18n;

/** Formats wei as a decimal ether string without rounding, e.g. `1500000000000000000n` → `"1.5"`. */
export function formatEther(wei: bigint): string {
  const sign = wei < 0n ? '-' : '';
  const abs = wei < 0n ? -wei : wei;
  const whole = abs / WEI_PER_ETHER;
  const frac = (abs % WEI_PER_ETHER).toString().padStart(18, '0').replace(/0+$/, '');
  return sign + whole.toString() + (frac ? '.' + frac : '');
}

/**
 * Parses a non-negative decimal wei amount as sent on the wire.
 * @throws ShardLabError INVALID_ARGUMENT when it is not a non-negative integer string.
 */
export function parseWei(value: string, field = 'amount'): bigint {
  if (!/^\d+$/.test(value)) throw errors.invalidArgument(`${field} must be a decimal amount in wei, got ${JSON.stringify(value)}`);
  return BigInt(value);
}
