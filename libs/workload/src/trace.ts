// Reading Ethereum transaction traces: ethereum-etl and XBlock-ETH CSV layouts (plain or gzip), header detection, row validation, malformed-row policy.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { bigIntToUnpaddedBytes, generateAddress } from '@ethereumjs/util';
import { errors, fromHex, isShardLabError, toHex } from '@shardlab/common';

/** Layout of a trace file, detected from its header line. */
export type TraceFormat = 'ethereum-etl' | 'xblock';

/**
 * Header of the ethereum-etl `export_blocks_and_transactions` transactions CSV
 * (https://ethereum-etl.readthedocs.io, table `transactions`). Columns are looked up by name;
 * `block_number`, `from_address`, `to_address` and `value` are required, the others optional.
 */
export const ETHEREUM_ETL_HEADER =
  'hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type';

/**
 * Header of the XBlock-ETH block-transaction CSV (files `*_BlockTransaction.csv`, as read by
 * sharding emulators such as BlockEmulator). Columns are looked up by name; `blockNumber`,
 * `from`, `to` and `value` are required. Older releases name `toCreate` `creates` (and lack the
 * contract flags), newer ones append `blobHashes,blobBaseFeePerGas,blobGasUsed`: both are read.
 * XBlock writes `None` for absent values.
 */
export const XBLOCK_HEADER =
  'blockNumber,timestamp,transactionHash,from,to,toCreate,fromIsContract,toIsContract,value,gasLimit,gasPrice,gasUsed,callingFunction,isError,eip2718type,baseFeePerGas,maxFeePerGas,maxPriorityFeePerGas';

/** One transaction of a trace, validated; addresses are lowercase 0x hex. */
export interface TraceRow {
  /** 1-based line number in the file (the header is line 1). */
  readonly line: number;
  /** Transaction hash (lowercase 0x hex) when the file gives one. */
  readonly hash?: string;
  readonly blockNumber: number;
  /** Position in its block: ethereum-etl `transaction_index`; for XBlock (and ethereum-etl files
   *  without that column) the row's position among the file's rows of the same block, from 0. */
  readonly txIndex: number;
  readonly from: string;
  /** Recipient; undefined for a contract creation. */
  readonly to?: string;
  /** For a contract creation, the created contract's address: ethereum-etl → the address mainnet
   *  computed, keccak256(rlp([from, nonce]))[12:]; XBlock → its `toCreate` column. */
  readonly createdAddress?: string;
  /** Value in wei. */
  readonly value: bigint;
  /** Sender's nonce on mainnet, when the file gives it. */
  readonly nonce?: bigint;
  /** Whether the transaction carried calldata (ethereum-etl `input` other than empty/`0x`;
   *  XBlock `callingFunction` other than empty/`0x`/`None`). Creations carry their init code. */
  readonly hasCalldata: boolean;
  /** True when the file says the transaction failed on mainnet (XBlock `isError` 1/true): it
   *  used its nonce and paid its fee but moved no value. ethereum-etl's `transactions` export has
   *  no status (it is in the receipts), so its rows are never marked. */
  readonly failed?: boolean;
}

/** A row that was not read, with its 1-based line number and what is wrong with it. */
export interface TraceIssue {
  readonly line: number;
  readonly message: string;
}

/** What to do with a malformed row: collect a {@link TraceIssue} and go on, or throw. */
export type MalformedPolicy = 'skip' | 'stop';

/** Options of {@link parseTraceLines} and {@link readTrace}. */
export interface TraceReadOpts {
  /** `skip`: malformed rows become {@link TraceIssue}s; `stop`: the first one throws. */
  onMalformed: MalformedPolicy;
  /** Stop after this many valid rows (the rest of the file is not read). Default: all rows. */
  limit?: number;
  /** Called with the number of valid rows read so far, every {@link PROGRESS_EVERY} rows and once
   *  at the end. */
  onProgress?: (rowsRead: number) => void;
}

/** A trace read into memory. */
export interface Trace {
  readonly format: TraceFormat;
  /** Valid rows sorted by block number, then `txIndex` (stable: ties keep file order). */
  readonly rows: TraceRow[];
  /** Malformed rows skipped (only with `onMalformed: 'skip'`), in file order. */
  readonly issues: TraceIssue[];
  /** Lines consumed, header included (blank lines count as lines but are not rows). */
  readonly lines: number;
}

/** How often {@link TraceReadOpts.onProgress} is called, in valid rows. */
export const PROGRESS_EVERY = 1_000;

/** Where each needed column sits in a file's rows. */
interface Layout {
  readonly format: TraceFormat;
  readonly columnCount: number;
  readonly hash?: number;
  readonly nonce?: number;
  readonly blockNumber: number;
  readonly txIndex?: number;
  readonly from: number;
  readonly to: number;
  readonly created?: number;
  readonly value: number;
  readonly calldata?: number;
  /** XBlock's `isError` (1 when the transaction failed on mainnet). */
  readonly isError?: number;
  /** Column names by index, for messages. */
  readonly names: readonly string[];
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;
const UINT_RE = /^\d+$/;

/**
 * Splits one CSV line into fields (RFC 4180 quoting: `"a,b"` and `""` inside quotes); undefined
 * when a quoted field is not closed. Lines without quotes take a fast path.
 */
export function splitCsvLine(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
    i++;
  }
  if (quoted) return undefined;
  out.push(field);
  return out;
}

function describeLayouts(): string {
  return `expected the ethereum-etl transactions layout (${ETHEREUM_ETL_HEADER}) or the XBlock-ETH block-transaction layout (${XBLOCK_HEADER})`;
}

/**
 * Detects the layout of a trace from its header line (column names, any order, extra columns
 * allowed) and locates its columns.
 * @throws ShardLabError INVALID_ARGUMENT when the header matches neither layout, naming both
 *   expected layouts, or lacks a required column of the layout it resembles.
 */
function detectLayout(headerLine: string, source: string): Layout {
  const names = (splitCsvLine(headerLine.replace(/^\uFEFF/, '').trim()) ?? []).map((n) => n.trim());
  const index = new Map<string, number>();
  names.forEach((n, i) => {
    if (!index.has(n)) index.set(n, i);
  });
  const col = (name: string) => index.get(name);
  const need = (format: TraceFormat, required: readonly string[]) => {
    const missing = required.filter((n) => !index.has(n));
    if (missing.length > 0) {
      throw errors.invalidArgument(`trace ${source}: the header looks like the ${format} layout but lacks the column(s) ${missing.join(', ')}; ${describeLayouts()}`, { source, missing });
    }
  };
  if (index.has('from_address') && index.has('block_number')) {
    need('ethereum-etl', ['block_number', 'from_address', 'to_address', 'value']);
    return {
      format: 'ethereum-etl',
      columnCount: names.length,
      hash: col('hash'),
      nonce: col('nonce'),
      blockNumber: col('block_number')!,
      txIndex: col('transaction_index'),
      from: col('from_address')!,
      to: col('to_address')!,
      value: col('value')!,
      calldata: col('input'),
      names,
    };
  }
  if (index.has('blockNumber') && index.has('from')) {
    need('xblock', ['blockNumber', 'from', 'to', 'value']);
    return {
      format: 'xblock',
      columnCount: names.length,
      hash: col('transactionHash'),
      nonce: col('nonce'),
      blockNumber: col('blockNumber')!,
      from: col('from')!,
      to: col('to')!,
      created: col('toCreate') ?? col('creates'),
      value: col('value')!,
      calldata: col('callingFunction'),
      isError: col('isError'),
      names,
    };
  }
  const shown = headerLine.length > 200 ? headerLine.slice(0, 200) + '…' : headerLine;
  throw errors.invalidArgument(`trace ${source}: unknown header ${JSON.stringify(shown)}; ${describeLayouts()}`, { source });
}

/** Detects the layout of a trace from its header line. @throws as {@link detectLayout}. */
export function detectTraceFormat(headerLine: string): TraceFormat {
  return detectLayout(headerLine, '(header)').format;
}

/** A problem with one field; turned into a {@link TraceIssue} with the line number. */
class RowProblem extends Error {}

/** Absent value: empty, or XBlock's `None`. */
function absent(v: string | undefined): boolean {
  return v === undefined || v === '' || v === 'None' || v === 'none' || v === 'null';
}

/**
 * Streaming parser of a trace: the header, then one line at a time. Pure (no IO); used by
 * {@link parseTraceLines} and {@link readTrace}.
 */
export class TraceParser {
  readonly format: TraceFormat;
  private readonly layout: Layout;
  private readonly rows: TraceRow[] = [];
  private readonly issues: TraceIssue[] = [];
  /** Rows seen per block, for XBlock's position in block. */
  private readonly perBlock = new Map<number, number>();
  private line = 1;
  private lastProgress = 0;

  /**
   * @param headerLine the file's first line.
   * @param source name used in error messages (the file path).
   * @throws ShardLabError INVALID_ARGUMENT on an unknown header (see {@link detectTraceFormat}),
   *   or when `opts.limit` is not a non-negative integer.
   */
  constructor(
    headerLine: string,
    private readonly opts: TraceReadOpts & { source: string },
  ) {
    if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) {
      throw errors.invalidArgument(`trace limit must be a non-negative integer, got ${opts.limit}`);
    }
    this.layout = detectLayout(headerLine, opts.source);
    this.format = this.layout.format;
  }

  /** Valid rows read so far. */
  get rowsRead(): number {
    return this.rows.length;
  }

  /** True once `limit` valid rows are read: further lines are ignored. */
  get done(): boolean {
    return this.opts.limit !== undefined && this.rows.length >= this.opts.limit;
  }

  /**
   * Reads the next line of the file (after the header). Returns false once `limit` rows are read.
   * @throws ShardLabError INVALID_ARGUMENT with `onMalformed: 'stop'` on a malformed row; the
   *   message names the source, the line number and the problem.
   */
  push(text: string): boolean {
    if (this.done) return false;
    const line = ++this.line;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return true;
    try {
      this.rows.push(this.parseRow(trimmed, line));
    } catch (err) {
      if (!(err instanceof RowProblem)) throw err;
      if (this.opts.onMalformed === 'stop') {
        throw errors.invalidArgument(`malformed row in trace ${this.opts.source} at line ${line}: ${err.message}`, {
          source: this.opts.source,
          line,
        });
      }
      this.issues.push({ line, message: err.message });
      return true;
    }
    if (this.opts.onProgress && this.rows.length - this.lastProgress >= PROGRESS_EVERY) {
      this.lastProgress = this.rows.length;
      this.opts.onProgress(this.rows.length);
    }
    return !this.done;
  }

  /** The trace: rows sorted by block number then position in block, issues, lines consumed. */
  finish(): Trace {
    if (this.opts.onProgress && this.lastProgress !== this.rows.length) {
      this.lastProgress = this.rows.length;
      this.opts.onProgress(this.rows.length);
    }
    const rows = this.rows.slice().sort((a, b) => a.blockNumber - b.blockNumber || a.txIndex - b.txIndex);
    return { format: this.format, rows, issues: this.issues.slice(), lines: this.line };
  }

  private parseRow(text: string, line: number): TraceRow {
    const L = this.layout;
    const f = splitCsvLine(text);
    if (f === undefined) throw new RowProblem('unterminated quoted field');
    if (f.length !== L.columnCount) {
      throw new RowProblem(`expected ${L.columnCount} columns as in the header, found ${f.length}`);
    }
    const at = (i: number | undefined) => (i === undefined ? undefined : f[i]!.trim());
    const name = (i: number) => L.names[i]!;
    const uint = (i: number): bigint => {
      const v = at(i)!;
      if (!UINT_RE.test(v)) {
        throw new RowProblem(v.startsWith('-') && UINT_RE.test(v.slice(1)) ? `${name(i)} is negative: ${JSON.stringify(v)}` : `${name(i)} is not a non-negative integer: ${JSON.stringify(v)}`);
      }
      return BigInt(v);
    };
    const safeInt = (i: number): number => {
      const v = uint(i);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RowProblem(`${name(i)} is too large: ${v}`);
      return Number(v);
    };
    const address = (i: number): string => {
      const v = at(i)!;
      if (!ADDRESS_RE.test(v)) throw new RowProblem(`${name(i)} is not a 20-byte 0x hex address: ${JSON.stringify(v)}`);
      return v.toLowerCase();
    };

    const blockNumber = safeInt(L.blockNumber);
    const from = address(L.from);
    const value = uint(L.value);
    const nonce = L.nonce !== undefined && !absent(at(L.nonce)) ? uint(L.nonce) : undefined;
    let hash: string | undefined;
    if (L.hash !== undefined && !absent(at(L.hash))) {
      const h = at(L.hash)!;
      if (!HASH_RE.test(h)) throw new RowProblem(`${name(L.hash)} is not a 32-byte 0x hex hash: ${JSON.stringify(h)}`);
      hash = h.toLowerCase();
    }
    const data = at(L.calldata);
    const hasCalldata = !absent(data) && data !== '0x';
    let failed = false;
    if (L.isError !== undefined && !absent(at(L.isError))) {
      const e = at(L.isError)!.toLowerCase();
      if (e === '1' || e === 'true') failed = true;
      else if (e !== '0' && e !== 'false') throw new RowProblem(`${name(L.isError)} is not 0/1/True/False: ${JSON.stringify(at(L.isError))}`);
    }

    let to: string | undefined;
    let createdAddress: string | undefined;
    if (!absent(at(L.to))) {
      to = address(L.to);
    } else if (L.format === 'ethereum-etl') {
      if (nonce === undefined) {
        throw new RowProblem(`contract creation (empty ${name(L.to)}) without a nonce: the created address cannot be computed`);
      }
      createdAddress = toHex(generateAddress(fromHex(from), bigIntToUnpaddedBytes(nonce)));
    } else {
      if (L.created === undefined || absent(at(L.created))) {
        throw new RowProblem(`contract creation (${name(L.to)} is ${JSON.stringify(at(L.to))}) without a created address (toCreate)`);
      }
      createdAddress = address(L.created);
    }

    let txIndex: number;
    if (L.txIndex !== undefined) txIndex = safeInt(L.txIndex);
    else {
      txIndex = this.perBlock.get(blockNumber) ?? 0;
      this.perBlock.set(blockNumber, txIndex + 1);
    }
    return {
      line,
      ...(hash !== undefined ? { hash } : {}),
      blockNumber,
      txIndex,
      from,
      ...(to !== undefined ? { to } : {}),
      ...(createdAddress !== undefined ? { createdAddress } : {}),
      value,
      ...(nonce !== undefined ? { nonce } : {}),
      hasCalldata,
      ...(failed ? { failed } : {}),
    };
  }
}

/**
 * Parses a trace from its lines (the first is the header). Pure: no IO.
 * @param opts.source name used in error messages; default `(input)`.
 * @throws ShardLabError INVALID_ARGUMENT on an empty input or unknown header (the message lists
 *   both expected layouts), and with `onMalformed: 'stop'` on the first malformed row (the
 *   message names the source, the line number and the problem).
 */
export function parseTraceLines(lines: Iterable<string>, opts: TraceReadOpts & { source?: string }): Trace {
  const source = opts.source ?? '(input)';
  let parser: TraceParser | undefined;
  for (const line of lines) {
    if (!parser) parser = new TraceParser(line, { ...opts, source });
    else if (!parser.push(line)) break;
  }
  if (!parser) throw errors.invalidArgument(`trace ${source} is empty: expected a header line`, { source });
  return parser.finish();
}

/**
 * Reads a trace file: ethereum-etl `transactions` or XBlock-ETH block-transaction CSV, plain or
 * gzip-compressed (detected by the magic bytes 1f 8b, not the extension), streamed line by line.
 * @throws ShardLabError NOT_FOUND when the file does not exist (the message names the path);
 *   INVALID_ARGUMENT when it cannot be read or decompressed, is empty, has an unknown header
 *   (the message lists both expected layouts), or, with `onMalformed: 'stop'`, on the first
 *   malformed row (the message names the file, the line number and the problem).
 */
export async function readTrace(path: string, opts: TraceReadOpts): Promise<Trace> {
  let gzip: boolean;
  try {
    const fh = await open(path, 'r');
    try {
      const magic = Buffer.alloc(2);
      const { bytesRead } = await fh.read(magic, 0, 2, 0);
      gzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw errors.notFound(`trace file not found: ${path}`, { path });
    throw errors.invalidArgument(`cannot open trace file ${path}: ${(err as Error).message}`, { path });
  }

  const file = createReadStream(path);
  const gunzip = gzip ? createGunzip() : undefined;
  const input = gunzip ? file.pipe(gunzip) : file;
  if (gunzip) file.on('error', (err) => gunzip.destroy(err));
  const rl = createInterface({ input, crlfDelay: Infinity });
  let parser: TraceParser | undefined;
  try {
    for await (const line of rl) {
      if (!parser) parser = new TraceParser(line, { ...opts, source: path });
      else if (!parser.push(line)) break;
    }
  } catch (err) {
    if (isShardLabError(err)) throw err;
    throw errors.invalidArgument(`cannot read trace file ${path}${gzip ? ' (gzip)' : ''}: ${(err as Error).message}`, { path });
  } finally {
    rl.close();
    gunzip?.destroy();
    file.destroy();
  }
  if (!parser) throw errors.invalidArgument(`trace file ${path} is empty: expected a header line`, { path });
  return parser.finish();
}
