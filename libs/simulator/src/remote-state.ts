// RemoteStateManager: the EVM state manager of one simulation over shard state fetched lazily and proof-checked, with a journaled write overlay and the touched accounts for the RwSet.
/**
 * A state manager for `@ethereumjs/vm` over state that lives on the shards (docs/ARCHITECTURE.md §3):
 * accounts, storage slots and code are fetched lazily through a {@link StateSource} at one
 * reference block per shard, every fetched value is checked against its Merkle proof, and every
 * read and the final value of every write are recorded to build the transaction's RwSet.
 */
import type { AccountFields, StateManagerInterface } from '@ethereumjs/common';
import { Account, Address, KECCAK256_NULL, KECCAK256_RLP, equalsBytes } from '@ethereumjs/util';
import { nativeKeccak256 } from '@shardlab/chain';
import { errors, toHex } from '@shardlab/common';
import type { ReferenceBlock } from '@shardlab/proto';
import { unpad, verifyProofAnswer } from './proofs';

export { CodeCache, type SlotRead, type StateSource, type TouchedAccount } from './state-source';
import { CodeCache, type SlotRead, type StateSource, type TouchedAccount } from './state-source';

/** Options of {@link RemoteStateManager}. */
export interface RemoteStateOpts {
  source: StateSource;
  /** Code cache shared across simulations; default a private one. */
  codeCache?: CodeCache;
  /**
   * Addresses served locally, never fetched nor recorded: they start absent (e.g. the block's
   * coinbase, a fee sink that collects priority fees outside of any shard's state).
   */
  localAccounts?: readonly string[];
}

/** The reference state of one account, as fetched and proven. */
interface Base {
  address: string;
  reference: ReferenceBlock;
  account: Account | undefined;
  rlp: Uint8Array;
  proof: Uint8Array[];
  /** Slot values read so far (slot → read), in first-read order. */
  slots: Map<string, SlotRead>;
  /** Slot fetches in flight (slot → the fetch that brings it). */
  pendingSlots: Map<string, Promise<void>>;
  local: boolean;
}

/** What the simulation changed of one account. */
interface Entry {
  account: Account | undefined;
  /** Slots written (slot → value with leading zeros stripped). */
  storage: Map<string, Uint8Array>;
  /** Unwritten slots are zero (storage cleared by creation or deletion). */
  cleared: boolean;
  /** Code put by the simulation, with its hash. */
  code: { bytes: Uint8Array; hash: Uint8Array } | undefined;
}

const copyAccount = (a: Account): Account => new Account(a.nonce, a.balance, a.storageRoot.slice(), a.codeHash.slice());
const slotKey = (key: Uint8Array): string => {
  if (key.length !== 32) throw new Error('Storage key must be 32 bytes long');
  return toHex(key);
};

/**
 * A {@link StateManagerInterface} for one simulation. Reads miss into the {@link StateSource}
 * (an account with the slot asked for, if any, in one GetProof), and each answer's proofs are
 * checked against its reference state root before use. Writes go to an in-memory overlay with an
 * undo journal for the EVM's checkpoints. Everything fetched is cached for the simulation; code
 * is cached across simulations by code hash. State roots are not computed (`getStateRoot` throws):
 * the simulation's output is the RwSet, see {@link RemoteStateManager.touched}.
 *
 * The first error of the source (an unreachable shard, an invalid proof) is kept in
 * {@link RemoteStateManager.failure}: the EVM may turn errors of its state manager into execution
 * errors, so callers check it after running.
 */
export class RemoteStateManager implements StateManagerInterface {
  /** The first error of the source, if any. */
  failure: unknown;
  readonly originalStorageCache: { get(address: Address, key: Uint8Array): Promise<Uint8Array>; clear(): void };

  private readonly source: StateSource;
  private readonly codeCache: CodeCache;
  private readonly local: Set<string>;
  private readonly bases = new Map<string, Base>();
  private readonly pendingBases = new Map<string, Promise<Base>>();
  private readonly entries = new Map<string, Entry>();
  /** Addresses in the order they were first asked for. */
  private readonly order: string[] = [];
  /** Reference block of each shard read so far. */
  private readonly references = new Map<number, ReferenceBlock>();
  /** Undo logs, one per open checkpoint. */
  private readonly journal: (() => void)[][] = [];
  private readonly pendingCode = new Map<string, Promise<Uint8Array>>();
  /** Addresses whose balance the execution observed (see {@link observeBalance}); never undone. */
  private readonly balanceObserved = new Set<string>();

  constructor(opts: RemoteStateOpts) {
    this.source = opts.source;
    this.codeCache = opts.codeCache ?? new CodeCache();
    this.local = new Set((opts.localAccounts ?? []).map((a) => a.toLowerCase()));
    // The value of a slot before the transaction (EIP-2200 gas): the reference value.
    this.originalStorageCache = {
      get: async (address, key) => {
        const a = address.toString();
        const base = await this.base(a);
        if (!base.account || equalsBytes(base.account.storageRoot, KECCAK256_RLP)) return new Uint8Array();
        return (await this.baseSlot(base, slotKey(key))).value;
      },
      clear: () => {},
    };
  }

  // ---- fetching -------------------------------------------------------------------------------

  /** Fetches `address` (and `slots`) ahead of execution, e.g. a transaction's sender, recipient and access list. */
  async prefetch(address: string, slots: readonly string[] = []): Promise<void> {
    const a = address.toLowerCase();
    const known = this.bases.has(a) || this.pendingBases.has(a);
    const wanted = slots.map((s) => s.toLowerCase());
    const base = await this.base(a, wanted);
    if (known) await this.baseSlots(base, wanted);
  }

  /** Reference block of each shard read so far, by shard id. */
  referenceBlocks(): ReferenceBlock[] {
    return [...this.references.values()].sort((x, y) => x.shardId - y.shardId);
  }

  /** Reference block an already fetched address was read at. */
  referenceOf(address: string): ReferenceBlock | undefined {
    const base = this.bases.get(address.toLowerCase());
    return base && !base.local ? base.reference : undefined;
  }

  /** The account of a local address (see {@link RemoteStateOpts.localAccounts}) now. */
  localAccount(address: string): Account | undefined {
    const a = address.toLowerCase();
    const e = this.entries.get(a);
    return e ? e.account && copyAccount(e.account) : undefined;
  }

  /**
   * Records that the execution observed the balance of `address` (BALANCE, SELFBALANCE, the
   * sufficiency check of a value transfer: see balance-observers.ts). Debits are recorded by the
   * state manager itself ({@link putAccount}). Kept even when the frame that observed it reverts:
   * what followed depended on it.
   */
  observeBalance(address: string): void {
    this.balanceObserved.add(address.toLowerCase());
  }

  private async guard<T>(fetch: () => Promise<T>): Promise<T> {
    try {
      return await fetch();
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  private pinReference(ref: ReferenceBlock): void {
    const pinned = this.references.get(ref.shardId);
    if (!pinned) this.references.set(ref.shardId, ref);
    else if (pinned.height !== ref.height || pinned.stateRoot !== ref.stateRoot) {
      throw errors.unavailable(
        `shard ${ref.shardId} answered at height ${ref.height} (root ${ref.stateRoot}), but this simulation reads it at height ${pinned.height} (root ${pinned.stateRoot})`,
        { shardId: ref.shardId },
      );
    }
  }

  /** The reference state of `address`, fetched on first use (with `slots`, when it is fetched now). */
  private base(address: string, slots: readonly string[] = []): Promise<Base> {
    const known = this.bases.get(address);
    if (known) return Promise.resolve(known);
    const pending = this.pendingBases.get(address);
    if (pending) return pending;
    this.order.push(address);
    if (this.local.has(address)) {
      const base: Base = {
        address,
        reference: { shardId: -1, height: 0, stateRoot: '' },
        account: undefined,
        rlp: new Uint8Array(),
        proof: [],
        slots: new Map(),
        pendingSlots: new Map(),
        local: true,
      };
      this.bases.set(address, base);
      return Promise.resolve(base);
    }
    const wanted = [...new Set(slots.map((s) => s.toLowerCase()))];
    const p = this.guard(async () => {
      const res = await this.source.getAccount(address, wanted);
      const proven = await verifyProofAnswer(address, wanted, res);
      this.pinReference(proven.reference);
      const base: Base = {
        address,
        reference: proven.reference,
        account: proven.proven.account,
        rlp: proven.proven.rlp,
        proof: proven.accountProof,
        slots: new Map(),
        pendingSlots: new Map(),
        local: false,
      };
      for (const s of proven.storage) base.slots.set(s.slot, s);
      this.bases.set(address, base);
      return base;
    }).finally(() => this.pendingBases.delete(address));
    this.pendingBases.set(address, p);
    return p;
  }

  /** The reference value of `slot` of an account, fetched (and recorded) on first use. */
  private async baseSlot(base: Base, slot: string): Promise<SlotRead> {
    return base.slots.get(slot) ?? (await this.baseSlots(base, [slot]))[0]!;
  }

  /** The reference values of `slots` of an account; the unknown ones are fetched in one GetProof. */
  private baseSlots(base: Base, slots: readonly string[]): Promise<SlotRead[]> {
    const missing: string[] = [];
    for (const slot of new Set(slots)) {
      if (base.slots.has(slot) || base.pendingSlots.has(slot)) continue;
      // Every slot of an absent account, or of one without storage, is zero: the account item
      // proves it (local accounts start absent).
      if (!base.account || equalsBytes(base.account.storageRoot, KECCAK256_RLP)) {
        base.slots.set(slot, { slot, value: new Uint8Array(), proof: [] });
      } else {
        missing.push(slot);
      }
    }
    if (missing.length > 0) {
      const fetched = this.guard(async () => {
        const res = await this.source.getAccount(base.address, missing);
        const proven = await verifyProofAnswer(base.address, missing, res);
        this.pinReference(proven.reference);
        if (!equalsBytes(proven.proven.rlp, base.rlp)) {
          throw errors.unavailable(`shard ${proven.reference.shardId} answered two different accounts ${base.address} at one reference block`);
        }
        for (const read of proven.storage) base.slots.set(read.slot, read);
      }).finally(() => {
        for (const slot of missing) base.pendingSlots.delete(slot);
      });
      for (const slot of missing) base.pendingSlots.set(slot, fetched);
    }
    return Promise.all(
      slots.map(async (slot) => {
        const known = base.slots.get(slot);
        if (known) return known;
        await base.pendingSlots.get(slot);
        return base.slots.get(slot)!;
      }),
    );
  }

  // ---- the overlay ----------------------------------------------------------------------------

  /** The entry of `address`, created from its reference state on first write. */
  private async entry(address: string): Promise<Entry> {
    const e = this.entries.get(address);
    if (e) return e;
    const base = await this.base(address);
    const again = this.entries.get(address);
    if (again) return again;
    const created: Entry = { account: base.account && copyAccount(base.account), storage: new Map(), cleared: false, code: undefined };
    this.entries.set(address, created);
    this.record(() => this.entries.delete(address));
    return created;
  }

  private record(undo: () => void): void {
    this.journal[this.journal.length - 1]?.push(undo);
  }

  private async currentAccount(address: string): Promise<Account | undefined> {
    const e = this.entries.get(address);
    if (e) return e.account;
    return (await this.base(address)).account;
  }

  async getAccount(address: Address): Promise<Account | undefined> {
    const a = await this.currentAccount(address.toString());
    return a && copyAccount(a);
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    if (account === undefined) return this.deleteAccount(address);
    const a = address.toString();
    const e = await this.entry(a);
    const prior = e.account;
    // A debit: the EVM checked that the balance sufficed.
    if (account.balance < (prior?.balance ?? 0n)) this.balanceObserved.add(a);
    e.account = copyAccount(account);
    this.record(() => (e.account = prior));
  }

  async deleteAccount(address: Address): Promise<void> {
    const a = address.toString();
    const e = await this.entry(a);
    if ((e.account?.balance ?? 0n) > 0n) this.balanceObserved.add(a);
    const prior = { account: e.account, storage: e.storage, cleared: e.cleared, code: e.code };
    e.account = undefined;
    e.storage = new Map();
    e.cleared = true;
    e.code = undefined;
    this.record(() => Object.assign(e, prior));
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account();
    if (fields.nonce !== undefined) account.nonce = fields.nonce;
    if (fields.balance !== undefined) account.balance = fields.balance;
    if (fields.storageRoot !== undefined) account.storageRoot = fields.storageRoot;
    if (fields.codeHash !== undefined) account.codeHash = fields.codeHash;
    await this.putAccount(address, account);
  }

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const e = await this.entry(address.toString());
    const prior = e.code;
    const code = { bytes: value.slice(), hash: nativeKeccak256(value) };
    e.code = code;
    this.record(() => (e.code = prior));
    await this.modifyAccountFields(address, { codeHash: code.hash });
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const a = address.toString();
    const account = await this.currentAccount(a);
    if (!account || equalsBytes(account.codeHash, KECCAK256_NULL)) return new Uint8Array();
    const put = this.entries.get(a)?.code;
    if (put && equalsBytes(put.hash, account.codeHash)) return put.bytes;
    const hash = toHex(account.codeHash);
    const cached = this.codeCache.get(hash);
    if (cached) return cached;
    let pending = this.pendingCode.get(hash);
    if (!pending) {
      pending = this.guard(async () => {
        const code = await this.source.getCode(a);
        if (toHex(nativeKeccak256(code)) !== hash) {
          throw errors.unavailable(`GetCode of ${a} answered code whose hash ${toHex(nativeKeccak256(code))} is not the account's code hash ${hash}`);
        }
        const owned = new Uint8Array(code);
        this.codeCache.set(hash, owned);
        return owned;
      }).finally(() => this.pendingCode.delete(hash));
      this.pendingCode.set(hash, pending);
    }
    return pending;
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const a = address.toString();
    const slot = slotKey(key);
    const e = this.entries.get(a);
    if (e) {
      const v = e.storage.get(slot);
      if (v !== undefined) return v;
      if (e.cleared) return new Uint8Array();
    }
    const base = await this.base(a, [slot]);
    return (await this.baseSlot(base, slot)).value;
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (value.length > 32) throw new Error('Storage value cannot be longer than 32 bytes');
    const a = address.toString();
    const slot = slotKey(key);
    const e = await this.entry(a);
    if (!e.account) throw new Error('putStorage() called on non-existing account');
    const had = e.storage.has(slot);
    const prior = e.storage.get(slot);
    const storage = e.storage;
    storage.set(slot, unpad(value).slice());
    this.record(() => (had ? storage.set(slot, prior!) : storage.delete(slot)));
  }

  async clearStorage(address: Address): Promise<void> {
    const e = await this.entry(address.toString());
    const prior = { storage: e.storage, cleared: e.cleared };
    e.storage = new Map();
    e.cleared = true;
    this.record(() => Object.assign(e, prior));
  }

  async checkpoint(): Promise<void> {
    this.journal.push([]);
  }

  async commit(): Promise<void> {
    const top = this.journal.pop();
    if (!top) throw new Error('commit without a checkpoint');
    this.journal[this.journal.length - 1]?.push(...top);
  }

  async revert(): Promise<void> {
    const top = this.journal.pop();
    if (!top) throw new Error('revert without a checkpoint');
    for (let i = top.length - 1; i >= 0; i--) top[i]!();
  }

  getStateRoot(): Promise<Uint8Array> {
    return Promise.reject(new Error('RemoteStateManager computes no state root: simulations return a read/write set'));
  }

  setStateRoot(): Promise<void> {
    return Promise.reject(new Error('RemoteStateManager cannot move to another state root'));
  }

  hasStateRoot(): Promise<boolean> {
    return Promise.reject(new Error('RemoteStateManager holds no state roots'));
  }

  clearCaches(): void {}

  shallowCopy(): StateManagerInterface {
    throw new Error('RemoteStateManager cannot be copied: it records one simulation');
  }

  // ---- the result -----------------------------------------------------------------------------

  /**
   * Every address the simulation asked for (except local ones), in first-touch order, with its
   * reference state, the slots read and what changed. Slots written without having been read
   * (not something the EVM does) are fetched now so that their old value is known.
   * @throws Error when called with a checkpoint open.
   */
  async touched(): Promise<TouchedAccount[]> {
    if (this.journal.length > 0) throw new Error('touched() called with a checkpoint open');
    await Promise.all([...this.pendingBases.values()]);
    const out: TouchedAccount[] = [];
    for (const address of this.order) {
      const base = await this.base(address);
      if (base.local) continue;
      const e = this.entries.get(address);
      const writes: TouchedAccount['writes'] = [];
      if (e) {
        for (const [slot, value] of e.storage) {
          const old = e.cleared && !base.slots.has(slot) && (!base.account || equalsBytes(base.account.storageRoot, KECCAK256_RLP))
            ? new Uint8Array()
            : (await this.baseSlot(base, slot)).value;
          if (!equalsBytes(old, value)) writes.push({ slot, oldValue: old, newValue: value });
        }
      }
      const after = e ? e.account : base.account;
      const hadCode = base.account !== undefined && !equalsBytes(base.account.codeHash, KECCAK256_NULL);
      const createdCode =
        !hadCode && after && !equalsBytes(after.codeHash, KECCAK256_NULL) && e?.code && equalsBytes(e.code.hash, after.codeHash)
          ? e.code.bytes
          : undefined;
      out.push({
        address,
        shardId: base.reference.shardId,
        reference: base.reference,
        before: base.account && copyAccount(base.account),
        beforeRlp: base.rlp,
        accountProof: base.proof,
        after: after && copyAccount(after),
        reads: [...base.slots.values()],
        writes,
        createdCode,
        storageCleared: e?.cleared ?? false,
        balanceRead: this.balanceObserved.has(address),
      });
    }
    return out;
  }
}
