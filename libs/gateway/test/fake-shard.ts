// A fake state shard for gateway tests (a real gRPC StateShardService over an in-memory mempool), with blocks that can carry shard-led evidence
import { errors } from '@shardlab/common';
import { createChainCommon, decodeTransaction, shardOf, toProtoTransaction, type Placement } from '@shardlab/chain';
import {
  Decision,
  type CrossShardReceipt,
  type GetDecisionResponse,
  type Receipt,
  type SubmitTransactionResponse,
  StateShardServiceService,
  SystemTxKind,
  TxStatus,
  type StateShardBlock,
  type StateShardServiceServer,
  type SystemTransaction,
  type TransactionStatus,
} from '@shardlab/proto';
import { serverStream, settleItems, startServer, unary, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

const hex32 = (n: number) => '0x' + n.toString(16).padStart(64, '0');

/**
 * What a fake block carries besides the queued transactions it includes (shard-led evidence):
 * system transactions before them (e.g. RECEIPT_CREDIT), transactions of senders placed on other
 * shards executed here (a shard-led call on its contract's shard, with receipt fields), and
 * outgoing receipts (e.g. a CALL_RESULT); and the cross-shard decisions it applies (block-2PC:
 * GetDecision answers them, with this block's height, from the moment the block is produced).
 */
export interface FakeBlockExtras {
  system?: SystemTransaction[];
  executed?: Array<{ raw: Uint8Array; receipt?: Partial<Receipt> }>;
  outgoingReceipts?: CrossShardReceipt[];
  decisions?: Array<{ txHash: string; decision: Decision }>;
}

/** A RECEIPT_CREDIT system transaction of `txHash`: `amount` wei to `address`. */
export function receiptCredit(txHash: string, address: string, amount = '1'): SystemTransaction {
  return { kind: SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT, txHash, address, amount, writes: [] };
}

/**
 * A state shard for gateway tests: a real gRPC server implementing StateShardService over an
 * in-memory mempool with the contract's behaviour (QUEUED on submit, nonce checks, duplicates,
 * UNKNOWN for unknown hashes, wrong-shard accounts refused). A cross-shard transaction (recipient
 * on another shard) is refused with UNIMPLEMENTED unless `onCrossShard` is set: then it is
 * accepted (nonce consumed), handed to `onCrossShard` (the orchestrator's ForwardTransaction) and
 * answered `crossShard: true, PENDING`; it goes into the next block like a local one (its fee is
 * charged there), and GetTransaction reports it with `crossShard: true`. Blocks are produced only
 * when the test calls `produceBlock`, which can add shard-led evidence ({@link FakeBlockExtras}).
 */
export class FakeShard {
  server: RunningServer | undefined;
  readonly txs = new Map<string, TransactionStatus>();
  readonly submitted: string[] = [];
  /** Number of items of each SubmitTransactions call received, in order. */
  readonly submitBatches: number[] = [];
  /** Number of (unary) SubmitTransaction calls received. */
  submitTransactionCalls = 0;
  readonly subscribeFrom: number[] = [];
  readonly getTransactionCalls = new Map<string, number>();
  /** Heights asked with GetBlock, in order. */
  readonly getBlockCalls: number[] = [];
  /** Decisions applied by this shard's blocks (see {@link FakeBlockExtras.decisions}), for GetDecision. */
  readonly decisions = new Map<string, GetDecisionResponse>();
  /** Number of GetDecision calls per hash. */
  readonly getDecisionCalls = new Map<string, number>();
  /** When set, GetDecision fails with it (a shard that cannot answer). */
  getDecisionError: Error | undefined;
  /** Called after the n-th (1-based) GetTransaction of a hash computed its answer. */
  onGetTransaction: ((txHash: string, n: number) => void) | undefined;
  /** Accepts cross-shard transactions and forwards them here (the orchestrator), when set. */
  onCrossShard: ((txHash: string, homeShard: number) => void) | undefined;
  private readonly crossShard = new Set<string>();
  private readonly nonces = new Map<string, bigint>();
  private readonly blocks: StateShardBlock[];
  private readonly pending = new Map<string, ReturnType<typeof decodeTransaction>>();
  private readonly listeners = new Set<() => void>();
  private liveStreams = 0;
  private stopped = false;
  private streamsBroken = 0;
  private readonly common = createChainCommon({ chainId: 1337 });

  constructor(
    readonly shardId: number,
    private readonly placement: Placement,
  ) {
    this.blocks = [this.block(0, [])];
  }

  /** Height of the last block. */
  get head(): number {
    return this.blocks.length - 1;
  }

  /** Open SubscribeBlocks streams. */
  get subscribers(): number {
    return this.liveStreams;
  }

  /** `host:port` once started. */
  get address(): string {
    if (!this.server) throw new Error('fake shard not started');
    return this.server.address;
  }

  async start(): Promise<this> {
    const logger = silentLogger();
    this.server = await startServer({
      port: 0,
      services: [{ name: 'shardlab.v1.StateShardService', definition: StateShardServiceService, implementation: this.implementation() }],
      logger,
    });
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const l of [...this.listeners]) l();
    await this.server?.close(500);
    this.server = undefined;
  }

  /** Accepts a raw transaction as SubmitTransaction would (used to bypass the gateway). */
  submit(raw: Uint8Array): TransactionStatus {
    const d = decodeTransaction(raw, this.common);
    if (shardOf(this.placement, d.from) !== this.shardId) {
      throw errors.failedPrecondition(`sender ${d.from} is not placed on shard ${this.shardId}`);
    }
    if (this.txs.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} is already known`);
    const expected = this.nonces.get(d.from) ?? 0n;
    if (d.nonce < expected) throw errors.failedPrecondition(`nonce too low: transaction nonce ${d.nonce}, next nonce of ${d.from} is ${expected}`);
    if (d.nonce > expected) throw errors.failedPrecondition(`nonce too high: transaction nonce ${d.nonce}, next nonce of ${d.from} is ${expected}`);
    const cross = d.to !== undefined && shardOf(this.placement, d.to) !== this.shardId;
    if (cross && !this.onCrossShard) throw errors.unimplemented('cross-shard transactions are not supported yet');
    this.nonces.set(d.from, expected + 1n);
    const status: TransactionStatus = {
      txHash: d.hash,
      status: TxStatus.TX_STATUS_QUEUED,
      homeShard: this.shardId,
      crossShard: cross,
      blockHeight: 0,
      receipt: undefined,
      reason: '',
      updatedAtMs: Date.now(),
      applied: false,
      involvedShards: [],
    };
    this.txs.set(d.hash, status);
    this.pending.set(d.hash, d);
    this.submitted.push(d.hash);
    if (cross) {
      this.crossShard.add(d.hash);
      this.onCrossShard?.(d.hash, this.shardId);
    }
    return status;
  }

  /**
   * Produces a durable block holding the given queued transactions, and `extras`. Queued
   * transactions become FINAL (cross-shard ones keep `crossShard`); one executed for another
   * shard's sender is answered as a shard-led contract shard does (PENDING, cross-shard, its
   * sender's home shard, this receipt); a cross-shard transaction of this shard whose receipt the
   * block credits becomes COMMITTED, as a shard-led home crediting a call's result.
   */
  produceBlock(txHashes: string[], extras: FakeBlockExtras = {}): StateShardBlock {
    const height = this.blocks.length;
    const block = this.block(height, txHashes, extras);
    this.blocks.push(block);
    for (const r of block.receipts) {
      const entry = block.transactions[r.txIndex]?.kind;
      const from = entry?.$case === 'user' ? entry.value.from : '';
      const home = from ? shardOf(this.placement, from) : this.shardId;
      this.txs.set(r.txHash, {
        txHash: r.txHash,
        status: home === this.shardId ? TxStatus.TX_STATUS_FINAL : TxStatus.TX_STATUS_PENDING,
        homeShard: home,
        crossShard: home !== this.shardId || this.crossShard.has(r.txHash),
        blockHeight: height,
        receipt: r,
        reason: '',
        updatedAtMs: block.timestampMs,
        applied: false,
        involvedShards: [],
      });
    }
    for (const d of extras.decisions ?? []) this.decisions.set(d.txHash, { decision: d.decision, height });
    for (const t of extras.system ?? []) {
      const st = this.txs.get(t.txHash);
      if (t.kind === SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT && st && this.crossShard.has(t.txHash)) this.txs.set(t.txHash, { ...st, status: TxStatus.TX_STATUS_COMMITTED });
    }
    for (const l of [...this.listeners]) l();
    return block;
  }

  /** Ends every open SubscribeBlocks stream with UNAVAILABLE. */
  breakStreams(): void {
    this.streamsBroken++;
    for (const l of [...this.listeners]) l();
  }

  private block(height: number, txHashes: string[], extras: FakeBlockExtras = {}): StateShardBlock {
    const txs = txHashes.map((h) => {
      const d = this.pending.get(h);
      if (!d) throw new Error(`unknown queued transaction ${h}`);
      this.pending.delete(h);
      return d;
    });
    const system = extras.system ?? [];
    const executed = (extras.executed ?? []).map((e) => ({ d: decodeTransaction(e.raw, this.common), receipt: e.receipt ?? {} }));
    const users = [...executed, ...txs.map((d) => ({ d, receipt: {} as Partial<Receipt> }))];
    return {
      shardId: this.shardId,
      height,
      hash: hex32(1000 * this.shardId + height),
      parentHash: height === 0 ? hex32(0) : hex32(1000 * this.shardId + height - 1),
      stateRoot: hex32(height),
      transactionsRoot: hex32(0),
      receiptsRoot: hex32(0),
      timestampMs: 1_700_000_000_000 + height,
      gasUsed: 21_000 * users.length,
      transactions: [
        ...system.map((value) => ({ kind: { $case: 'system' as const, value } })),
        ...users.map(({ d }) => ({ kind: { $case: 'user' as const, value: toProtoTransaction(d) } })),
      ],
      receipts: users.map(({ d, receipt }, i) => ({
        txHash: d.hash,
        shardId: this.shardId,
        blockHeight: height,
        blockHash: hex32(1000 * this.shardId + height),
        txIndex: system.length + i,
        success: true,
        gasUsed: 21_000,
        cumulativeGasUsed: 21_000 * (i + 1),
        effectiveGasPrice: '1000000001',
        contractAddress: '',
        logs: [],
        error: '',
        ...receipt,
      })),
      tpcPrepare: [],
      baseFeePerGas: '1000000000',
      orchestratorHeight: 0,
      outgoingReceipts: extras.outgoingReceipts ?? [],
      outgoingReceiptsRoot: '',
      decisions: [],
    };
  }

  private submitOne(raw: Uint8Array): SubmitTransactionResponse {
    const s = this.submit(raw);
    return s.crossShard
      ? { txHash: s.txHash, shardId: this.shardId, crossShard: true, status: TxStatus.TX_STATUS_PENDING, clientCoordinated: false }
      : { txHash: s.txHash, shardId: this.shardId, crossShard: false, status: s.status, clientCoordinated: false };
  }

  private implementation(): StateShardServiceServer {
    const log = silentLogger();
    return {
      submitTransaction: unary(log, 'SubmitTransaction', async (req) => {
        this.submitTransactionCalls++;
        return this.submitOne(req.rawTransaction);
      }),
      submitTransactions: unary(log, 'SubmitTransactions', async (req) => {
        this.submitBatches.push(req.transactions.length);
        return { results: (await settleItems(req.transactions, async (item) => this.submitOne(item.rawTransaction))).map((outcome) => ({ outcome })) };
      }),
      getAccount: unary(log, 'GetAccount', async (req) => {
        if (shardOf(this.placement, req.address) !== this.shardId) {
          throw errors.failedPrecondition(`account ${req.address} is not placed on shard ${this.shardId}`);
        }
        return {
          address: req.address,
          shardId: this.shardId,
          balance: (10n ** 24n).toString(),
          nonce: Number(this.nonces.get(req.address) ?? 0n),
          locked: '0',
          codeHash: hex32(0),
          blockHeight: this.head,
        };
      }),
      getTransaction: unary(log, 'GetTransaction', async (req) => {
        const n = (this.getTransactionCalls.get(req.txHash) ?? 0) + 1;
        this.getTransactionCalls.set(req.txHash, n);
        const status = this.txs.get(req.txHash) ?? {
          txHash: req.txHash,
          status: TxStatus.TX_STATUS_UNKNOWN,
          homeShard: 0,
          crossShard: false,
          blockHeight: 0,
          receipt: undefined,
          reason: '',
          updatedAtMs: 0,
          applied: false,
          involvedShards: [],
        };
        this.onGetTransaction?.(req.txHash, n);
        return status;
      }),
      getBlock: unary(log, 'GetBlock', async (req) => {
        if (req.height !== undefined) this.getBlockCalls.push(req.height);
        const block = this.blocks[req.height ?? this.head];
        if (!block) throw errors.notFound(`block ${req.height} not found on shard ${this.shardId}`);
        return block;
      }),
      getHead: unary(log, 'GetHead', async () => ({
        shardId: this.shardId,
        height: this.head,
        hash: this.blocks[this.head]!.hash,
        stateRoot: this.blocks[this.head]!.stateRoot,
        mempoolSize: this.pending.size,
      })),
      dryRunCall: unary(log, 'DryRunCall', async () => {
        throw errors.unimplemented('the fake shard runs no calls');
      }),
      subscribeReceipts: serverStream(log, 'SubscribeReceipts', async () => {
        throw errors.unimplemented('the fake shard has no receipt stream');
      }),
      subscribeBlocks: serverStream(log, 'SubscribeBlocks', async (req, send, ctx) => {
        this.subscribeFrom.push(req.fromHeight);
        this.liveStreams++;
        const broken = this.streamsBroken;
        try {
          let cursor = req.fromHeight;
          const checkBroken = () => {
            if (this.streamsBroken !== broken) throw errors.unavailable('block stream reset by the test');
          };
          for (;;) {
            checkBroken();
            while (cursor <= this.head && !ctx.signal.aborted) {
              await send(this.blocks[cursor++]!);
              checkBroken();
            }
            if (ctx.signal.aborted || this.stopped) return;
            await new Promise<void>((resolve) => {
              const wake = () => {
                this.listeners.delete(wake);
                ctx.signal.removeEventListener('abort', wake);
                resolve();
              };
              this.listeners.add(wake);
              ctx.signal.addEventListener('abort', wake, { once: true });
            });
          }
        } finally {
          this.liveStreams--;
        }
      }),
      getProof: unary(log, 'GetProof', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      getCode: unary(log, 'GetCode', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      releaseSimulationLocks: unary(log, 'ReleaseSimulationLocks', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      acquireLocks: unary(log, 'AcquireLocks', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      listAccounts: unary(log, 'ListAccounts', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      prepare: unary(log, 'Prepare', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      decide: unary(log, 'Decide', async () => {
        throw errors.unimplemented('not in the fake');
      }),
      getDecision: unary(log, 'GetDecision', async (req) => {
        this.getDecisionCalls.set(req.txHash, (this.getDecisionCalls.get(req.txHash) ?? 0) + 1);
        if (this.getDecisionError) throw this.getDecisionError;
        if (!/^0x[0-9a-f]{64}$/.test(req.txHash)) throw errors.invalidArgument(`tx_hash must be a 0x-prefixed 32-byte hex hash, got ${JSON.stringify(req.txHash)}`);
        return this.decisions.get(req.txHash) ?? { decision: Decision.DECISION_UNSPECIFIED, height: 0 };
      }),
    };
  }
}

