import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import {
  DEV_ACCOUNT_BALANCE,
  ZERO_HASH,
  SignaturePool,
  accountFromKey,
  createChainCommon,
  createPlacement,
  decodeTransaction,
  devAccounts,
  shardOf,
  signTransaction,
  type DevAccount,
  type TxRequest,
} from '@shardlab/chain';
import { ErrorCode, toHex } from '@shardlab/common';
import { SystemTxKind, TxStatus, type StateShardBlock } from '@shardlab/proto';
import { LevelKV, MemoryKV, ShardStore, type KV, type KVOp } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { createShardNode, genesisAllocation, shardCoinbase, type ShardNode, type ShardNodeOpts } from '../src';
import { rejection } from '@shardlab/testing';

const common = createChainCommon();
const BASE_FEE = 1_000_000_000n;
const SHARD = 0;
const placement = createPlacement(4);
const dev = devAccounts();
/** Development accounts placed on shard 0 (last byte mod 4 = 0) and on other shards. */
const local = dev.filter((a) => shardOf(placement, a.address) === SHARD);
const remote = dev.filter((a) => shardOf(placement, a.address) !== SHARD);
const [alice, bob, carol] = local as [DevAccount, DevAccount, DevAccount];
const COINBASE = shardCoinbase(SHARD);

/** A deterministic key whose address lies on shard 0 and is not a development account. */
function localKey(seed: number): DevAccount {
  for (let i = seed; ; i++) {
    const key = new Uint8Array(32);
    key[31] = i & 0xff;
    key[30] = (i >> 8) & 0xff;
    key[0] = 0x42;
    const acct = accountFromKey(key);
    if (shardOf(placement, acct.address) === SHARD) return acct;
  }
}

const sign = (from: DevAccount, req: Partial<TxRequest> & { nonce: bigint }) => signTransaction(common, from, { to: bob.address, value: 1000n, ...req });

class Clock {
  ms = 1_700_000_000_000;
  readonly now = () => this.ms;
}

async function node(store: ShardStore, extra: Partial<ShardNodeOpts> = {}): Promise<ShardNode> {
  const clock = new Clock();
  return createShardNode({
    shardId: SHARD,
    placement,
    common,
    store,
    logger: silentLogger(),
    genesis: genesisAllocation(),
    now: clock.now,
    ...extra,
  });
}

const balance = async (n: ShardNode, a: string) => BigInt((await n.getAccount(a)).balance);

describe('ShardNode', () => {
  beforeAll(() => {
    expect(local.length).toBeGreaterThanOrEqual(3);
    expect(remote.length).toBeGreaterThanOrEqual(1);
    expect(shardOf(placement, COINBASE)).toBe(SHARD);
  });

  it('writes a genesis block with only its own shard’s accounts', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    expect(n.head()).toMatchObject({ height: 0, mempoolSize: 0 });
    const g = await n.getBlock(0);
    expect(g).toMatchObject({ shardId: SHARD, height: 0, parentHash: ZERO_HASH, receipts: [], gasUsed: 0, tpcPrepare: [], orchestratorHeight: 0 });
    // The allocation is recorded as CREDIT system transactions, in address order.
    expect(g.transactions).toEqual(
      local
        .map((a) => a.address)
        .sort()
        .map((address) => ({ kind: { $case: 'system', value: { kind: SystemTxKind.SYSTEM_TX_KIND_CREDIT, txHash: ZERO_HASH, address, amount: DEV_ACCOUNT_BALANCE.toString(), writes: [] } } })),
    );
    expect(g.stateRoot).toBe(n.head().stateRoot);
    expect(await n.getBlock()).toEqual(g);
    for (const a of local) {
      expect(await n.getAccount(a.address)).toEqual({
        address: a.address,
        shardId: SHARD,
        balance: DEV_ACCOUNT_BALANCE.toString(),
        nonce: 0,
        locked: '0',
        codeHash: '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
        blockHeight: 0,
      });
    }
    // A node of another shard with the same allocation has a different genesis state.
    const other = await createShardNode({ shardId: 2, placement, common, store: await ShardStore.open(new MemoryKV()), logger: silentLogger(), genesis: genesisAllocation() });
    expect(other.head().stateRoot).not.toBe(n.head().stateRoot);
  });

  it('refuses a shard id outside the placement', async () => {
    for (const shardId of [4, -1, 1.5]) {
      const err = await rejection(node(await ShardStore.open(new MemoryKV()), { shardId }));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
    }
  });

  it('queues, executes and finalises a transfer with a receipt, charging exact fees', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const [a0, b0, c0] = [await balance(n, alice.address), await balance(n, bob.address), await balance(n, COINBASE)];
    const raw = sign(alice, { nonce: 0n, value: 12_345n, maxPriorityFeePerGas: 7n });
    const hash = decodeTransaction(raw, common).hash;

    expect(await n.submit(raw)).toEqual({ txHash: hash, shardId: SHARD, crossShard: false, status: TxStatus.TX_STATUS_QUEUED, clientCoordinated: false });
    expect((await n.getTransaction(hash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    expect(n.head().mempoolSize).toBe(1);
    // State does not move before the block.
    expect(await balance(n, alice.address)).toBe(a0);

    const block = await n.produceBlock();
    expect(block.height).toBe(1);
    expect(block.parentHash).toBe((await n.getBlock(0)).hash);
    expect(block.transactions).toHaveLength(1);
    expect(block.receipts).toHaveLength(1);
    expect(n.head()).toEqual({ height: 1, hash: block.hash, stateRoot: block.stateRoot, mempoolSize: 0 });

    const st = await n.getTransaction(hash.toUpperCase().replace('0X', '0x'));
    expect(st).toMatchObject({ txHash: hash, status: TxStatus.TX_STATUS_FINAL, homeShard: SHARD, crossShard: false, blockHeight: 1 });
    expect(st.receipt).toMatchObject({ txHash: hash, success: true, gasUsed: 21_000, blockHeight: 1, blockHash: block.hash, txIndex: 0, effectiveGasPrice: String(BASE_FEE + 7n) });

    expect(await balance(n, alice.address)).toBe(a0 - 12_345n - 21_000n * (BASE_FEE + 7n));
    expect(await balance(n, bob.address)).toBe(b0 + 12_345n);
    expect(await balance(n, COINBASE)).toBe(c0 + 21_000n * 7n);
    expect(await n.getAccount(alice.address)).toMatchObject({ nonce: 1, blockHeight: 1 });
  });

  it('reports INCLUDED while the block holding a transaction is being produced', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const raw = sign(alice, { nonce: 0n });
    const { txHash } = await n.submit(raw);
    const producing = n.produceBlock();
    expect((await n.getTransaction(txHash)).status).toBe(TxStatus.TX_STATUS_INCLUDED);
    // The executing transaction still counts for nonce checks of new submissions.
    await expect(n.submit(sign(alice, { nonce: 0n, value: 1n }))).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    await n.submit(sign(alice, { nonce: 1n }));
    await producing;
    expect((await n.getTransaction(txHash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    const b2 = await n.produceBlock();
    expect(b2.receipts).toHaveLength(1);
    expect((await n.getAccount(alice.address)).nonce).toBe(2);
  });

  it('answers ALREADY_EXISTS for a duplicate, queued or included', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const raw = sign(alice, { nonce: 0n });
    await n.submit(raw);
    const queued = await rejection(n.submit(raw));
    expect(queued.code).toBe(ErrorCode.AlreadyExists);
    expect(queued.message).toMatch(/already submitted/);
    await n.produceBlock();
    expect((await rejection(n.submit(raw))).code).toBe(ErrorCode.AlreadyExists);
    expect(n.head().mempoolSize).toBe(0);
  });

  it('refuses a sender placed on another shard with FAILED_PRECONDITION', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const sender = remote[0]!;
    const err = await rejection(n.submit(signTransaction(common, sender, { to: bob.address, nonce: 0n })));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toContain(`sender ${sender.address} is placed on shard ${shardOf(placement, sender.address)}, not shard 0`);
    expect(n.head().mempoolSize).toBe(0);
  });

  it('refuses a value transfer to another shard with UNIMPLEMENTED when it has no orchestrator (no forwarder)', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const to = remote[0]!.address;
    const err = await rejection(n.submit(sign(alice, { nonce: 0n, to })));
    expect(err.code).toBe(ErrorCode.Unimplemented);
    expect(err.message).toMatch(new RegExp(`sends value to ${to} on shard ${shardOf(placement, to)}, and this shard has no orchestrator`));
    expect(n.head().mempoolSize).toBe(0);
  });

  it('refuses a contract creation whose address lands on another shard with UNIMPLEMENTED', async () => {
    const creator = local.find((a) => shardOf(placement, createContractAddress(createAddressFromString(a.address), 0n).toString()) !== SHARD);
    expect(creator).toBeDefined();
    const created = createContractAddress(createAddressFromString(creator!.address), 0n).toString();
    const n = await node(await ShardStore.open(new MemoryKV()));
    const raw = signTransaction(common, creator!, { nonce: 0n, gasLimit: 100_000n, data: Uint8Array.from([0x00]) });
    const err = await rejection(n.submit(raw));
    expect(err.code).toBe(ErrorCode.Unimplemented);
    expect(err.message).toContain(`creates a contract at ${created}, placed on shard ${shardOf(placement, created)}`);

    // With the created address placed on this shard, the same creation is local and succeeds.
    const pinned = createPlacement(4, 2, [[created, SHARD]]);
    const n2 = await node(await ShardStore.open(new MemoryKV()), { placement: pinned });
    const { txHash } = await n2.submit(raw);
    await n2.produceBlock();
    const st = await n2.getTransaction(txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(st.receipt!.contractAddress).toBe(created);
  });

  it('pipelines nonces: 0, 1, 2 queued before a block; 4 too high; a reused nonce too low', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const hashes: string[] = [];
    for (const nonce of [0n, 1n, 2n]) hashes.push((await n.submit(sign(alice, { nonce }))).txHash);
    const high = await rejection(n.submit(sign(alice, { nonce: 4n })));
    expect(high.code).toBe(ErrorCode.FailedPrecondition);
    expect(high.message).toMatch(/nonce too high: transaction nonce 4, next nonce of .* is 3/);
    const low = await rejection(n.submit(sign(alice, { nonce: 1n, value: 1n })));
    expect(low.code).toBe(ErrorCode.FailedPrecondition);
    expect(low.message).toMatch(/nonce too low: transaction nonce 1, .* is 3/);

    const b = await n.produceBlock();
    expect(b.receipts.map((r) => r.txHash)).toEqual(hashes);
    expect(b.receipts.every((r) => r.success)).toBe(true);
    expect(b.receipts.map((r) => r.cumulativeGasUsed)).toEqual([21_000, 42_000, 63_000]);
    expect((await n.getAccount(alice.address)).nonce).toBe(3);
    // After the block the next nonce comes from state.
    await n.submit(sign(alice, { nonce: 3n }));
    expect((await rejection(n.submit(sign(alice, { nonce: 2n, value: 5n })))).message).toMatch(/nonce too low/);
  });

  it('refuses a fee cap below the base fee', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const err = await rejection(n.submit(sign(alice, { nonce: 0n, maxFeePerGas: BASE_FEE - 1n, maxPriorityFeePerGas: 0n })));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toMatch(/below the base fee/);
  });

  it('counts the cost of pending transactions against the balance', async () => {
    const poor = localKey(1);
    const maxCost = 1000n + 21_000n * 2_000_000_000n;
    const n = await node(await ShardStore.open(new MemoryKV()), { genesis: genesisAllocation(new Map([[poor.address, 2n * maxCost + 1n]])) });
    expect(await balance(n, poor.address)).toBe(2n * maxCost + 1n);
    await n.submit(sign(poor, { nonce: 0n }));
    await n.submit(sign(poor, { nonce: 1n }));
    const err = await rejection(n.submit(sign(poor, { nonce: 2n })));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toMatch(new RegExp(`insufficient funds: ${poor.address} has 1 wei available, the transaction may cost ${maxCost} wei`));
    // A cheaper transaction does not fit either while the two are pending...
    const cheap = { nonce: 2n, maxFeePerGas: BASE_FEE + 1n, maxPriorityFeePerGas: 1n };
    expect((await rejection(n.submit(sign(poor, cheap)))).message).toMatch(/has 1 wei available/);
    // ...but once they executed, only their actual cost is charged and the fee headroom is free again.
    await n.produceBlock();
    expect(await balance(n, poor.address)).toBe(2n * maxCost + 1n - 2n * (1000n + 21_000n * (BASE_FEE + 1n)));
    await n.submit(sign(poor, cheap));
  });

  it('maps bad inputs of the read methods to ShardLab errors', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    expect((await rejection(n.getAccount('0x1234'))).code).toBe(ErrorCode.InvalidArgument);
    expect((await rejection(n.getAccount(remote[0]!.address))).code).toBe(ErrorCode.FailedPrecondition);
    expect((await rejection(n.getTransaction('0xabc'))).code).toBe(ErrorCode.InvalidArgument);
    const unknown = await n.getTransaction('0x' + '77'.repeat(32));
    expect(unknown).toMatchObject({ status: TxStatus.TX_STATUS_UNKNOWN, homeShard: SHARD, receipt: undefined });
    const nf = await rejection(n.getBlock(1));
    expect(nf.code).toBe(ErrorCode.NotFound);
    expect(nf.message).toMatch(/no block at height 1 \(head is 0\)/);
    expect((await rejection(n.submit(new Uint8Array([0xde, 0xad])))).code).toBe(ErrorCode.InvalidArgument);
  });

  it('produces empty blocks that chain by parent hash', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const b1 = await n.produceBlock();
    const b2 = await n.produceBlock();
    expect(b2.parentHash).toBe(b1.hash);
    expect(b2.stateRoot).toBe(b1.stateRoot);
    expect(b2.hash).not.toBe(b1.hash);
    expect(b2.transactions).toEqual([]);
  });

  it('conserves ether: the shard total falls by exactly the burned base fees', async () => {
    const n = await node(await ShardStore.open(new MemoryKV()));
    const holders = [...local.map((a) => a.address), COINBASE];
    const total = async () => (await Promise.all(holders.map((a) => balance(n, a)))).reduce((x, y) => x + y, 0n);
    const before = await total();
    await n.submit(sign(alice, { nonce: 0n, to: bob.address, value: 10n ** 18n, maxPriorityFeePerGas: 3n }));
    await n.submit(sign(bob, { nonce: 0n, to: carol.address, value: 5n, legacyGasPrice: 2n * BASE_FEE }));
    await n.submit(sign(carol, { nonce: 0n, to: alice.address, value: 7n, maxFeePerGas: BASE_FEE + 2n, maxPriorityFeePerGas: 5n }));
    const b1 = await n.produceBlock();
    await n.submit(sign(alice, { nonce: 1n, to: carol.address, value: 1n }));
    const b2 = await n.produceBlock();
    const gas = BigInt(b1.gasUsed + b2.gasUsed);
    expect(gas).toBe(4n * 21_000n);
    expect(before - (await total())).toBe(gas * BASE_FEE);
  });

  it('is deterministic: two nodes fed the same transactions produce the same blocks', async () => {
    const txs = [sign(alice, { nonce: 0n }), sign(bob, { nonce: 0n, to: carol.address }), sign(alice, { nonce: 1n })];
    const run = async () => {
      const n = await node(await ShardStore.open(new MemoryKV()));
      const blocks: StateShardBlock[] = [];
      await n.submit(txs[0]!);
      await n.submit(txs[1]!);
      blocks.push(await n.produceBlock());
      await n.submit(txs[2]!);
      blocks.push(await n.produceBlock());
      return blocks.map((b) => [b.hash, b.stateRoot]);
    };
    expect(await run()).toEqual(await run());
  });

  it('keeps transactions queued and state unchanged when persisting a block fails, then retries them', async () => {
    class FlakyKV implements KV {
      readonly inner = new MemoryKV();
      failNext = false;
      get(key: string) {
        return this.inner.get(key);
      }
      async batch(ops: KVOp[]) {
        if (this.failNext) {
          this.failNext = false;
          throw new Error('disk full');
        }
        await this.inner.batch(ops);
      }
      entries(prefix: string, opts?: { after?: string; limit?: number }) {
        return this.inner.entries(prefix, opts);
      }
      close() {
        return this.inner.close();
      }
    }
    const kv = new FlakyKV();
    const store = await ShardStore.open(kv);
    const n = await node(store);
    const head0 = n.head();
    const a0 = await balance(n, alice.address);
    const { txHash } = await n.submit(sign(alice, { nonce: 0n }));

    kv.failNext = true;
    await expect(n.produceBlock()).rejects.toThrow('disk full');
    expect(n.head()).toEqual({ ...head0, mempoolSize: 1 });
    expect(store.pendingTrieWrites).toBe(0);
    expect((await n.getTransaction(txHash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    expect(await balance(n, alice.address)).toBe(a0);

    const b = await n.produceBlock();
    expect(b.height).toBe(1);
    expect(b.receipts.map((r) => r.txHash)).toEqual([txHash]);
    expect((await n.getTransaction(txHash)).status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(await balance(n, alice.address)).toBe(a0 - 1000n - 21_000n * (BASE_FEE + 1n));

    // Same result as a node that never failed.
    const clean = await node(await ShardStore.open(new MemoryKV()));
    await clean.submit(sign(alice, { nonce: 0n }));
    expect((await clean.produceBlock()).stateRoot).toBe(b.stateRoot);
  });

  it('admits the same way with sender recovery on a signature pool', async () => {
    const pool = new SignaturePool(1337, 1);
    try {
      const n = await node(await ShardStore.open(new MemoryKV()), { signaturePool: pool });
      const raws = [sign(alice, { nonce: 0n }), sign(alice, { nonce: 1n }), sign(bob, { nonce: 0n, to: carol.address })];
      const results = await Promise.all(raws.map((r) => n.submit(r)));
      expect(results.map((r) => r.txHash)).toEqual(raws.map((r) => decodeTransaction(r, common).hash));
      expect((await rejection(n.submit(Uint8Array.from([0xde, 0xad])))).code).toBe(ErrorCode.InvalidArgument);
      expect((await rejection(n.submit(signTransaction(common, remote[0]!, { to: bob.address, nonce: 0n })))).code).toBe(ErrorCode.FailedPrecondition);
      const b = await n.produceBlock();
      expect(b.receipts.map((r) => r.success)).toEqual([true, true, true]);
      expect((await n.getAccount(alice.address)).nonce).toBe(2);
    } finally {
      await pool.close();
    }
  });

  describe('subscribe', () => {
    it('yields genesis, then every new block in order, until aborted', async () => {
      const n = await node(await ShardStore.open(new MemoryKV()));
      const ac = new AbortController();
      const sub = n.subscribe(0, ac.signal);
      const first = await sub.next();
      expect(first.done).toBe(false);
      expect(first.value).toMatchObject({ height: 0 });

      const next1 = sub.next();
      await n.submit(sign(alice, { nonce: 0n }));
      const b1 = await n.produceBlock();
      expect((await next1).value).toEqual(b1);

      // Two blocks produced before the consumer asks: both delivered, in order.
      const b2 = await n.produceBlock();
      const b3 = await n.produceBlock();
      expect((await sub.next()).value).toEqual(b2);
      expect((await sub.next()).value).toEqual(b3);

      const pending = sub.next();
      ac.abort();
      expect(await pending).toEqual({ done: true, value: undefined });
      expect(await sub.next()).toEqual({ done: true, value: undefined });
    });

    it('starts from any stored height and ends when the node stops', async () => {
      const n = await node(await ShardStore.open(new MemoryKV()));
      for (let i = 0; i < 3; i++) await n.produceBlock();
      const heights: number[] = [];
      const ac = new AbortController();
      const sub = n.subscribe(2, ac.signal);
      heights.push((await sub.next()).value!.height);
      heights.push((await sub.next()).value!.height);
      expect(heights).toEqual([2, 3]);
      const pending = sub.next();
      await n.stop();
      expect((await pending).done).toBe(true);
    });

    it('ends at once when the signal is already aborted or the node already stopped', async () => {
      const n = await node(await ShardStore.open(new MemoryKV()));
      const ac = new AbortController();
      ac.abort();
      expect(await n.subscribe(0, ac.signal).next()).toEqual({ done: true, value: undefined });
      await n.stop();
      expect(await n.subscribe(0, new AbortController().signal).next()).toEqual({ done: true, value: undefined });
    });
  });

  describe('restart on LevelDB', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shardlab-node-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('resumes at the stored head with the same state root, balances and receipts', async () => {
      const store = await ShardStore.open(await LevelKV.open(dir));
      const n1 = await node(store);
      const genesisHash = n1.head().hash;
      const { txHash } = await n1.submit(sign(alice, { nonce: 0n, value: 777n }));
      await n1.produceBlock();
      await n1.submit(sign(bob, { nonce: 0n, to: carol.address, value: 5n }));
      await n1.produceBlock();
      const head = n1.head();
      const balances = await Promise.all([alice, bob, carol].map((a) => n1.getAccount(a.address)));
      await n1.stop();
      await store.close();

      const store2 = await ShardStore.open(await LevelKV.open(dir));
      try {
        // A different genesis must not matter: the stored chain wins.
        const n2 = await node(store2, { genesis: new Map() });
        expect(n2.head()).toEqual(head);
        expect(n2.head().height).toBe(2);
        expect((await n2.getBlock(0)).hash).toBe(genesisHash);
        expect(await Promise.all([alice, bob, carol].map((a) => n2.getAccount(a.address)))).toEqual(balances);
        expect(await n2.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_FINAL, blockHeight: 1 });
        expect((await rejection(n2.submit(sign(alice, { nonce: 0n, value: 777n })))).code).toBe(ErrorCode.AlreadyExists);
        // And continues the chain from there.
        await n2.submit(sign(alice, { nonce: 1n }));
        const b3 = await n2.produceBlock();
        expect(b3).toMatchObject({ height: 3, parentHash: head.hash });
        expect(b3.receipts[0]!.success).toBe(true);
        await n2.stop();
      } finally {
        await store2.close();
      }
    });
  });

  it('hex-encodes the coinbase with the shard id as its last byte', () => {
    expect(shardCoinbase(0)).toBe('0x' + '00'.repeat(20));
    expect(shardCoinbase(3)).toBe('0x' + '00'.repeat(19) + '03');
    expect(shardCoinbase(255)).toBe('0x' + '00'.repeat(19) + 'ff');
    expect(toHex(createAddressFromString(shardCoinbase(17)).bytes)).toBe(shardCoinbase(17));
  });
});

describe('orchestrator blocks taken by a block in progress', () => {
  it('count in the cursor: re-delivered after a resubscription they are ignored, not processed twice', async () => {
    const { Network } = await import('./protocol-harness');
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement: createPlacement(2) });
    await net.orchestratorBlock();
    await net.orchestratorBlock();
    const shard = net.shards[1]!;
    await net.deliverOrchestratorBlocks();
    expect(shard.orchestratorCursor()).toBe(2);
    const producing = shard.produceBlock(); // takes orchestrator blocks 1 and 2 at once
    expect(shard.orchestratorCursor()).toBe(2);
    // A resubscription from the cursor while the block is in progress: 1 and 2 again, then 3.
    shard.enqueueOrchestratorBlock(await net.orchestrator.getBlock(1));
    shard.enqueueOrchestratorBlock(await net.orchestrator.getBlock(2));
    await net.orchestratorBlock();
    shard.enqueueOrchestratorBlock(await net.orchestrator.getBlock(3));
    expect((await producing).orchestratorHeight).toBe(2);
    expect(shard.orchestratorCursor()).toBe(3);
    const next = await shard.produceBlock();
    expect(next.orchestratorHeight).toBe(3);
  });
});
