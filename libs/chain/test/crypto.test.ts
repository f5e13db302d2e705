import { createTx, createTxFromRLP, type TypedTxData } from '@ethereumjs/tx';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';
import { bigIntToBytes, bytesToHex, privateToPublic, setLengthLeft } from '@ethereumjs/util';
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

describe('native signing', () => {
  // The noble signer ethereumjs falls back to, called exactly as @ethereumjs/tx calls `ecsign`.
  const txOpts = { prehash: false, format: 'recovered' } as const;
  const ecsign = nativeCrypto().ecsign!;
  const N = noble.Point.CURVE().n;
  const keys = devAccounts().map((a) => a.privateKey);
  const hashes = Array.from({ length: 40 }, (_, i) => keccak256(new TextEncoder().encode(`shardlab-${i}`)));

  it('produces noble\'s bytes: recovery id ‖ r ‖ s with low s, RFC 6979, and the same extra-entropy seed', () => {
    const parities = new Set<number>();
    hashes.forEach((h, i) => {
      const key = keys[i % keys.length]!;
      const sig = ecsign(h, key, txOpts);
      expect(bytesToHex(sig)).toBe(bytesToHex(noble.sign(h, key, txOpts)));
      expect(bytesToHex(ecsign(h, key, { ...txOpts, extraEntropy: false }))).toBe(bytesToHex(sig));
      expect(sig.length).toBe(65);
      parities.add(sig[0]!);
      expect(BigInt(bytesToHex(sig.subarray(33)))).toBeLessThanOrEqual(N / 2n);
      const e = keccak256(h);
      expect(bytesToHex(ecsign(h, key, { ...txOpts, extraEntropy: e }))).toBe(bytesToHex(noble.sign(h, key, { ...txOpts, extraEntropy: e })));
      expect(bytesToHex(ecsign(h, key, { prehash: false }))).toBe(bytesToHex(noble.sign(h, key, { prehash: false })));
    });
    expect([...parities].sort()).toEqual([0, 1]); // both recovery ids exercised
  });

  it('hedges with random extra entropy when asked, still verifying', () => {
    const [h, key] = [hashes[0]!, keys[0]!];
    const a = ecsign(h, key, { ...txOpts, extraEntropy: true });
    const b = ecsign(h, key, { ...txOpts, extraEntropy: true });
    expect(bytesToHex(a)).not.toBe(bytesToHex(b));
    for (const sig of [a, b]) {
      expect(noble.verify(sig.subarray(1), h, noble.getPublicKey(key), { prehash: false })).toBe(true);
      expect(noble.recoverPublicKey(sig, h, { prehash: false })).toEqual(noble.getPublicKey(key));
    }
  });

  it('refuses the options it does not implement rather than signing differently', () => {
    const [h, key] = [hashes[0]!, keys[0]!];
    expect(() => ecsign(h, key)).toThrow(/prehash: false/);
    expect(() => ecsign(h, key, { ...txOpts, lowS: false })).toThrow(/low-s/);
    expect(() => ecsign(h, key, { prehash: false, format: 'der' })).toThrow(/der format/);
    expect(() => ecsign(h, key, { ...txOpts, extraEntropy: new Uint8Array(16) })).toThrow(/32 bytes of extra entropy/);
    expect(() => ecsign(h.subarray(1), key, txOpts)).toThrow();
    expect(() => ecsign(h, new Uint8Array(32), txOpts)).toThrow();
  });

  it('signs transactions through createChainCommon() byte-identically to the pure-JavaScript default, and they recover', () => {
    const native = createChainCommon();
    const js = createChainCommon({ native: false });
    expect(js.customCrypto.ecsign).toBeUndefined(); // ethereumjs's default: noble's secp256k1.sign
    const spy = jest.spyOn(native.customCrypto, 'ecsign');
    const accounts = devAccounts();
    const v = new Set<bigint>();
    let signed = 0;
    for (let i = 0; i < 12; i++) {
      const from = accounts[i % accounts.length]!;
      const to = accounts[(i + 1) % accounts.length]!.address;
      const reqs = [
        { to, nonce: BigInt(i), value: 10n ** 15n + BigInt(i) },
        { to, nonce: BigInt(i), value: BigInt(i), legacyGasPrice: 1_000_000_000n + BigInt(i) },
        { nonce: BigInt(i), gasLimit: 100_000n, data: Uint8Array.from([0x60, 0x00, 0x60, i]) }, // a creation
      ];
      for (const req of reqs) {
        const raw = signTransaction(native, from, req);
        signed++;
        expect(bytesToHex(raw)).toBe(bytesToHex(signTransaction(js, from, req)));
        for (const c of [native, js]) expect(decodeTransaction(raw, c).from).toBe(from.address);
        const tx = createTxFromRLP(raw, { common: js });
        expect(tx.type).toBe(req.legacyGasPrice !== undefined ? 0 : 2);
        expect(tx.getSenderAddress().toString()).toBe(from.address);
        expect(tx.s!).toBeLessThanOrEqual(N / 2n);
        if (tx.type === 0) v.add(tx.v!);
      }
    }
    expect(spy).toHaveBeenCalledTimes(signed); // the native signer did sign every transaction
    expect([...v].sort()).toEqual([1337n * 2n + 35n, 1337n * 2n + 36n]); // EIP-155, both parities
  });

  it('signs byte-identically through ethereumjs tx.sign for every transaction type it signs with a key', () => {
    const native = createChainCommon({ chainId: 5 });
    const js = createChainCommon({ chainId: 5, native: false });
    const key = keys[4]!;
    const base = { nonce: 3n, gasLimit: 50_000n, to: devAccounts()[1]!.address as `0x${string}`, value: 7n };
    const datas: TypedTxData[] = [
      { ...base, type: 0, gasPrice: 9n },
      { ...base, type: 1, gasPrice: 9n, accessList: [] },
      { ...base, type: 2, maxFeePerGas: 9n, maxPriorityFeePerGas: 1n },
    ];
    for (const data of datas) {
      const a = createTx(data, { common: native }).sign(key);
      const b = createTx(data, { common: js }).sign(key);
      expect(bytesToHex(a.serialize())).toBe(bytesToHex(b.serialize()));
      expect(a.getSenderAddress().toString()).toBe(devAccounts()[4]!.address);
    }
  });
});
