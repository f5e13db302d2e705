import { RLP } from '@ethereumjs/rlp';
import { MapDB, bytesToBigInt, bytesToHex } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { SystemTxKind, type Receipt } from '@shardlab/proto';
import {
  ZERO_HASH,
  blockHash,
  buildBlock,
  createBlockExecutor,
  createChainCommon,
  decodeTransaction,
  devAccounts,
  encodeReceipt,
  encodeSystemTx,
  nonceWrite,
  orderedTrieRoot,
  signTransaction,
  toProtoTransaction,
  type BlockExecution,
  type TxRequest,
} from '../src';

const common = createChainCommon();
const [alice, bob] = devAccounts() as [ReturnType<typeof devAccounts>[number], ReturnType<typeof devAccounts>[number]];
const EMPTY_TRIE_ROOT = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421';
const REVERTER_INIT = Uint8Array.from(Buffer.from('6460006000fd600052' + '6005' + '601b' + 'f3', 'hex'));

const tx = (req: TxRequest) => decodeTransaction(signTransaction(common, alice, req), common);

/** Executes [ok, wrong nonce, deploy] on a fresh executor. */
async function execution(): Promise<BlockExecution> {
  const ex = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>() });
  await ex.applyGenesis(new Map([[alice.address, 10n ** 21n]]));
  return ex.executeBlock(1, 1_700_000_000_000, [
    tx({ to: bob.address, value: 1n, nonce: 0n }),
    tx({ to: bob.address, value: 2n, nonce: 7n }),
    tx({ nonce: 1n, gasLimit: 100_000n, data: REVERTER_INIT }),
  ]);
}

describe('orderedTrieRoot', () => {
  it('of no items is the empty trie root', async () => {
    expect(await orderedTrieRoot(common, [])).toBe(EMPTY_TRIE_ROOT);
    expect(await orderedTrieRoot(createChainCommon({ native: false }), [])).toBe(EMPTY_TRIE_ROOT);
  });

  it('of one item is the hash of the leaf [hex-prefix(rlp(0)), value]', async () => {
    const value = new Uint8Array(40).fill(0xab);
    // key rlp(0) = 0x80 → nibbles [8, 0]; leaf with an even path → prefix 0x20.
    const leaf = RLP.encode([new Uint8Array([0x20, 0x80]), value]);
    expect(await orderedTrieRoot(common, [value])).toBe(bytesToHex(keccak256(leaf)));
  });

  it('depends on order and content, and agrees between native and JavaScript keccak', async () => {
    const items = [new Uint8Array([1]), new Uint8Array([2, 3]), new Uint8Array(100).fill(9)];
    const root = await orderedTrieRoot(common, items);
    expect(await orderedTrieRoot(common, [...items].reverse())).not.toBe(root);
    expect(await orderedTrieRoot(common, items.slice(0, 2))).not.toBe(root);
    expect(await orderedTrieRoot(createChainCommon({ native: false }), items)).toBe(root);
  });
});

describe('encodeReceipt', () => {
  it('encodes [status, cumulativeGasUsed, gasUsed, logs]', () => {
    const r: Receipt = {
      txHash: '0x' + '11'.repeat(32),
      shardId: 0,
      blockHeight: 1,
      blockHash: '',
      txIndex: 0,
      success: false,
      gasUsed: 21_006,
      cumulativeGasUsed: 42_006,
      effectiveGasPrice: '1',
      contractAddress: '',
      logs: [{ address: '0x' + '22'.repeat(20), topics: ['0x' + '33'.repeat(32)], data: Buffer.from([4, 5]) }],
      error: 'revert',
    };
    const [status, cumulative, gas, logs] = RLP.decode(encodeReceipt(r)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array[][]];
    expect(bytesToBigInt(status)).toBe(0n);
    expect(bytesToBigInt(cumulative)).toBe(42_006n);
    expect(bytesToBigInt(gas)).toBe(21_006n);
    expect(logs).toHaveLength(1);
    expect(bytesToHex(logs[0]![0] as Uint8Array)).toBe('0x' + '22'.repeat(20));
    expect(encodeReceipt({ ...r, success: true })).not.toEqual(encodeReceipt(r));
  });
});

describe('buildBlock', () => {
  it('leaves rejected transactions out and lines receipts up with transactions in order', async () => {
    const exec = await execution();
    expect(exec.outcomes.map((o) => o.kind)).toEqual(['executed', 'rejected', 'executed']);
    const b = await buildBlock(common, { shardId: 2, height: 1, parentHash: ZERO_HASH, timestampMs: 1_700_000_000_000, execution: exec });

    const executedTxs = exec.outcomes.filter((o) => o.kind === 'executed').map((o) => o.tx);
    expect(b.transactions).toEqual(executedTxs.map((d) => ({ kind: { $case: 'user', value: toProtoTransaction(d) } })));
    expect(b.receipts.map((r) => r.txHash)).toEqual(executedTxs.map((d) => d.hash));
    expect(b.receipts.map((r) => r.txIndex)).toEqual([0, 1]);
    for (const r of b.receipts) {
      expect(r).toMatchObject({ shardId: 2, blockHeight: 1, blockHash: b.hash, success: true, error: '' });
    }
    expect(b.receipts[0]).toMatchObject({ gasUsed: 21_000, cumulativeGasUsed: 21_000, contractAddress: '', effectiveGasPrice: String(1_000_000_001) });
    expect(b.receipts[1]!.contractAddress).toMatch(/^0x[0-9a-f]{40}$/);
    expect(b.receipts[1]!.cumulativeGasUsed).toBe(21_000 + b.receipts[1]!.gasUsed);
    expect(b.gasUsed).toBe(b.receipts[1]!.cumulativeGasUsed);
    expect(b.gasUsed).toBe(Number(exec.gasUsed));

    expect(b.stateRoot).toBe(bytesToHex(exec.stateRoot));
    expect(b.transactionsRoot).toBe(await orderedTrieRoot(common, executedTxs.map((d) => d.raw)));
    expect(b.receiptsRoot).toBe(await orderedTrieRoot(common, b.receipts.map(encodeReceipt)));
    expect(b.tpcPrepare).toEqual([]);
    expect(b).toMatchObject({ shardId: 2, height: 1, parentHash: ZERO_HASH, timestampMs: 1_700_000_000_000 });
    expect(b.hash).toBe(blockHash(common, b));
  });

  it('gives an empty block the empty roots', async () => {
    const b = await buildBlock(common, {
      shardId: 0,
      height: 0,
      parentHash: ZERO_HASH,
      timestampMs: 0,
      execution: { stateRoot: new Uint8Array(32).fill(1), gasUsed: 0n, outcomes: [], touched: [] },
    });
    expect(b.transactionsRoot).toBe(EMPTY_TRIE_ROOT);
    expect(b.receiptsRoot).toBe(EMPTY_TRIE_ROOT);
    expect(b.transactions).toEqual([]);
    expect(b.receipts).toEqual([]);
    expect(b.gasUsed).toBe(0);
  });

  it('is pure: the same inputs give the same block', async () => {
    const exec = await execution();
    const inp = { shardId: 1, height: 5, parentHash: '0x' + 'aa'.repeat(32), timestampMs: 1234, execution: exec };
    expect(await buildBlock(common, inp)).toEqual(await buildBlock(common, inp));
    expect(await buildBlock(createChainCommon({ native: false }), inp)).toEqual(await buildBlock(common, inp));
  });
});

describe('encodeSystemTx', () => {
  it('encodes a write set with created code, a nonce and storage; the nonce entry is told apart by its slot', () => {
    const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
    const sys = (writes: { slot: string; oldValue: string; newValue: string }[]) => ({
      kind: SystemTxKind.SYSTEM_TX_KIND_WRITE_SET,
      txHash: '0x' + '22'.repeat(32),
      address: '0x' + '33'.repeat(20),
      amount: '0',
      writes,
    });
    const withNonce = sys([{ slot: '', oldValue: '', newValue: '0x6000' }, nonceWrite(0n, 2n), { slot: word(1n), oldValue: word(0n), newValue: word(5n) }]);
    const decoded = RLP.decode(encodeSystemTx(withNonce)) as Uint8Array[][][];
    expect(decoded[4]!.map((w) => w.map((b) => bytesToHex(b)))).toEqual([
      ['0x', '0x', '0x6000'],
      [bytesToHex(new TextEncoder().encode('nonce')), word(0n), word(2n)],
      [word(1n), word(0n), word(5n)],
    ]);
    // The same values under a storage slot encode differently.
    const asStorage = sys([{ slot: '', oldValue: '', newValue: '0x6000' }, { ...nonceWrite(0n, 2n), slot: word(0n) }, { slot: word(1n), oldValue: word(0n), newValue: word(5n) }]);
    expect(bytesToHex(encodeSystemTx(asStorage))).not.toBe(bytesToHex(encodeSystemTx(withNonce)));
  });
});

describe('blockHash', () => {
  const header = {
    shardId: 1,
    height: 10,
    parentHash: '0x' + '01'.repeat(32),
    stateRoot: '0x' + '02'.repeat(32),
    transactionsRoot: '0x' + '03'.repeat(32),
    receiptsRoot: '0x' + '04'.repeat(32),
    timestampMs: 1_700_000_000_000,
    gasUsed: 21_000,
    baseFeePerGas: '1000000000',
    orchestratorHeight: 7,
    outgoingReceiptsRoot: '0x' + '05'.repeat(31) + '00',
  };

  it('is keccak256 of the RLP header and stable', () => {
    const h = blockHash(common, header);
    expect(h).toMatch(/^0x[0-9a-f]{64}$/);
    expect(blockHash(common, { ...header })).toBe(h);
    expect(blockHash(createChainCommon({ native: false }), header)).toBe(h);
  });

  it.each([
    ['shardId', { shardId: 2 }],
    ['shardId zero', { shardId: 0 }],
    ['height', { height: 11 }],
    ['parentHash', { parentHash: '0x' + '01'.repeat(31) + '00' }],
    ['stateRoot', { stateRoot: '0x' + '02'.repeat(31) + '00' }],
    ['transactionsRoot', { transactionsRoot: '0x' + '03'.repeat(31) + '00' }],
    ['receiptsRoot', { receiptsRoot: '0x' + '04'.repeat(31) + '00' }],
    ['timestampMs', { timestampMs: 1_700_000_000_001 }],
    ['gasUsed', { gasUsed: 21_001 }],
    ['gasUsed zero', { gasUsed: 0 }],
    ['baseFeePerGas', { baseFeePerGas: '1000000001' }],
    ['orchestratorHeight', { orchestratorHeight: 8 }],
    ['outgoingReceiptsRoot', { outgoingReceiptsRoot: '0x' + '06'.repeat(31) + '00' }],
  ])('changes when %s changes', (_field, change) => {
    expect(blockHash(common, { ...header, ...change })).not.toBe(blockHash(common, header));
  });

  it('does not confuse fields with each other (swapping roots changes the hash)', () => {
    expect(blockHash(common, { ...header, stateRoot: header.receiptsRoot, receiptsRoot: header.stateRoot })).not.toBe(blockHash(common, header));
  });
});
