import type { AuditInput } from '@shardlab/audit';
import {
  createChainCommon,
  createPlacement,
  shardOf,
  signTransaction,
  toProtoTransaction,
  type DevAccount,
  type Placement,
  type TxRequest,
} from '@shardlab/chain';
import { OrchestratorNode } from '@shardlab/orchestrator';
import { SystemTxKind, type SimulateResponse, type StateShardBlock, type Transaction } from '@shardlab/proto';
import { simulateWithLocks, type LockClient, type LockedSimulateOpts, type StateSource } from '@shardlab/simulator';
import { MemoryKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { createShardNode, type Forwarder, type ShardNode, type ShardNodeOpts } from '../src';

/** Options of {@link createNetwork}. */
export interface NetworkOpts {
  shardCount: number;
  /** Genesis allocation of the whole network (address → wei). */
  genesis: ReadonlyMap<string, bigint>;
  placement?: Placement;
  voteTimeoutBlocks?: number;
  /** Extra options of every shard node. */
  shardOpts?: Partial<ShardNodeOpts>;
  /**
   * Gives the orchestrator an in-process simulator (`simulate` of @shardlab/simulator over the
   * shard nodes' GetProof/GetCode at their current heads), so cross-shard contract calls work.
   * A function wraps it (e.g. to corrupt the RwSet); `true` uses it as is.
   */
  simulator?: boolean | ((tx: Transaction, real: (tx: Transaction) => Promise<SimulateResponse>) => Promise<SimulateResponse>);
}

/**
 * A deterministic in-memory sharded network: state shards and one orchestrator on MemoryKV
 * stores, wired without network or timers. Blocks move only when a test says so: the
 * orchestrator produces a block, every shard catches up on orchestrator blocks from its cursor
 * (as its subscription would), every shard produces a block, and the orchestrator catches up on
 * each shard's blocks from its cursor. Nodes can be re-created on their stores (a crash) at any
 * point between those moves.
 */
export class Network {
  readonly common = createChainCommon();
  readonly placement: Placement;
  readonly shards: ShardNode[] = [];
  orchestrator!: OrchestratorNode;
  /** Whether the orchestrator reads each shard's blocks (false: its votes are lost in transit). */
  readonly feedOrchestrator: boolean[];
  readonly clock = { ms: 1_700_000_000_000 };
  /** Each shard's store (a test may make a write fail). */
  readonly shardKvs: MemoryKV[];
  private readonly orchestratorKv = new MemoryKV();
  readonly forwarder: Forwarder;

  private constructor(readonly opts: NetworkOpts) {
    this.placement = opts.placement ?? createPlacement(opts.shardCount);
    this.shardKvs = Array.from({ length: opts.shardCount }, () => new MemoryKV());
    this.feedOrchestrator = Array.from({ length: opts.shardCount }, () => true);
    this.forwarder = {
      forward: async (d, homeShard, involvedShards) => {
        await this.orchestrator.forward({ tx: toProtoTransaction(d), homeShard, involvedShards, rwSet: undefined, traceContext: {} });
        const hold = this.hold;
        if (hold) {
          hold.forwarded();
          await hold.released;
        }
      },
    };
  }

  private hold: { released: Promise<void>; forwarded: () => void } | undefined;

  /**
   * Holds back the orchestrator's answers to forwards from now on (the orchestrator has the
   * transaction, the shard does not know yet, so its mempool entry is not ready). `forwarded`
   * resolves when a forward reached the orchestrator; `release` delivers the held answers.
   */
  holdForwardAnswers(): { forwarded: Promise<void>; release: () => void } {
    let release!: () => void;
    let forwarded!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (forwarded = r));
    this.hold = { released, forwarded };
    return {
      forwarded: reached,
      release: () => {
        this.hold = undefined;
        release();
      },
    };
  }

  static async create(opts: NetworkOpts): Promise<Network> {
    const net = new Network(opts);
    for (let s = 0; s < opts.shardCount; s++) net.shards.push(await net.openShard(s));
    await net.restartOrchestrator();
    return net;
  }

  private now = () => this.clock.ms;

  private async openShard(shardId: number): Promise<ShardNode> {
    return createShardNode({
      shardId,
      placement: this.placement,
      common: this.common,
      store: await ShardStore.open(this.shardKvs[shardId]!),
      logger: silentLogger(),
      genesis: this.opts.genesis,
      now: this.now,
      forwarder: this.forwarder,
      ...this.opts.shardOpts,
    });
  }

  /** Re-creates shard `shardId` on its store (a crash: mempool and queued orchestrator blocks are lost). */
  async restartShard(shardId: number): Promise<ShardNode> {
    const n = await this.openShard(shardId);
    this.shards[shardId] = n;
    return n;
  }

  /** A StateSource over the shard nodes, each shard pinned at its head when first read. */
  stateSource(): StateSource {
    const pins = new Map<number, number>();
    const pin = (s: number) => {
      if (!pins.has(s)) pins.set(s, this.shards[s]!.head().height);
      return pins.get(s)!;
    };
    return {
      getAccount: (a, slots) => {
        const s = this.shardOf(a);
        return this.shards[s]!.getProof(a, slots, pin(s));
      },
      getCode: async (a) => (await this.shards[this.shardOf(a)]!.getCode(a)).code,
    };
  }

  /**
   * Most shard blocks produced while a lock request waits (as shards go on producing blocks while
   * a simulation waits; here nothing else moves, since the orchestrator's blocks wait for
   * simulations), each 100 ms of the network's clock; then the request's own wait bound decides.
   */
  lockWaitBlocks = 20;

  /**
   * Settles `p` while shards go on producing blocks (at most {@link lockWaitBlocks}, each 100 ms
   * of the network's clock), as they do while a simulation waits on a real network.
   */
  private async whileProducing<T>(p: Promise<T>): Promise<T> {
    let done = false;
    const watched = p.finally(() => (done = true));
    watched.catch(() => undefined);
    for (let i = 0; i < this.lockWaitBlocks; i++) {
      await new Promise((r) => setImmediate(r));
      if (done) break;
      this.clock.ms += 100;
      for (const s of this.shards) await s.produceBlock();
    }
    return watched;
  }

  /** The simulator's lock calls over the shard nodes (see {@link lockWaitBlocks}). */
  lockClient(): LockClient {
    return {
      acquire: async (shardId, txHash, keys, ttlMs, waitMs) => (await this.whileProducing(this.shards[shardId]!.acquireLocks(txHash, keys, ttlMs, waitMs))).values,
      release: async (shardId, txHash) => {
        await this.shards[shardId]!.releaseSimulationLocks(txHash);
      },
      senderReady: async (shardId, txHash, waitMs) => {
        await this.whileProducing(this.shards[shardId]!.acquireLocks(txHash, [], undefined, waitMs));
      },
    };
  }

  /** Options of the in-process simulator (a test may change them); the wait bound is real time, short. */
  readonly simulatorOpts: Partial<LockedSimulateOpts> = { lockWaitMs: 1000 };

  /** Simulates a transaction in process over the shards' current state, under locks (as the simulator does). */
  simulate = (tx: Transaction): Promise<SimulateResponse> =>
    simulateWithLocks(tx, () => this.stateSource(), this.lockClient(), { common: this.common, now: this.now, ...this.simulatorOpts });

  /** Re-creates the orchestrator on its store (a crash: votes read since its last block are lost). */
  async restartOrchestrator(): Promise<OrchestratorNode> {
    const sim = this.opts.simulator;
    this.orchestrator = await OrchestratorNode.create({
      ...(sim ? { simulate: typeof sim === 'function' ? (tx: Transaction) => sim(tx, this.simulate) : this.simulate, simulationRetryMs: 1 } : {}),
      kv: this.orchestratorKv,
      logger: silentLogger(),
      shardCount: this.opts.shardCount,
      shardOf: (a) => shardOf(this.placement, a),
      now: this.now,
      ...(this.opts.voteTimeoutBlocks !== undefined ? { voteTimeoutBlocks: this.opts.voteTimeoutBlocks } : {}),
    });
    return this.orchestrator;
  }

  /** The shard an address is placed on. */
  shardOf(address: string): number {
    return shardOf(this.placement, address);
  }

  /** The node of the shard holding `address`. */
  home(address: string): ShardNode {
    return this.shards[this.shardOf(address)]!;
  }

  /** Signs `req` with `from`'s key and submits it to `from`'s home shard. */
  submit(from: DevAccount, req: TxRequest) {
    return this.home(from.address).submit(signTransaction(this.common, from, req));
  }

  /** Produces one orchestrator block (once the simulations in progress are over). */
  async orchestratorBlock() {
    await this.orchestrator.simulationsSettled();
    this.clock.ms += 100;
    return this.orchestrator.produceBlock();
  }

  /** Hands every shard the orchestrator blocks after its cursor (as its subscription would). */
  async deliverOrchestratorBlocks(): Promise<void> {
    const head = this.orchestrator.headInfo().height;
    for (const s of this.shards) {
      for (let h = s.orchestratorCursor() + 1; h <= head; h++) s.enqueueOrchestratorBlock(await this.orchestrator.getBlock(h));
    }
  }

  /** Produces one block on every shard. */
  async shardBlocks(): Promise<StateShardBlock[]> {
    this.clock.ms += 100;
    const out: StateShardBlock[] = [];
    for (const s of this.shards) out.push(await s.produceBlock());
    return out;
  }

  /** Hands the orchestrator every shard block after its cursor, for the shards it is fed. */
  async deliverShardBlocks(): Promise<void> {
    for (const s of this.shards) {
      if (!this.feedOrchestrator[s.shardId]) continue;
      const head = s.head().height;
      for (let h = this.orchestrator.shardCursor(s.shardId) + 1; h <= head; h++) this.orchestrator.onShardBlock(s.shardId, await s.getBlock(h));
    }
  }

  /** One round: an orchestrator block, delivered; a block on every shard, delivered. */
  async step(times = 1): Promise<void> {
    for (let i = 0; i < times; i++) {
      await this.orchestratorBlock();
      await this.deliverOrchestratorBlocks();
      await this.shardBlocks();
      await this.deliverShardBlocks();
    }
  }

  /** True when no cross-shard transaction is in flight and every mempool is empty. */
  quiet(): boolean {
    return this.orchestrator.inFlight() === 0 && this.shards.every((s) => s.head().mempoolSize === 0);
  }

  /** Steps until {@link quiet}, at most `max` rounds; returns the rounds taken. */
  async settle(max = 30): Promise<number> {
    for (let i = 1; i <= max; i++) {
      await this.step();
      if (this.quiet()) return i;
    }
    throw new Error(`network did not settle in ${max} rounds (${this.orchestrator.inFlight()} in flight)`);
  }

  /** Every block of shard `s`, genesis first. */
  async blocks(s: number): Promise<StateShardBlock[]> {
    const n = this.shards[s]!;
    const out: StateShardBlock[] = [];
    for (let h = 0; h <= n.head().height; h++) out.push(await n.getBlock(h));
    return out;
  }

  /** Kinds of the system transactions serving `txHash` on shard `s`, in block order ('LOCK', 'DEBIT', ...). */
  async systemOps(s: number, txHash: string): Promise<string[]> {
    const kinds: string[] = [];
    for (const b of await this.blocks(s)) {
      for (const t of b.transactions) {
        if (t.kind?.$case === 'system' && t.kind.value.txHash === txHash) kinds.push(SystemTxKind[t.kind.value.kind].replace('SYSTEM_TX_KIND_', ''));
      }
    }
    return kinds;
  }

  /** Every account of every shard (ListAccounts), address → balance and locked amount. */
  async accounts(): Promise<Map<string, { balance: bigint; locked: bigint; nonce: number; shardId: number }>> {
    const out = new Map<string, { balance: bigint; locked: bigint; nonce: number; shardId: number }>();
    for (const s of this.shards) {
      let token = '';
      do {
        const page = await s.listAccounts(token, 10_000);
        for (const a of page.accounts) out.set(a.address, { balance: BigInt(a.balance), locked: BigInt(a.locked), nonce: a.nonce, shardId: a.shardId });
        token = page.nextPageToken;
      } while (token !== '');
    }
    return out;
  }

  /** Σ balances over every shard, in wei. */
  async totalBalance(): Promise<bigint> {
    let sum = 0n;
    for (const a of (await this.accounts()).values()) sum += a.balance;
    return sum;
  }

  /** Σ gasUsed × baseFee over every receipt of every shard: the ether the fee rules burned. */
  async burned(): Promise<bigint> {
    let sum = 0n;
    for (let s = 0; s < this.shards.length; s++) {
      for (const b of await this.blocks(s)) for (const r of b.receipts) sum += BigInt(r.gasUsed) * BigInt(b.baseFeePerGas);
    }
    return sum;
  }

  /** Σ of the genesis allocation. */
  /** Everything the audit reads (docs/ARCHITECTURE.md §5): every shard's blocks and accounts, and the orchestrator's blocks. */
  async auditInput(): Promise<AuditInput> {
    const shards = [];
    for (let s = 0; s < this.shards.length; s++) {
      const accounts = (await this.shards[s]!.listAccounts('', 10_000)).accounts;
      shards.push({ shardId: s, blocks: await this.blocks(s), accounts });
    }
    const head = this.orchestrator.headInfo().height;
    const orchestratorBlocks = [];
    for (let h = 0; h <= head; h++) orchestratorBlocks.push(await this.orchestrator.getBlock(h));
    const protocol = this.opts.shardOpts?.protocol;
    const lockTimeoutBlocks = this.opts.shardOpts?.lockTimeoutBlocks;
    return { shards, orchestratorBlocks, ...(protocol ? { protocol } : {}), ...(lockTimeoutBlocks !== undefined ? { lockTimeoutBlocks } : {}) };
  }

  genesisTotal(): bigint {
    let sum = 0n;
    for (const v of this.opts.genesis.values()) sum += v;
    return sum;
  }
}
