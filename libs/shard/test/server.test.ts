import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_ACCOUNT_BALANCE, devAccounts } from '@shardlab/chain';
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { genesisAllocation, readGenesisFile } from '../src';

describe('genesisAllocation', () => {
  it('funds the ten development accounts', () => {
    const alloc = genesisAllocation();
    expect(alloc.size).toBe(10);
    for (const a of devAccounts()) expect(alloc.get(a.address)).toBe(DEV_ACCOUNT_BALANCE);
  });

  it('adds extra entries and lets them override development accounts', () => {
    const dev0 = devAccounts()[0]!.address;
    const other = '0x' + 'ab'.repeat(20);
    const alloc = genesisAllocation(new Map([[dev0, 5n], [other, 7n]]));
    expect(alloc.size).toBe(11);
    expect(alloc.get(dev0)).toBe(5n);
    expect(alloc.get(other)).toBe(7n);
  });
});

describe('readGenesisFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardlab-genesis-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const file = async (name: string, content: string) => {
    const p = join(dir, name);
    await writeFile(p, content);
    return p;
  };

  async function invalid(path: string, message: RegExp): Promise<void> {
    try {
      await readGenesisFile(path);
    } catch (err) {
      expect(err).toBeInstanceOf(ShardLabError);
      expect((err as ShardLabError).code).toBe(ErrorCode.InvalidArgument);
      expect((err as ShardLabError).message).toMatch(message);
      return;
    }
    throw new Error('expected readGenesisFile to fail');
  }

  it('reads addresses (lowercased) and wei amounts, exactly beyond 2^53', async () => {
    const p = await file('ok.json', JSON.stringify({ alloc: { '0xAbCdEf0000000000000000000000000000000001': '1000000000000000000000001', ['0x' + '00'.repeat(20)]: '0' } }));
    const alloc = await readGenesisFile(p);
    expect([...alloc]).toEqual([
      ['0xabcdef0000000000000000000000000000000001', 1_000_000_000_000_000_000_000_001n],
      ['0x' + '00'.repeat(20), 0n],
    ]);
  });

  it('rejects a missing file and bad JSON naming the file', async () => {
    await invalid(join(dir, 'missing.json'), /cannot read genesis file .*missing\.json/);
    await invalid(await file('bad.json'.toString(), '{ not json'), /cannot read genesis file .*bad\.json/);
  });

  it('rejects a file without an alloc object', async () => {
    await invalid(await file('noalloc.json', '{"accounts": {}}'), /has no "alloc" object/);
    await invalid(await file('nullalloc.json', '{"alloc": null}'), /has no "alloc" object/);
  });

  it('rejects bad addresses and amounts', async () => {
    await invalid(await file('badaddr.json', JSON.stringify({ alloc: { '0x12': '1' } })), /genesis alloc address/);
    await invalid(await file('negative.json', JSON.stringify({ alloc: { ['0x' + '11'.repeat(20)]: '-1' } })), /genesis alloc of 0x1111/);
    await invalid(await file('float.json', JSON.stringify({ alloc: { ['0x' + '11'.repeat(20)]: '1.5' } })), /decimal amount in wei/);
  });

  it('accepts small JSON numbers but rejects numbers that JSON cannot hold exactly', async () => {
    const a = '0x' + '22'.repeat(20);
    expect((await readGenesisFile(await file('num.json', `{"alloc": {"${a}": 1000}}`))).get(a)).toBe(1000n);
    // 10^19 + 1 parses as 10^19: silently taking it would mint the wrong amount.
    await invalid(await file('bignum.json', `{"alloc": {"${a}": 10000000000000000001}}`), /must be a decimal string of wei/);
  });
});
