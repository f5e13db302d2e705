// Audit test fixtures: a synthetic network (blocks, accounts, orchestrator decisions) built as AuditInput, and helpers to corrupt it.
import {
  Account,
  BlockTransaction,
  Decision,
  OrchestratorBlock,
  StateShardBlock,
  SystemTxKind,
  Transaction,
  Vote,
  type AddressRwSet,
  type PrepareVote,
  type Receipt,
  type WriteSetItem,
} from '@shardlab/proto';
import { GENESIS_TX_HASH, type AuditInput } from '@shardlab/audit';

/** Base fee of every synthetic block, in wei (1 gwei, as the real network). */
export const BASE_FEE = 1_000_000_000n;
/** Priority fee paid to the coinbase, in wei per gas. */
export const TIP = 2_000_000_000n;
/** Gas used by every synthetic user transaction. */
export const GAS = 21_000;
/** One ether in wei. */
export const ETHER = 10n ** 18n;

const hex = (n: number | bigint, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

/** An address placed on `shard` (last byte = shard) and distinct per `n ≥ 1`. */
export function addressOn(shard: number, n: number): string {
  return `0x${hex(n, 19)}${hex(shard, 1)}`;
}

/** The coinbase of a shard: `0x00…00<shard>`. */
export function coinbaseOf(shard: number): string {
  return `0x${hex(shard, 20)}`;
}

interface CrossTx {
  hash: string;
  from: string;
  to: string;
  value: bigint;
  source: number;
  dest: number;
  orderedAt: number;
  sourceYes?: boolean;
  destYes?: boolean;
  commit?: boolean;
  decidedAt?: number;
}

/** Options of one cross-shard transfer in {@link NetBuilder.transfer}. */
export interface TransferOpts {
  /** The orchestrator's decision; default commit when both voted YES, else abort. */
  commit?: boolean;
  /** Source shard's vote (it locks when YES); default true. */
  sourceYes?: boolean;
  /** Destination shard's vote; default true. */
  destYes?: boolean;
}

/** Options of one cross-shard contract call in {@link NetBuilder.call}. */
export interface CallOpts {
  /** Value sent with the call, in wei; default 0. */
  value?: bigint;
  /** Gas used by the simulation (charged at acceptance); default 50,000. */
  gasUsed?: number;
  /**
   * Balance changes of addresses other than the sender (the recipient, third parties), in wei.
   * The sender's delta is derived: −fee − Σ these (value only moves).
   */
  deltas?: ReadonlyArray<readonly [string, bigint]>;
  /** Storage writes per address (slot → new value, 32-byte words). */
  writes?: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]>;
  /** Shards (other than the source) that vote NO. */
  no?: number[];
  /** The orchestrator's decision; default commit when nobody voted NO. */
  commit?: boolean;
}

/**
 * Builds a consistent synthetic network block by block, tracking balances and locks the way the
 * shards do: fees burn `GAS × BASE_FEE` and pay `GAS × TIP` to the shard's coinbase; a cross-shard
 * transfer goes through order (orchestrator block) → prepare (source: user tx + LOCK + vote;
 * destination: vote) → decision (orchestrator block) → apply (source: DEBIT or UNLOCK;
 * destination: CREDIT, or ABORT when it voted YES). Each step is its own block.
 */
export class NetBuilder {
  readonly shardCount: number;
  private readonly blocks: StateShardBlock[][] = [];
  private readonly orch: OrchestratorBlock[] = [];
  private readonly balances: Map<string, bigint>[] = [];
  private readonly locked: Map<string, bigint>[] = [];
  private readonly nonces = new Map<string, number>();
  private readonly shardOrch: number[] = [];
  private readonly cross = new Map<string, CrossTx>();
  private txCounter = 0;

  /** Genesis: block 0 of every shard credits `alloc` (address → wei) on the address's shard. */
  constructor(shardCount: number, alloc: ReadonlyArray<readonly [string, bigint]>) {
    this.shardCount = shardCount;
    for (let s = 0; s < shardCount; s++) {
      this.blocks.push([]);
      this.balances.push(new Map([[coinbaseOf(s), 0n]]));
      this.locked.push(new Map());
      this.shardOrch.push(0);
    }
    for (let s = 0; s < shardCount; s++) {
      const credits = alloc.filter(([a]) => this.shardOf(a) === s);
      for (const [a, v] of credits) this.balances[s]!.set(a, (this.balances[s]!.get(a) ?? 0n) + v);
      this.pushBlock(
        s,
        credits.map(([a, v]) => system(SystemTxKind.SYSTEM_TX_KIND_CREDIT, GENESIS_TX_HASH, a, v)),
      );
    }
    this.pushOrch({});
  }

  /** Shard of an address: last byte mod shard count. */
  shardOf(address: string): number {
    return parseInt(address.slice(-2), 16) % this.shardCount;
  }

  /** Current balance of an address, in wei. */
  balanceOf(address: string): bigint {
    return this.balances[this.shardOf(address)]!.get(address) ?? 0n;
  }

  /** A local transfer (both addresses on one shard) in a new block. */
  local(from: string, to: string, value: bigint): string {
    const s = this.shardOf(from);
    if (this.shardOf(to) !== s) throw new Error('local transfer across shards');
    const { entry, receipt } = this.userTx(from, to, value);
    this.move(s, from, -value);
    this.move(s, to, value);
    this.pushBlock(s, [entry], [receipt]);
    return receipt.txHash;
  }

  /** Orders a cross-shard transfer (orchestrator block with ct_to_order); returns its hash. */
  order(from: string, to: string, value: bigint): string {
    const hash = this.nextHash();
    const source = this.shardOf(from);
    const dest = this.shardOf(to);
    if (source === dest) throw new Error('cross-shard transfer within one shard');
    const tx = this.transaction(hash, from, to, value);
    const orderedAt = this.pushOrch({ ctToOrder: [{ tx, involvedShards: [source, dest], sourceShard: source, rwSet: undefined, traceContext: {} }] });
    this.cross.set(hash, { hash, from, to, value, source, dest, orderedAt });
    return hash;
  }

  /** Prepares an ordered transfer: source block (user tx, LOCK when YES, vote), destination block (vote). */
  prepare(hash: string, votes: { sourceYes?: boolean; destYes?: boolean } = {}): void {
    const c = this.get(hash);
    c.sourceYes = votes.sourceYes ?? true;
    c.destYes = votes.destYes ?? true;
    this.seeOrch(c.source, c.orderedAt);
    this.seeOrch(c.dest, c.orderedAt);
    const { entry, receipt } = this.userTx(c.from, c.to, c.value, hash);
    const txs = [entry];
    if (c.sourceYes) {
      txs.push(system(SystemTxKind.SYSTEM_TX_KIND_LOCK, hash, c.from, c.value));
      this.lock(c.source, c.from, c.value);
    }
    this.pushBlock(c.source, txs, [receipt], [vote(hash, c.sourceYes)]);
    this.pushBlock(c.dest, [], [], [vote(hash, c.destYes)]);
  }

  /** The orchestrator decides (orchestrator block with tpc_result). */
  decide(hash: string, commit: boolean): void {
    const c = this.get(hash);
    c.commit = commit;
    c.decidedAt = this.pushOrch({
      tpcResult: [
        {
          txHash: hash,
          decision: commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT,
          reason: commit ? '' : 'a shard voted NO',
          involvedShards: [c.source, c.dest],
          traceContext: {},
        },
      ],
    });
  }

  /** The source shard applies the decision: DEBIT (commit) or UNLOCK (abort, when it locked). */
  applySource(hash: string): void {
    const c = this.get(hash);
    this.seeOrch(c.source, c.decidedAt!);
    const txs: BlockTransaction[] = [];
    if (c.commit) {
      txs.push(system(SystemTxKind.SYSTEM_TX_KIND_DEBIT, hash, c.from, c.value));
      this.lock(c.source, c.from, -c.value);
      this.move(c.source, c.from, -c.value);
    } else if (c.sourceYes) {
      txs.push(system(SystemTxKind.SYSTEM_TX_KIND_UNLOCK, hash, c.from, c.value));
      this.lock(c.source, c.from, -c.value);
    }
    this.pushBlock(c.source, txs);
  }

  /** The destination shard applies the decision: CREDIT (commit) or ABORT (abort, when it voted YES). */
  applyDest(hash: string): void {
    const c = this.get(hash);
    this.seeOrch(c.dest, c.decidedAt!);
    const txs: BlockTransaction[] = [];
    if (c.commit) {
      txs.push(system(SystemTxKind.SYSTEM_TX_KIND_CREDIT, hash, c.to, c.value));
      this.move(c.dest, c.to, c.value);
    } else if (c.destYes) {
      txs.push(system(SystemTxKind.SYSTEM_TX_KIND_ABORT, hash, c.to, c.value));
    }
    this.pushBlock(c.dest, txs);
  }

  /** A whole cross-shard transfer: order, prepare, decide, apply on both sides. Returns its hash. */
  transfer(from: string, to: string, value: bigint, opts: TransferOpts = {}): string {
    const sourceYes = opts.sourceYes ?? true;
    const destYes = opts.destYes ?? true;
    const commit = opts.commit ?? (sourceYes && destYes);
    const hash = this.order(from, to, value);
    this.prepare(hash, { sourceYes, destYes });
    this.decide(hash, commit);
    this.applySource(hash);
    this.applyDest(hash);
    return hash;
  }

  /**
   * A whole cross-shard contract call, as the shards run it with the simulator's RwSet: order
   * (orchestrator block with the RwSet) → prepare (source: acceptance receipt charging
   * gasUsed × price, LOCK of the sender's outgoing amount, vote; every other involved shard:
   * vote) → decision → apply (source: DEBIT of the lock, its own addresses' WRITE_SETs and
   * CREDIT/DEBITs, a CREDIT refund when the call sends the sender more than the fee; other
   * shards: WRITE_SETs and CREDIT/DEBIT per address; abort: UNLOCK on the source, ABORT on
   * shards that voted YES). Returns its hash.
   */
  call(from: string, to: string, opts: CallOpts = {}): string {
    const hash = this.nextHash();
    const source = this.shardOf(from);
    const gas = opts.gasUsed ?? 50_000;
    const fee = BigInt(gas) * (BASE_FEE + TIP);
    const value = opts.value ?? 0n;
    const others = new Map<string, { delta: bigint; writes: WriteSetItem[] }>();
    const item = (a: string) => {
      let x = others.get(a);
      if (!x) others.set(a, (x = { delta: 0n, writes: [] }));
      return x;
    };
    item(to);
    for (const [a, d] of opts.deltas ?? []) item(a).delta += d;
    for (const [a, ws] of opts.writes ?? []) for (const [slot, newValue] of ws) item(a).writes.push({ slot, oldValue: '0x' + '00'.repeat(32), newValue });
    let othersSum = 0n;
    for (const x of others.values()) othersSum += x.delta;
    const senderDelta = -fee - othersSum;
    const addresses: AddressRwSet[] = [
      { address: from, shardId: source, reads: [], writes: [], balanceDelta: senderDelta.toString(), createdCode: '', balanceRead: true },
      ...[...others].map(([a, x]) => ({ address: a, shardId: this.shardOf(a), reads: [], writes: x.writes, balanceDelta: x.delta.toString(), createdCode: '', balanceRead: true })),
    ];
    const involved = [...new Set([source, ...addresses.map((a) => a.shardId)])].sort((a, b) => a - b);
    const tx = this.transaction(hash, from, to, value, 100_000);
    const orderedAt = this.pushOrch({
      ctToOrder: [{ tx, involvedShards: involved, sourceShard: source, rwSet: { referenceBlocks: [], addresses, logs: [], gasUsed: gas }, traceContext: {} }],
    });

    // Prepare: the source accepts (fee, lock), every other involved shard votes.
    const out = -senderDelta - fee;
    const lockAmount = out > 0n ? out : 0n;
    for (const s of involved) this.seeOrch(s, orderedAt);
    const { entry, receipt } = this.userTx(from, to, value, hash, gas, tx);
    this.lock(source, from, lockAmount);
    this.pushBlock(source, [entry, system(SystemTxKind.SYSTEM_TX_KIND_LOCK, hash, from, lockAmount)], [receipt], [vote(hash, true)]);
    const no = new Set(opts.no ?? []);
    for (const s of involved) if (s !== source) this.pushBlock(s, [], [], [vote(hash, !no.has(s))]);

    const commit = opts.commit ?? no.size === 0;
    const decidedAt = this.pushOrch({
      tpcResult: [{ txHash: hash, decision: commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT, reason: '', involvedShards: involved, traceContext: {} }],
    });
    for (const s of involved) {
      this.seeOrch(s, decidedAt);
      const txs: BlockTransaction[] = [];
      if (!commit) {
        if (s === source) {
          txs.push(system(SystemTxKind.SYSTEM_TX_KIND_UNLOCK, hash, from, lockAmount));
          this.lock(source, from, -lockAmount);
        } else if (!no.has(s)) txs.push(system(SystemTxKind.SYSTEM_TX_KIND_ABORT, hash, to, 0n));
        this.pushBlock(s, txs);
        continue;
      }
      if (s === source) {
        txs.push(system(SystemTxKind.SYSTEM_TX_KIND_DEBIT, hash, from, lockAmount));
        this.lock(source, from, -lockAmount);
        this.move(source, from, -lockAmount);
      }
      for (const [a, x] of others) {
        if (this.shardOf(a) !== s) continue;
        if (x.writes.length > 0) txs.push({ kind: { $case: 'system', value: { kind: SystemTxKind.SYSTEM_TX_KIND_WRITE_SET, txHash: hash, address: a, amount: '0', writes: x.writes } } });
        if (x.delta > 0n || (x.delta === 0n && a === to)) txs.push(system(SystemTxKind.SYSTEM_TX_KIND_CREDIT, hash, a, x.delta));
        else if (x.delta < 0n) txs.push(system(SystemTxKind.SYSTEM_TX_KIND_DEBIT, hash, a, -x.delta));
        this.move(s, a, x.delta);
      }
      if (s === source && out < 0n) {
        txs.push(system(SystemTxKind.SYSTEM_TX_KIND_CREDIT, hash, from, -out));
        this.move(source, from, -out);
      }
      this.pushBlock(s, txs);
    }
    return hash;
  }

  /** The audit input: deep copies of every block and the accounts at each shard's head. */
  input(): AuditInput {
    return {
      shards: this.blocks.map((blocks, s) => ({
        shardId: s,
        blocks: blocks.map((b) => StateShardBlock.fromPartial(b)),
        accounts: [...this.balances[s]!].map(([address, balance]) =>
          Account.fromPartial({
            address,
            shardId: s,
            balance: balance.toString(),
            nonce: this.nonces.get(address) ?? 0,
            locked: (this.locked[s]!.get(address) ?? 0n).toString(),
            blockHeight: blocks.length - 1,
          }),
        ),
      })),
      orchestratorBlocks: this.orch.map((b) => OrchestratorBlock.fromPartial(b)),
    };
  }

  private get(hash: string): CrossTx {
    const c = this.cross.get(hash);
    if (!c) throw new Error(`unknown transfer ${hash}`);
    return c;
  }

  private nextHash(): string {
    return `0x${hex(++this.txCounter, 32)}`;
  }

  private transaction(hash: string, from: string, to: string, value: bigint, gasLimit = GAS): Transaction {
    const nonce = this.nonces.get(from) ?? 0;
    this.nonces.set(from, nonce + 1);
    return Transaction.fromPartial({
      hash,
      type: 2,
      from,
      to,
      nonce,
      value: value.toString(),
      gasLimit,
      maxFeePerGas: (BASE_FEE + TIP).toString(),
      maxPriorityFeePerGas: TIP.toString(),
      chainId: 1337,
    });
  }

  /** A user transaction that pays its fee (burn + tip to the coinbase); value is moved by the caller. */
  private userTx(
    from: string,
    to: string,
    value: bigint,
    hash = this.nextHash(),
    gas = GAS,
    tx = this.transaction(hash, from, to, value),
  ): { entry: BlockTransaction; receipt: Receipt } {
    const s = this.shardOf(from);
    this.move(s, from, -BigInt(gas) * (BASE_FEE + TIP));
    this.move(s, coinbaseOf(s), BigInt(gas) * TIP);
    const receipt = {
      txHash: hash,
      shardId: s,
      blockHeight: this.blocks[s]!.length,
      blockHash: '',
      txIndex: 0,
      success: true,
      gasUsed: gas,
      cumulativeGasUsed: gas,
      effectiveGasPrice: (BASE_FEE + TIP).toString(),
      contractAddress: '',
      logs: [],
      error: '',
    };
    return { entry: { kind: { $case: 'user', value: tx } }, receipt };
  }

  private move(s: number, address: string, by: bigint): void {
    const v = (this.balances[s]!.get(address) ?? 0n) + by;
    if (v < 0n) throw new Error(`balance of ${address} would go negative`);
    this.balances[s]!.set(address, v);
  }

  private lock(s: number, address: string, by: bigint): void {
    this.locked[s]!.set(address, (this.locked[s]!.get(address) ?? 0n) + by);
  }

  private seeOrch(s: number, height: number): void {
    this.shardOrch[s] = Math.max(this.shardOrch[s]!, height);
  }

  private pushBlock(s: number, transactions: BlockTransaction[], receipts: Receipt[] = [], tpcPrepare: PrepareVote[] = []): void {
    const chain = this.blocks[s]!;
    const height = chain.length;
    const receiptsWithIndex = receipts.map((r) => ({ ...r, blockHeight: height, txIndex: transactions.findIndex((t) => t.kind?.$case === 'user' && t.kind.value.hash === r.txHash) }));
    chain.push(
      StateShardBlock.fromPartial({
        shardId: s,
        height,
        hash: `0x${hex(s + 1, 16)}${hex(height, 16)}`,
        parentHash: height === 0 ? `0x${hex(0, 32)}` : chain[height - 1]!.hash,
        stateRoot: `0x${hex(height, 32)}`,
        timestampMs: 1_700_000_000_000 + height,
        gasUsed: receipts.reduce((a, r) => a + r.gasUsed, 0),
        transactions,
        receipts: receiptsWithIndex,
        tpcPrepare,
        baseFeePerGas: BASE_FEE.toString(),
        orchestratorHeight: this.shardOrch[s]!,
      }),
    );
  }

  private pushOrch(content: Partial<Pick<OrchestratorBlock, 'ctToOrder' | 'tpcResult'>>): number {
    const height = this.orch.length;
    this.orch.push(
      OrchestratorBlock.fromPartial({
        height,
        hash: `0x${hex(0xff, 16)}${hex(height, 16)}`,
        parentHash: height === 0 ? `0x${hex(0, 32)}` : this.orch[height - 1]!.hash,
        timestampMs: 1_700_000_000_000 + height,
        ctToOrder: content.ctToOrder ?? [],
        tpcResult: content.tpcResult ?? [],
      }),
    );
    return height;
  }
}

function system(kind: SystemTxKind, txHash: string, address: string, amount: bigint): BlockTransaction {
  return { kind: { $case: 'system', value: { kind, txHash, address, amount: amount.toString(), writes: [] } } };
}

function vote(txHash: string, yes: boolean): PrepareVote {
  return { txHash, vote: yes ? Vote.VOTE_YES : Vote.VOTE_NO, reason: yes ? '' : 'refused' };
}

/** Where a system transaction sits in an input. */
export interface SystemTxPosition {
  shardId: number;
  height: number;
  index: number;
  kind: SystemTxKind;
  txHash: string;
}

/** Every system transaction of an input, in block order. */
export function systemTxPositions(input: AuditInput): SystemTxPosition[] {
  const out: SystemTxPosition[] = [];
  for (const sh of input.shards) {
    for (const b of sh.blocks) {
      b.transactions.forEach((t, index) => {
        if (t.kind?.$case === 'system') out.push({ shardId: sh.shardId, height: b.height, index, kind: t.kind.value.kind, txHash: t.kind.value.txHash });
      });
    }
  }
  return out;
}

/** Removes one system transaction from an input (in place). */
export function removeSystemTx(input: AuditInput, at: Pick<SystemTxPosition, 'shardId' | 'height' | 'index'>): void {
  const block = input.shards.find((s) => s.shardId === at.shardId)!.blocks[at.height]!;
  block.transactions.splice(at.index, 1);
}

/** The (only) system transaction of `kind` for `txHash` on `shardId`. */
export function findSystemTx(input: AuditInput, shardId: number, kind: SystemTxKind, txHash: string): SystemTxPosition {
  const found = systemTxPositions(input).filter((p) => p.shardId === shardId && p.kind === kind && p.txHash === txHash);
  if (found.length !== 1) throw new Error(`expected one ${SystemTxKind[kind]} for ${txHash} on shard ${shardId}, found ${found.length}`);
  return found[0]!;
}

/** The account `address` of an input (to tamper with). */
export function accountOf(input: AuditInput, address: string): Account {
  for (const s of input.shards) {
    const a = s.accounts.find((x) => x.address === address);
    if (a) return a;
  }
  throw new Error(`no account ${address}`);
}
