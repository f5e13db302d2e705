import fc from 'fast-check';
import { ErrorCode } from '@shardlab/common';
import { createPlacement, shardOf } from '../src';
import { thrown } from '@shardlab/testing';

describe('placement', () => {
  it('places by last byte mod shard count by default', () => {
    const p = createPlacement(4);
    expect(p).toMatchObject({ shardCount: 4, epoch: 1 });
    expect(p.overrides.size).toBe(0);
    expect(shardOf(p, '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266')).toBe(0x66 % 4); // 2
    expect(shardOf(p, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')).toBe(0xc8 % 4); // 0, mixed case
    expect(shardOf(p, '0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f')).toBe(0x8f % 4); // 3
    expect(shardOf(p, '0x' + '00'.repeat(20))).toBe(0);
    expect(shardOf(p, '0x' + 'ff'.repeat(20))).toBe(3);
    expect(shardOf(createPlacement(3), '0x' + '00'.repeat(19) + '05')).toBe(2);
    expect(shardOf(createPlacement(1), '0x' + 'ab'.repeat(20))).toBe(0);
    // Only the last byte counts, not the first.
    expect(shardOf(createPlacement(7), '0xff' + '00'.repeat(18) + '0a')).toBe(10 % 7);
  });

  it('keeps the epoch it is given', () => {
    expect(createPlacement(2, 9).epoch).toBe(9);
  });

  it('lets an override win over the default rule, matching addresses case-insensitively', () => {
    const a = '0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
    const p = createPlacement(4, 3, [[a, 1]]);
    expect(p.overrides.get(a.toLowerCase())).toBe(1);
    expect(shardOf(p, a)).toBe(1);
    expect(shardOf(p, a.toLowerCase())).toBe(1);
    // Other addresses keep the default rule.
    expect(shardOf(p, '0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f')).toBe(3);
  });

  it.each([0, -1, 1.5, NaN, Infinity])('rejects shard count %p with INVALID_ARGUMENT', (n) => {
    const err = thrown(() => createPlacement(n));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/shard count must be a positive integer/);
  });

  it.each([4, -1, 0.5])('rejects an override naming shard %p of 4 with INVALID_ARGUMENT', (shard) => {
    const err = thrown(() => createPlacement(4, 1, [['0x' + '11'.repeat(20), shard]]));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/outside 0\.\.3/);
  });

  it('rejects an override with a malformed address', () => {
    expect(thrown(() => createPlacement(4, 1, [['0x1234', 0]])).code).toBe(ErrorCode.InvalidArgument);
  });

  it.each([
    '',
    '0x',
    '0x1234',
    'f39fd6e51aad88f6f4ce6ab8827279cfffb92266',
    '0xf39fd6e51aad88f6f4ce6ab8827279cfffb9226',
    '0xf39fd6e51aad88f6f4ce6ab8827279cfffb922660',
    '0xg39fd6e51aad88f6f4ce6ab8827279cfffb92266',
    ' 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  ])('rejects the malformed address %p with INVALID_ARGUMENT', (address) => {
    const err = thrown(() => shardOf(createPlacement(4), address));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/address/);
  });

  it('property: without overrides the shard is in 0..n-1 and equals last byte mod n', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: 1, max: 1024 }), fc.boolean(), (bytes, n, upper) => {
        let hex = '0x' + Buffer.from(bytes).toString('hex');
        if (upper) hex = '0x' + hex.slice(2).toUpperCase();
        const s = shardOf(createPlacement(n), hex);
        expect(Number.isInteger(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(n);
        expect(s).toBe(bytes[19]! % n);
      }),
      { numRuns: 500 },
    );
  });

  it('property: an override always wins and other addresses are unaffected', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 1, max: 64 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))),
        (a, b, [n, shard]) => {
          const ha = '0x' + Buffer.from(a).toString('hex');
          const hb = '0x' + Buffer.from(b).toString('hex');
          const p = createPlacement(n, 1, [[ha, shard]]);
          expect(shardOf(p, ha)).toBe(shard);
          if (ha !== hb) expect(shardOf(p, hb)).toBe(b[19]! % n);
        },
      ),
    );
  });
});
