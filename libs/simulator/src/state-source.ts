// Where a simulation reads remote state (StateSource), the shared code cache, and what a simulation records per touched address.
import type { Account } from '@ethereumjs/util';
import type { GetProofResponse, ReferenceBlock } from '@shardlab/proto';

/**
 * Where the simulator reads remote state. One instance serves one simulation: it pins one
 * reference block per shard (the first read of a shard takes its head, later reads of that shard
 * are at the same height) so that every value of a simulation comes from one consistent state.
 */
export interface StateSource {
  /**
   * The EIP-1186 proof of `address` (lowercase 0x hex) and of its storage `slots` (32-byte
   * lowercase 0x hex) at the reference block of the address's shard, as GetProof answers it.
   * @throws ShardLabError UNAVAILABLE when the shard cannot be reached.
   */
  getAccount(address: string, slots: readonly string[]): Promise<GetProofResponse>;
  /**
   * The code of a contract (code never changes after deployment, so any height will do).
   * @throws ShardLabError UNAVAILABLE when the shard cannot be reached.
   */
  getCode(address: string): Promise<Uint8Array>;
}

/**
 * Contract code by code hash, shared by simulations (code never changes after deployment, and a
 * code hash names one code). Bounded by total size; the oldest entries go first.
 */
export class CodeCache {
  private readonly codes = new Map<string, Uint8Array>();
  private bytes = 0;
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that had to fetch. */
  misses = 0;

  /** @param maxBytes most bytes of code kept [64 MiB] */
  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  /** The code with hash `codeHash` (0x hex), if cached; counts a hit or a miss. */
  get(codeHash: string): Uint8Array | undefined {
    const code = this.codes.get(codeHash);
    if (code) this.hits++;
    else this.misses++;
    return code;
  }

  /** Caches `code` under `codeHash`, which the caller has checked is its keccak256. */
  set(codeHash: string, code: Uint8Array): void {
    if (this.codes.has(codeHash) || code.length > this.maxBytes) return;
    this.codes.set(codeHash, code);
    this.bytes += code.length;
    while (this.bytes > this.maxBytes) {
      const [oldest, c] = this.codes.entries().next().value!;
      this.codes.delete(oldest);
      this.bytes -= c.length;
    }
  }

  /** Number of codes cached. */
  get size(): number {
    return this.codes.size;
  }
}

/** A slot value read from the reference state, with its proof. */
export interface SlotRead {
  /** 32-byte slot key, 0x lowercase hex. */
  slot: string;
  /** Value with leading zeros stripped (empty for zero). */
  value: Uint8Array;
  /**
   * Storage-trie nodes from the account's storage root; empty when the value follows from the
   * account item alone (the account does not exist or has no storage: every slot is zero).
   */
  proof: Uint8Array[];
}

/** What a simulation did to one address, relative to the reference state. */
export interface TouchedAccount {
  /** Lowercase 0x hex. */
  address: string;
  shardId: number;
  /** Reference block of the address's shard. */
  reference: ReferenceBlock;
  /** The account at the reference block; undefined when it did not exist. */
  before: Account | undefined;
  /** Its RLP (the proven leaf); empty when it did not exist. */
  beforeRlp: Uint8Array;
  /** Proof of the account (or of its absence) against the reference state root. */
  accountProof: Uint8Array[];
  /** The account after the transaction; undefined when it does not exist. */
  after: Account | undefined;
  /** Slots read from the reference state, in first-read order. */
  reads: SlotRead[];
  /** Slots whose final value differs from the reference value (values with leading zeros stripped). */
  writes: { slot: string; oldValue: Uint8Array; newValue: Uint8Array }[];
  /** Code deployed by the transaction at an address that had none. */
  createdCode: Uint8Array | undefined;
  /** The account's whole storage was cleared (contract creation, account deletion). */
  storageCleared: boolean;
  /**
   * The execution observed the account's balance: BALANCE on it, SELFBALANCE or a value transfer's
   * sufficiency check inside it, SELFDESTRUCT of it, or a debit of it (the transaction's sender
   * is not singled out here). An account that was only credited was not observed.
   */
  balanceRead: boolean;
}
