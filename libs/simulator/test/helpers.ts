/**
 * Test fixtures of the simulator: fake state shards backed by real ethereumjs Merkle state (so
 * that their EIP-1186 proofs are real) with a minimal lock table (AcquireLocks,
 * ReleaseSimulationLocks), an in-memory StateSource and LockClient over them, the same state
 * merged into one Merkle state manager (the oracle: a direct single-VM run of the transaction),
 * and raw EVM bytecode of a few contracts.
 */
import type { Common } from '@ethereumjs/common';
import { createBlock } from '@ethereumjs/block';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { MerkleStateManager, getMerkleStateProof } from '@ethereumjs/statemanager';
import { createVM, runTx, type RunTxResult } from '@ethereumjs/vm';
import { Account, MapDB, ValueEncoding, createAddressFromString, hexToBytes, type DB } from '@ethereumjs/util';
import { MAX_GAS_LIMIT, compatibleModes, createPlacement, decodeTransaction, describeLockKey, joinModes, lockKeyId, shardOf, type Placement } from '@shardlab/chain';
import { errors, fromHex, toHex } from '@shardlab/common';
import { LockField, type GetHeadResponse, type GetProofResponse, type LockKey, type LockMode } from '@shardlab/proto';
import { FEE_SINK, type LockClient, type StateSource } from '../src';

/** What to put into an account of the fake network. */
export interface AccountSpec {
  balance?: bigint;
  nonce?: bigint;
  /** Runtime code (hex). */
  code?: string;
  /** Slot (32-byte hex) → value (hex). */
  storage?: Record<string, string>;
}

const word = (v: bigint) => '0x' + v.toString(16).padStart(64, '0');

/** 32-byte hex word of a small number (a slot key). */
export const slotOf = (n: number | bigint): string => word(BigInt(n));

/** A Merkle state manager over `db` at `root` (the trie options of the shards' executor). */
function stateAt(db: DB<string, Uint8Array>, common: Common, root?: Uint8Array): MerkleStateManager {
  const trie = new MerklePatriciaTrie({ db, useKeyHashing: true, common, valueEncoding: ValueEncoding.Bytes, ...(root ? { root } : {}) });
  return new MerkleStateManager({ trie, common });
}

async function putSpec(sm: MerkleStateManager, address: string, spec: AccountSpec): Promise<void> {
  const a = createAddressFromString(address);
  await sm.putAccount(a, new Account(spec.nonce ?? 0n, spec.balance ?? 0n));
  if (spec.code) await sm.putCode(a, hexToBytes(spec.code as `0x${string}`));
  for (const [slot, value] of Object.entries(spec.storage ?? {})) {
    await sm.putStorage(a, hexToBytes(slot as `0x${string}`), hexToBytes(word(BigInt(value)) as `0x${string}`));
  }
}

/** One AcquireLocks request a {@link FakeShard} served. */
export interface FakeLockRequest {
  txHash: string;
  keys: LockKey[];
  ttlMs: number | undefined;
  waitMs: number | undefined;
}

/** A fake state shard: Merkle state with a history of blocks (height → state root) and a lock table. */
export class FakeShard {
  readonly db = new MapDB<string, Uint8Array>();
  readonly sm: MerkleStateManager;
  readonly blocks: { height: number; stateRoot: string }[] = [];
  /** GetProof requests served (address, slots, height asked). */
  readonly proofRequests: { address: string; slots: string[]; height: number | undefined }[] = [];
  readonly codeRequests: string[] = [];
  headRequests = 0;
  /**
   * The shard's lock table, as a state shard keeps it but minimal: key id (`lockKeyId`) → holder
   * (tx hash) → mode; no TTLs, no queue order (tests clear it with {@link release} or
   * {@link clearLocks}).
   */
  readonly locks = new Map<string, Map<string, LockMode>>();
  /** AcquireLocks requests served, in arrival order (as asked). */
  readonly lockRequests: FakeLockRequest[] = [];
  /** ReleaseSimulationLocks requests served (tx hashes). */
  readonly releaseRequests: string[] = [];
  /**
   * Longest a conflicting AcquireLocks waits here for a release, in ms (less when the request
   * asks less) [0: ABORTED at once, as when the wait bound passed].
   */
  maxLockWaitMs = 0;
  /** AcquireLocks calls waiting for a release. */
  private readonly lockWaiters = new Set<() => void>();

  constructor(
    readonly shardId: number,
    readonly common: Common,
    private readonly placement: Placement,
  ) {
    this.sm = stateAt(this.db, common);
  }

  /** Puts a lock of another transaction into the table (key id → mode joined with what it holds). */
  hold(txHash: string, key: Omit<LockKey, 'mode'>, mode: LockMode): void {
    const id = lockKeyId(key);
    let hs = this.locks.get(id);
    if (!hs) this.locks.set(id, (hs = new Map()));
    hs.set(txHash, joinModes(hs.get(txHash), mode));
  }

  /** The keys `txHash` holds here: key id → mode. */
  heldBy(txHash: string): Map<string, LockMode> {
    const out = new Map<string, LockMode>();
    for (const [id, hs] of this.locks) {
      const m = hs.get(txHash);
      if (m !== undefined) out.set(id, m);
    }
    return out;
  }

  /** Number of AcquireLocks calls waiting here. */
  get lockWaiting(): number {
    return this.lockWaiters.size;
  }

  /**
   * AcquireLocks: grants all of `keys` to `txHash` at once when no other transaction holds one of
   * them in a conflicting mode (`compatibleModes`); else waits for releases up to
   * min(`waitMs` [5,000], {@link maxLockWaitMs}). Returns how many keys `txHash` holds here.
   * @throws ShardLabError FAILED_PRECONDITION for a key of an address placed on another shard;
   *   ABORTED when the wait bound passes, naming a holder (`… is locked by transaction 0x… (…)`,
   *   `meta.holder`), as a state shard words it.
   */
  async acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<number> {
    // A request without keys is a sender's wait for its earlier transactions (none here): not a lock.
    if (keys.length === 0) return 0;
    this.lockRequests.push({ txHash, keys: keys.map((k) => ({ ...k })), ttlMs, waitMs });
    const wanted = new Map<string, LockKey>();
    for (const k of keys) {
      if (shardOf(this.placement, k.address) !== this.shardId) throw errors.failedPrecondition(`${k.address} is not on shard ${this.shardId}`);
      const id = lockKeyId(k);
      wanted.set(id, { ...k, mode: joinModes(wanted.get(id)?.mode, k.mode) });
    }
    const conflict = () => {
      for (const [id, k] of wanted) {
        for (const [h, m] of this.locks.get(id) ?? []) if (h !== txHash && !compatibleModes(m, k.mode)) return { key: k, holder: h };
      }
      return undefined;
    };
    const bound = Math.min(waitMs ?? 5_000, this.maxLockWaitMs);
    const started = Date.now();
    for (let c = conflict(); c; c = conflict()) {
      const left = started + bound - Date.now();
      const released = left > 0 && (await this.waitForRelease(left));
      if (!released) throw errors.aborted(`${describeLockKey(c.key)} is locked by transaction ${c.holder} (fake shard, waited ${bound} ms)`, { holder: c.holder, txHash });
    }
    for (const k of wanted.values()) this.hold(txHash, k, k.mode);
    return this.heldBy(txHash).size;
  }

  /** Resolves true at the next release, false after `ms`. */
  private waitForRelease(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.lockWaiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.lockWaiters.delete(wake);
        resolve(false);
      }, ms);
      this.lockWaiters.add(wake);
    });
  }

  /** ReleaseSimulationLocks: frees every lock of `txHash`; returns how many keys. */
  release(txHash: string): number {
    this.releaseRequests.push(txHash);
    let n = 0;
    for (const [id, hs] of this.locks) {
      if (hs.delete(txHash)) n++;
      if (hs.size === 0) this.locks.delete(id);
    }
    for (const wake of [...this.lockWaiters]) wake();
    return n;
  }

  /** Forgets every lock and every recorded lock or release request. */
  clearLocks(): void {
    this.locks.clear();
    this.lockRequests.length = 0;
    this.releaseRequests.length = 0;
  }

  /** Writes accounts and produces a block with the new state root. */
  async produce(accounts: Record<string, AccountSpec> = {}): Promise<void> {
    await this.sm.checkpoint();
    for (const [address, spec] of Object.entries(accounts)) await putSpec(this.sm, address, spec);
    await this.sm.commit();
    const root = toHex(await this.sm.getStateRoot());
    this.blocks.push({ height: this.blocks.length, stateRoot: root });
  }

  head(): GetHeadResponse {
    const h = this.blocks[this.blocks.length - 1]!;
    return { shardId: this.shardId, height: h.height, hash: '0x' + '00'.repeat(32), stateRoot: h.stateRoot, mempoolSize: 0 };
  }

  /** GetProof as a state shard answers it (32-byte word values), at `height` (default the head). */
  async getProof(address: string, slots: readonly string[], height?: number): Promise<GetProofResponse> {
    this.proofRequests.push({ address, slots: [...slots], height });
    const block = height === undefined ? this.blocks[this.blocks.length - 1] : this.blocks[height];
    if (!block) throw errors.notFound(`shard ${this.shardId} has no block at height ${height}`);
    const view = stateAt(this.db, this.common, fromHex(block.stateRoot));
    const p = await getMerkleStateProof(view, createAddressFromString(address), slots.map((s) => fromHex(s)));
    const byKey = new Map(p.storageProof.map((s) => [s.key.toLowerCase(), s] as const));
    const buf = (hex: string) => Buffer.from(fromHex(hex));
    return {
      account: {
        address,
        shardId: this.shardId,
        balance: BigInt(p.balance).toString(),
        nonce: Number(BigInt(p.nonce)),
        locked: '0',
        codeHash: p.codeHash.toLowerCase(),
        blockHeight: block.height,
      },
      accountProof: p.accountProof.map(buf),
      storage: slots.map((slot) => {
        const s = byKey.get(slot);
        return s ? { slot, value: word(BigInt(s.value)), proof: s.proof.map(buf) } : { slot, value: word(0n), proof: [] };
      }),
      reference: { shardId: this.shardId, height: block.height, stateRoot: block.stateRoot },
    };
  }

  /** A lock key's value at the head, as AcquireLocksResponse.values gives it (not recorded as a proof request). */
  async valueOf(k: LockKey): Promise<string> {
    const block = this.blocks[this.blocks.length - 1]!;
    const view = stateAt(this.db, this.common, fromHex(block.stateRoot));
    const p = await getMerkleStateProof(view, createAddressFromString(k.address), k.field === LockField.LOCK_FIELD_SLOT ? [fromHex(k.slot)] : []);
    if (k.field === LockField.LOCK_FIELD_SLOT) return word(BigInt(p.storageProof[0]?.value ?? '0x0'));
    if (k.field === LockField.LOCK_FIELD_BALANCE) return BigInt(p.balance).toString();
    if (k.field === LockField.LOCK_FIELD_NONCE) return BigInt(p.nonce).toString();
    return p.codeHash.toLowerCase();
  }

  /** GetCode at the head. */
  async getCode(address: string): Promise<Uint8Array> {
    this.codeRequests.push(address);
    return this.sm.getCode(createAddressFromString(address));
  }
}

/**
 * A network of fake shards plus the same state merged into one state manager (the oracle).
 * Accounts are placed by `shardOf` with the default rule (last byte mod shard count).
 */
export class FakeWorld {
  readonly shards: FakeShard[];
  readonly placement: Placement;
  /** Every account of every shard, in one Merkle state (for the direct single-VM run). */
  readonly merged: MerkleStateManager;
  private readonly mergedDb = new MapDB<string, Uint8Array>();
  readonly addresses = new Set<string>();

  constructor(
    readonly common: Common,
    shardCount: number,
  ) {
    this.placement = createPlacement(shardCount);
    this.shards = Array.from({ length: shardCount }, (_, i) => new FakeShard(i, common, this.placement));
    this.merged = stateAt(this.mergedDb, common);
  }

  shardOf(address: string): number {
    return shardOf(this.placement, address);
  }

  /** Puts accounts on their shards (one new block on every shard) and into the merged state. */
  async produce(accounts: Record<string, AccountSpec>): Promise<void> {
    for (const shard of this.shards) {
      const mine = Object.fromEntries(Object.entries(accounts).filter(([a]) => this.shardOf(a) === shard.shardId));
      await shard.produce(mine);
    }
    await this.merged.checkpoint();
    for (const [address, spec] of Object.entries(accounts)) {
      this.addresses.add(address.toLowerCase());
      await putSpec(this.merged, address, spec);
    }
    await this.merged.commit();
    await this.merged.getStateRoot();
  }

  /** An in-memory StateSource over the shards that pins one head per shard, like the gRPC one. */
  source(): CountingSource {
    return new CountingSource(this);
  }

  /** An in-memory LockClient over the shards' lock tables, recording its calls. */
  lockClient(): FakeLockClient {
    return new FakeLockClient(this);
  }

  /**
   * The oracle: runs `raw` directly with one VM over a copy of the merged state, in the block the
   * simulator builds (number = sender shard's head + 1, coinbase the fee sink, base fee 1 gwei).
   */
  async directRun(raw: Uint8Array, timestampMs: number): Promise<{ result: RunTxResult; state: MerkleStateManager }> {
    const d = decodeTransaction(raw, this.common);
    const state = stateAt(this.mergedDb, this.common, await this.merged.getStateRoot());
    const vm = await createVM({ common: this.common, stateManager: state });
    const home = this.shards[this.shardOf(d.from)]!.head();
    const block = createBlock(
      {
        header: {
          number: BigInt(home.height + 1),
          timestamp: BigInt(Math.floor(timestampMs / 1000)),
          gasLimit: MAX_GAS_LIMIT,
          baseFeePerGas: 1_000_000_000n,
          coinbase: createAddressFromString(FEE_SINK),
        },
      },
      { common: this.common, freeze: false },
    );
    const result = await runTx(vm, { tx: d.tx, block, skipHardForkValidation: true });
    return { result, state };
  }
}

/** The in-memory StateSource of a {@link FakeWorld}, counting calls. */
export class CountingSource implements StateSource {
  getAccountCalls: { address: string; slots: string[] }[] = [];
  getCodeCalls: string[] = [];
  private readonly pins = new Map<number, number>();

  constructor(private readonly world: FakeWorld) {}

  async getAccount(address: string, slots: readonly string[]): Promise<GetProofResponse> {
    this.getAccountCalls.push({ address, slots: [...slots] });
    const shard = this.world.shards[this.world.shardOf(address)]!;
    let height = this.pins.get(shard.shardId);
    if (height === undefined) this.pins.set(shard.shardId, (height = shard.head().height));
    return shard.getProof(address, slots, height);
  }

  async getCode(address: string): Promise<Uint8Array> {
    this.getCodeCalls.push(address);
    return this.world.shards[this.world.shardOf(address)]!.getCode(address);
  }
}

/** A call of a {@link FakeLockClient}. */
export type LockCall =
  | { op: 'acquire'; shardId: number; txHash: string; keys: LockKey[]; ttlMs: number; waitMs: number }
  | { op: 'release'; shardId: number; txHash: string };

/** The in-memory LockClient of a {@link FakeWorld}: each call goes to its shard's lock table, and is recorded. */
export class FakeLockClient implements LockClient {
  readonly calls: LockCall[] = [];
  /** Runs before each acquisition reaches its shard (e.g. a commit landing that changes state). */
  beforeAcquire: ((call: Extract<LockCall, { op: 'acquire' }>, index: number) => Promise<void> | void) | undefined;

  constructor(private readonly world: FakeWorld) {}

  /** The acquisitions so far. */
  get acquisitions(): Extract<LockCall, { op: 'acquire' }>[] {
    return this.calls.filter((c) => c.op === 'acquire');
  }

  /** The releases so far. */
  get releases(): Extract<LockCall, { op: 'release' }>[] {
    return this.calls.filter((c) => c.op === 'release');
  }

  /** Resolves with no values (see {@link valuesOnGrant}) unless told to give them. */
  async acquire(shardId: number, txHash: string, keys: LockKey[], ttlMs: number, waitMs: number): Promise<string[]> {
    const call = { op: 'acquire' as const, shardId, txHash, keys: keys.map((k) => ({ ...k })), ttlMs, waitMs };
    this.calls.push(call);
    await this.beforeAcquire?.(call, this.acquisitions.length - 1);
    const shard = this.world.shards[shardId];
    if (!shard) throw errors.unavailable(`shard ${shardId} unavailable: no such shard`, { shardId });
    await shard.acquireLocks(txHash, keys, ttlMs, waitMs);
    return this.valuesOnGrant ? Promise.all(keys.map((k) => shard.valueOf(k))) : [];
  }

  /** Whether acquisitions answer the keys' values (so the simulator may skip its run under locks) [false]. */
  valuesOnGrant = false;

  async release(shardId: number, txHash: string): Promise<void> {
    this.calls.push({ op: 'release', shardId, txHash });
    this.world.shards[shardId]?.release(txHash);
  }

  /** The sender's earlier transactions are always in a block here: resolves at once (not recorded). */
  async senderReady(shardId: number): Promise<void> {
    if (!this.world.shards[shardId]) throw errors.unavailable(`shard ${shardId} unavailable: no such shard`, { shardId });
  }
}

/** An address on `shard` of `shardCount` shards (default rule), made of `fill` bytes. */
export function addressOn(shard: number, shardCount: number, fill: string): string {
  for (let last = 0; last < 256; last++) {
    if (last % shardCount === shard && last.toString(16).padStart(2, '0') !== fill) {
      return '0x' + fill.repeat(19) + last.toString(16).padStart(2, '0');
    }
  }
  throw new Error('unreachable');
}

const hex = (n: number, bytes = 1) => n.toString(16).padStart(bytes * 2, '0');

/**
 * Runtime code: reads slot 0, writes slot 0 + 1 into slot 1, emits LOG1 with topic 0xaa, stops.
 * `SLOAD(0) + 1 → SSTORE(1)`.
 */
export const COUNTER_CODE = '0x' + '600054' + '600101' + '600155' + '60aa' + '6000' + '6000' + 'a1' + '00';

/**
 * Runtime code: CALLs `target` forwarding `forward` wei and all gas, then stores the call's
 * success flag in slot 5.
 */
export function callerCode(target: string, forward: number): string {
  const t = target.slice(2);
  // CALL(gas, to, value, argsOffset, argsSize, retOffset, retSize): pushed in reverse.
  return '0x' + '6000' + '6000' + '6000' + '6000' + '61' + hex(forward, 2) + '73' + t + '5a' + 'f1' + '6005' + '55' + '00';
}

/** ABI encoding of `Error(reason)` for a short ASCII reason (at most 32 bytes). */
function errorData(reason: string): string {
  const bytes = Buffer.from(reason, 'ascii');
  return '08c379a0' + hex(32, 32) + hex(bytes.length, 32) + bytes.toString('hex').padEnd(64, '0');
}

/** Runtime code that always reverts with `Error(reason)`. */
export function revertingCode(reason: string): string {
  const data = errorData(reason);
  const size = data.length / 2;
  // CODECOPY(dest 0, offset 12, size); REVERT(0, size); then the data.
  return '0x' + '60' + hex(size) + '600c' + '6000' + '39' + '60' + hex(size) + '6000' + 'fd' + data;
}

/** Init code that stores 7 in slot 0 and deploys `runtime`. */
export function initCode(runtime: string): string {
  const r = runtime.slice(2);
  const size = r.length / 2;
  // SSTORE(0, 7); CODECOPY(0, 17, size); RETURN(0, size); runtime. Prefix: 5 + 7 + 5 = 17 bytes.
  return '0x' + '6007' + '6000' + '55' + '60' + hex(size) + '6011' + '6000' + '39' + '60' + hex(size) + '6000' + 'f3' + r;
}

/**
 * Runtime code of a factory: copies `init` (its own tail) to memory, CREATEs a contract from it
 * with no value, stores the new address in slot 0, stops.
 */
export function creatingCode(init: string): string {
  const size = (init.length - 2) / 2;
  // CODECOPY(0, 18, size); CREATE(0, 0, size); SSTORE(0, address); STOP; init. Prefix: 18 bytes.
  return '0x' + '60' + hex(size) + '6012' + '6000' + '39' + '60' + hex(size) + '6000' + '6000' + 'f0' + '6000' + '55' + '00' + init.slice(2);
}
