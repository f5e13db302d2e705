import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shardOf } from '@shardlab/chain';
import { ErrorCode } from '@shardlab/common';
import { rejection, thrown } from '@shardlab/testing';
import { formatPlacementFile, parsePlacementFile, readPlacementFile, RegistryState } from '../src';

const A = '0x00000000000000000000000000000000000000ff';
const B = '0xabcdef0000000000000000000000000000000001';

describe('placement files', () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'shardlab-placement-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('parses overrides (addresses lowercased) and round-trips formatPlacementFile', () => {
    const parsed = parsePlacementFile(`{"overrides": {"${B.toUpperCase().replace('0X', '0x')}": 2, "${A}": 0}}`, 4);
    expect([...parsed]).toEqual([
      [B, 2],
      [A, 0],
    ]);
    const text = formatPlacementFile(parsed);
    expect(Object.keys(JSON.parse(text).overrides)).toEqual([A, B]);
    expect(parsePlacementFile(text, 4)).toEqual(parsed);
    expect(parsePlacementFile('{"overrides": {}}', 1)).toEqual(new Map());
  });

  it('rejects bad content with INVALID_ARGUMENT naming the file and the entry', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /f\.json is not valid JSON/],
      ['[]', /f\.json has no "overrides" object/],
      ['{"overrides": [1]}', /f\.json has no "overrides" object/],
      ['{"alloc": {}}', /no "overrides" object/],
      ['{"overrides": {"0x12": 1}}', /f\.json: override address must be a 0x-prefixed 20-byte hex address, got "0x12"/],
      [`{"overrides": {"${A}": 4}}`, new RegExp(`override of ${A} names shard 4, outside 0..3`)],
      [`{"overrides": {"${A}": -1}}`, /names shard -1, outside/],
      [`{"overrides": {"${A}": 1.5}}`, /names shard 1.5, outside/],
      [`{"overrides": {"${A}": "1"}}`, /names shard "1", outside/],
      [`{"overrides": {"${B}": 1, "${B.toUpperCase().replace('0X', '0x')}": 2}}`, new RegExp(`${B} is listed twice`)],
    ];
    for (const [text, message] of cases) {
      const err = thrown(() => parsePlacementFile(text, 4, 'f.json'));
      expect({ text, code: err.code }).toEqual({ text, code: ErrorCode.InvalidArgument });
      expect(err.message).toMatch(message);
    }
  });

  it('reads a file, and names a file it cannot read', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, formatPlacementFile([[A, 1]]));
    expect(await readPlacementFile(good, 2)).toEqual(new Map([[A, 1]]));
    const missing = join(dir, 'missing.json');
    const err = await rejection(readPlacementFile(missing, 2));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain(`cannot read placement file ${missing}`);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, `{"overrides": {"${A}": 2}}`);
    expect((await rejection(readPlacementFile(bad, 2))).message).toContain(`placement file ${bad}: override of ${A} names shard 2, outside 0..1`);
  });

  it('gives the registry state its initial overrides at epoch 1', async () => {
    const state = new RegistryState({ shardCount: 4, chainId: 1337, blockIntervalMs: 250, overrides: parsePlacementFile(`{"overrides": {"${A}": 1}}`, 4) });
    expect(shardOf(state.placement, A)).toBe(1); // 0xff mod 4 = 3 without the override
    expect(state.placementInfo()).toEqual({ epoch: 1, shardCount: 4, rule: 'last-byte-mod', overrides: [{ address: A, shardId: 1 }] });
  });
});
