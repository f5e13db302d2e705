import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ErrorCode } from '@shardlab/common';
import { ETHEREUM_ETL_HEADER, XBLOCK_HEADER, detectTraceFormat, parseTraceLines, readTrace, splitCsvLine, type TraceReadOpts } from '../src';
import { rejection as thrown } from '@shardlab/testing';

const A = '0x' + '11'.repeat(20);
const B = '0x' + '22'.repeat(20);
const C = '0x' + 'Cc'.repeat(20); // mixed case: read lowercased
const H = (n: number) => '0x' + n.toString(16).padStart(64, '0');

/** An ethereum-etl row: hash,nonce,block_hash,block_number,transaction_index,from,to,value,gas,gas_price,input,ts,maxFee,tip,type. */
function etl(block: number, index: number, from: string, to: string, value: string, input = '0x', nonce = '0'): string {
  return [H(block * 1000 + index), nonce, H(block), block, index, from, to, value, 21000, 20e9, input, 1488775107, '', '', 0].join(',');
}

/** An XBlock row: blockNumber,timestamp,transactionHash,from,to,toCreate,fromIsContract,toIsContract,value,gasLimit,gasPrice,gasUsed,callingFunction,isError,eip2718type,baseFeePerGas,maxFeePerGas,maxPriorityFeePerGas. */
function xb(block: number, hashN: number, from: string, to: string, toCreate: string, value: string, fn = '0x'): string {
  return [block, 1488775107, H(hashN), from, to, toCreate, 0, 0, value, 21000, 20e9, 21000, fn, 'None', 'None', 'None', 'None', 'None'].join(',');
}

const opts: TraceReadOpts = { onMalformed: 'skip' };
const lines = (text: string) => text.split('\n');

describe('trace parsing', () => {
  it('reads the ethereum-etl layout: rows, lowercased addresses, calldata flag, sorted by block then index', () => {
    const text = [
      ETHEREUM_ETL_HEADER,
      etl(10, 1, A, B, '5', '0xa9059cbb00'),
      etl(9, 0, B, C, '1000000000000000000'),
      etl(10, 0, C, A, '0', ''),
      '',
    ].join('\n');
    const t = parseTraceLines(lines(text), opts);
    expect(t.format).toBe('ethereum-etl');
    expect(t.issues).toEqual([]);
    expect(t.lines).toBe(5);
    expect(t.rows.map((r) => [r.blockNumber, r.txIndex, r.line])).toEqual([
      [9, 0, 3],
      [10, 0, 4],
      [10, 1, 2],
    ]);
    const [r9, r10a, r10b] = t.rows;
    expect(r9).toEqual({ line: 3, hash: H(9000), blockNumber: 9, txIndex: 0, from: B, to: C.toLowerCase(), value: 10n ** 18n, nonce: 0n, hasCalldata: false });
    expect(r10a!.from).toBe(C.toLowerCase());
    expect(r10a!.hasCalldata).toBe(false); // empty input
    expect(r10b!.hasCalldata).toBe(true);
    expect(r10b!.value).toBe(5n);
  });

  it('computes the created address of an ethereum-etl creation from sender and nonce', () => {
    // Well-known vector: contracts created by 0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0 with nonces 0 and 1.
    const creator = '0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0';
    const t = parseTraceLines([ETHEREUM_ETL_HEADER, etl(1, 0, creator, '', '0', '0x6060', '0'), etl(1, 1, creator, '', '7', '0x6060', '1')], opts);
    expect(t.rows.map((r) => [r.to, r.createdAddress, r.hasCalldata])).toEqual([
      [undefined, '0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d', true],
      [undefined, '0x343c43a37d37dff08ae8c4a11544c718abb4fcf8', true],
    ]);
    expect('to' in t.rows[0]!).toBe(false);
  });

  it('looks ethereum-etl columns up by name: other order, extra and missing optional columns', () => {
    const header = 'value,to_address,extra,from_address,block_number';
    const t = parseTraceLines([header, `9,${B},x,${A},7`, `3,${A},y,${B},7`, `1,${A},z,${B},6`], opts);
    expect(t.issues).toEqual([]);
    // Without transaction_index the position among the file's rows of the same block is used.
    expect(t.rows.map((r) => [r.blockNumber, r.txIndex, r.value, r.hasCalldata, r.hash, r.nonce])).toEqual([
      [6, 0, 1n, false, undefined, undefined],
      [7, 0, 9n, false, undefined, undefined],
      [7, 1, 3n, false, undefined, undefined],
    ]);
  });

  it('reads the XBlock-ETH layout: None recipients with toCreate, callingFunction, position in block', () => {
    const D = '0x' + 'dd'.repeat(20);
    const text = [
      XBLOCK_HEADER,
      xb(5, 1, A, B, 'None', '100000000000000000', '0xb214faa5'),
      xb(5, 2, B, 'None', D, '0', '0x'),
      xb(4, 3, C, A, 'None', '42', 'None'),
      xb(5, 4, A, '', '0x' + 'EE'.repeat(20), '1'),
    ].join('\r\n');
    const t = parseTraceLines(lines(text), opts);
    expect(t.format).toBe('xblock');
    expect(t.issues).toEqual([]);
    expect(t.rows.map((r) => [r.blockNumber, r.txIndex, r.line, r.from, r.to, r.createdAddress, r.value, r.hasCalldata])).toEqual([
      [4, 0, 4, C.toLowerCase(), A, undefined, 42n, false],
      [5, 0, 2, A, B, undefined, 10n ** 17n, true],
      [5, 1, 3, B, undefined, D, 0n, false],
      [5, 2, 5, A, undefined, '0x' + 'ee'.repeat(20), 1n, false],
    ]);
    expect(t.rows[1]!.hash).toBe(H(1));
  });

  it('reads the older XBlock layout (creates, no contract flags) and the one with blob columns', () => {
    const old = 'blockNumber,timestamp,transactionHash,from,to,creates,value,gasLimit,gasPrice,gasUsed,callingFunction,isError';
    const t1 = parseTraceLines([old, `1,0,${H(1)},${A},None,${B},3,21000,1,21000,0x,None`], opts);
    expect(t1.rows[0]).toMatchObject({ from: A, createdAddress: B, value: 3n });
    const blob = XBLOCK_HEADER + ',blobHashes,blobBaseFeePerGas,blobGasUsed';
    const t2 = parseTraceLines([blob, xb(1, 1, A, B, 'None', '3') + ',None,None,None'], opts);
    expect(t2.format).toBe('xblock');
    expect(t2.rows[0]).toMatchObject({ from: A, to: B, value: 3n });
  });

  it('keeps file order for rows of the same block and index (stable sort)', () => {
    const t = parseTraceLines([ETHEREUM_ETL_HEADER, etl(2, 0, A, B, '1'), etl(1, 0, A, B, '2'), etl(2, 0, A, B, '3'), etl(2, 0, A, B, '4')], opts);
    expect(t.rows.map((r) => r.value)).toEqual([2n, 1n, 3n, 4n]);
  });

  it('splits quoted CSV fields', () => {
    expect(splitCsvLine('a,"b,c","d""e",')).toEqual(['a', 'b,c', 'd"e', '']);
    expect(splitCsvLine('a,"b')).toBeUndefined();
    const t = parseTraceLines(['"block_number","from_address","to_address","value"', `"3","${A}","${B}","7"`], opts);
    expect(t.rows[0]).toMatchObject({ blockNumber: 3, from: A, to: B, value: 7n });
  });

  it('detects the layout from the header and refuses an unknown one naming both layouts', async () => {
    expect(detectTraceFormat(ETHEREUM_ETL_HEADER)).toBe('ethereum-etl');
    expect(detectTraceFormat('\uFEFF' + XBLOCK_HEADER)).toBe('xblock');
    const err = await thrown(() => parseTraceLines(['sender,receiver,amount', `${A},${B},1`], { ...opts, source: 'x.csv' }));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain('x.csv');
    expect(err.message).toContain('unknown header "sender,receiver,amount"');
    expect(err.message).toContain('ethereum-etl');
    expect(err.message).toContain(ETHEREUM_ETL_HEADER);
    expect(err.message).toContain('XBlock-ETH');
    expect(err.message).toContain(XBLOCK_HEADER);
    const missing = await thrown(() => parseTraceLines(['block_number,from_address,to_address', `1,${A},${B}`], opts));
    expect(missing.message).toContain('lacks the column(s) value');
    expect((await thrown(() => parseTraceLines([], opts))).message).toContain('empty');
  });
});

describe('malformed rows', () => {
  const text = [
    ETHEREUM_ETL_HEADER, // 1
    etl(1, 0, A, B, '1'), // 2
    etl(1, 1, A, B, '1').split(',').slice(0, 14).join(','), // 3: a column short
    etl(1, 2, '0x1234', B, '1'), // 4: bad sender
    etl(1, 3, A, B, '1.5'), // 5: non-integer value
    etl(1, 4, A, B, '-3'), // 6: negative value
    etl(1, 5, A, B, '2').replace(',1,5,', ',x1,5,'), // 7: bad block
    etl(1, 6, A, 'None-address', '1'), // 8: bad recipient
    etl(1, 7, A, '', '0', '0x60', ''), // 9: creation without a nonce
    etl(1, 8, A, B, '9'), // 10
  ];

  it('skip: collects one issue per malformed row with its line and reads the rest', () => {
    const t = parseTraceLines(text, { onMalformed: 'skip' });
    expect(t.rows.map((r) => r.line)).toEqual([2, 10]);
    expect(t.lines).toBe(10);
    expect(t.issues).toEqual([
      { line: 3, message: 'expected 15 columns as in the header, found 14' },
      { line: 4, message: 'from_address is not a 20-byte 0x hex address: "0x1234"' },
      { line: 5, message: 'value is not a non-negative integer: "1.5"' },
      { line: 6, message: 'value is negative: "-3"' },
      { line: 7, message: 'block_number is not a non-negative integer: "x1"' },
      { line: 8, message: 'to_address is not a 20-byte 0x hex address: "None-address"' },
      { line: 9, message: 'contract creation (empty to_address) without a nonce: the created address cannot be computed' },
    ]);
  });

  it('skip: XBlock creation without toCreate', () => {
    const t = parseTraceLines([XBLOCK_HEADER, xb(1, 1, A, 'None', 'None', '1')], opts);
    expect(t.rows).toEqual([]);
    expect(t.issues).toEqual([{ line: 2, message: 'contract creation (to is "None") without a created address (toCreate)' }]);
  });

  it('stop: the first malformed row throws naming the source, the line and the problem', async () => {
    const err = await thrown(() => parseTraceLines(text, { onMalformed: 'stop', source: 'trace.csv' }));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe('malformed row in trace trace.csv at line 3: expected 15 columns as in the header, found 14');
    expect(err.meta).toMatchObject({ line: 3 });
  });
});

describe('readTrace', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardlab-trace-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const etlText = [ETHEREUM_ETL_HEADER, etl(2, 0, A, B, '3'), etl(1, 0, B, A, '4', '0x01')].join('\n') + '\n';

  it('reads plain and gzip files, gzip detected by its magic bytes whatever the extension', async () => {
    const plainAsGz = join(dir, 'plain.csv.gz');
    const gzAsCsv = join(dir, 'compressed.csv');
    await writeFile(plainAsGz, etlText);
    await writeFile(gzAsCsv, gzipSync(Buffer.from(etlText)));
    const a = await readTrace(plainAsGz, opts);
    const b = await readTrace(gzAsCsv, opts);
    expect(a).toEqual(b);
    expect(a.format).toBe('ethereum-etl');
    expect(a.lines).toBe(3);
    expect(a.rows.map((r) => [r.blockNumber, r.from, r.value, r.hasCalldata])).toEqual([
      [1, B, 4n, true],
      [2, A, 3n, false],
    ]);
  });

  it('reads a gzip XBlock file with CRLF line ends', async () => {
    const path = join(dir, 'xblock.csv.gz');
    await writeFile(path, gzipSync(Buffer.from([XBLOCK_HEADER, xb(7, 1, A, B, 'None', '5'), xb(7, 2, B, 'None', C, '0', '0x60')].join('\r\n'))));
    const t = await readTrace(path, opts);
    expect(t.format).toBe('xblock');
    expect(t.rows.map((r) => [r.txIndex, r.to, r.createdAddress])).toEqual([
      [0, B, undefined],
      [1, undefined, C.toLowerCase()],
    ]);
  });

  it('stops after `limit` rows and reports progress', async () => {
    const path = join(dir, 'many.csv');
    const rows = Array.from({ length: 2_500 }, (_, i) => etl(i, 0, A, B, String(i)));
    await writeFile(path, [ETHEREUM_ETL_HEADER, ...rows].join('\n'));
    const seen: number[] = [];
    const all = await readTrace(path, { onMalformed: 'stop', onProgress: (n) => seen.push(n) });
    expect(all.rows).toHaveLength(2_500);
    expect(seen).toEqual([1_000, 2_000, 2_500]);
    const some = await readTrace(path, { onMalformed: 'stop', limit: 10 });
    expect(some.rows.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
    expect(some.lines).toBe(11);
  });

  it('stop: the error names the file, the line and the problem', async () => {
    const path = join(dir, 'bad.csv');
    await writeFile(path, [ETHEREUM_ETL_HEADER, etl(1, 0, A, B, '1'), etl(1, 1, A, B, 'abc')].join('\n'));
    const err = await thrown(() => readTrace(path, { onMalformed: 'stop' }));
    expect(err.message).toBe(`malformed row in trace ${path} at line 3: value is not a non-negative integer: "abc"`);
    const skipped = await readTrace(path, { onMalformed: 'skip' });
    expect(skipped.issues).toEqual([{ line: 3, message: 'value is not a non-negative integer: "abc"' }]);
  });

  it('refuses a missing file, an empty file, an unknown header and a corrupt gzip file', async () => {
    const missing = join(dir, 'nope.csv.gz');
    const e1 = await thrown(() => readTrace(missing, opts));
    expect(e1.code).toBe(ErrorCode.NotFound);
    expect(e1.message).toBe(`trace file not found: ${missing}`);

    const empty = join(dir, 'empty.csv');
    await writeFile(empty, '');
    expect((await thrown(() => readTrace(empty, opts))).message).toContain(`trace file ${empty} is empty`);

    const unknown = join(dir, 'unknown.csv');
    await writeFile(unknown, 'a,b,c\n1,2,3\n');
    const e3 = await thrown(() => readTrace(unknown, opts));
    expect(e3.message).toContain(unknown);
    expect(e3.message).toContain(ETHEREUM_ETL_HEADER);
    expect(e3.message).toContain(XBLOCK_HEADER);

    const corrupt = join(dir, 'corrupt.csv.gz');
    const gz = gzipSync(Buffer.from(etlText.repeat(50)));
    await writeFile(corrupt, Buffer.concat([gz.subarray(0, 20), Buffer.alloc(64, 0x55)]));
    const e4 = await thrown(() => readTrace(corrupt, opts));
    expect(e4.message).toContain(`cannot read trace file ${corrupt} (gzip)`);
  });
});

describe('failed mainnet transactions (XBlock isError)', () => {
  const row = (n: number, isError: string) =>
    [1, 1488775107, H(n), '0x' + '11'.repeat(20), '0x' + '22'.repeat(20), 'None', 0, 0, '5', 21000, 20e9, 21000, '0x', isError, 'None', 'None', 'None', 'None'].join(',');

  it('marks rows with isError 1/True as failed, 0/False/None as not, and reports anything else as malformed', () => {
    const t = parseTraceLines([XBLOCK_HEADER, row(1, '1'), row(2, '0'), row(3, 'True'), row(4, 'None'), row(5, 'maybe')], opts);
    expect(t.rows.map((r) => [r.line, r.failed ?? false])).toEqual([
      [2, true],
      [3, false],
      [4, true],
      [5, false],
    ]);
    expect(t.issues).toEqual([{ line: 6, message: expect.stringMatching(/isError is not 0\/1\/True\/False: "maybe"/) }]);
  });
});
