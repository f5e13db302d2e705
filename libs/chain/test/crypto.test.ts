import { bigIntToBytes, privateToPublic, setLengthLeft } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { DEFAULT_CHAIN_ID, createChainCommon, decodeTransaction, devAccounts, nativeCrypto, nativeKeccak256, signTransaction } from '../src';

describe('native crypto', () => {
  const c = nativeCrypto();
  const key = devAccounts()[3]!.privateKey;
  const msg = keccak256(new TextEncoder().encode('shardlab'));
  const sig = secp256k1.sign(msg, key);
  const r = setLengthLeft(bigIntToBytes(sig.r), 32);
  const s = setLengthLeft(bigIntToBytes(sig.s), 32);
  const rec = BigInt(sig.recovery);
  const pub = privateToPublic(key);

  it('hashes like keccak256', () => {
    for (const data of [new Uint8Array(), Uint8Array.from([1, 2, 3]), new Uint8Array(1000).fill(0x5a)]) {
      expect(c.keccak256!(data)).toEqual(keccak256(data));
      expect(nativeKeccak256(data)).toEqual(keccak256(data));
    }
    // A view into a larger buffer hashes only the view.
    const big = Uint8Array.from([9, 9, 1, 2, 3, 9]);
    expect(nativeKeccak256(big.subarray(2, 5))).toEqual(keccak256(Uint8Array.from([1, 2, 3])));
  });

  it('recovers the 64-byte public key for v in {0,1}, {27,28} and EIP-155 form', () => {
    expect(c.ecrecover!(msg, rec, r, s)).toEqual(pub);
    expect(c.ecrecover!(msg, 27n + rec, r, s)).toEqual(pub);
    expect(c.ecrecover!(msg, 1337n * 2n + 35n + rec, r, s, 1337n)).toEqual(pub);
    // The other parity recovers a different key.
    expect(c.ecrecover!(msg, 1n - rec, r, s)).not.toEqual(pub);
  });

  it('accepts r and s shorter than 32 bytes (left-padded)', () => {
    const trimmed = (b: Uint8Array) => b.subarray(b.findIndex((x) => x !== 0));
    expect(c.ecrecover!(msg, rec, trimmed(r), trimmed(s))).toEqual(pub);
  });

  it('rejects a v that fits no recovery id and oversized r or s', () => {
    expect(() => c.ecrecover!(msg, 29n, r, s)).toThrow(/invalid signature v/);
    expect(() => c.ecrecover!(msg, 27n, r, s, 1337n)).toThrow(/invalid signature v/);
    expect(() => c.ecrecover!(msg, rec, new Uint8Array(33).fill(1), s)).toThrow(/invalid signature r or s/);
  });

  it('decodes transactions identically with and without native crypto', () => {
    const native = createChainCommon();
    const js = createChainCommon({ native: false });
    expect(js.chainId()).toBe(BigInt(DEFAULT_CHAIN_ID));
    const [a, b] = devAccounts();
    for (const raw of [
      signTransaction(native, a!, { to: b!.address, nonce: 1n, value: 2n }),
      signTransaction(native, a!, { to: b!.address, nonce: 1n, legacyGasPrice: 3n }),
    ]) {
      const x = decodeTransaction(raw, native);
      const y = decodeTransaction(raw, js);
      expect(x.from).toBe(a!.address);
      expect([x.hash, x.from]).toEqual([y.hash, y.from]);
    }
  });
});
