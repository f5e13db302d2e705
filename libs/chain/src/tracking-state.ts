// A Merkle state manager that records which accounts a block, a transaction or a dry run wrote and read.
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { bytesToHex, equalsBytes, type Account, type Address } from '@ethereumjs/util';
import { LockField } from '@shardlab/proto';
import { lockKeyId } from './lock-keys';

/** A Merkle state manager that remembers which accounts were written (for the accounts index). */
export class TrackingStateManager extends MerkleStateManager {
  /** Accounts written in the current block. */
  readonly touched = new Set<string>();
  /** Accounts written by the current transaction. */
  readonly txTouched = new Set<string>();
  /**
   * With {@link trackTxKeys} on: each account the current transaction wrote, as it was before
   * (nonce, balance, code hash; undefined: absent), and the storage slots it wrote (lock key ids
   * `0xaddress|s|0xslot` of @shardlab/chain's lock-keys).
   */
  private readonly txBefore = new Map<string, { address: Address; account: { nonce: bigint; balance: bigint; codeHash: Uint8Array } | undefined }>();
  private readonly txSlots = new Set<string>();
  /** Whether to record what each transaction writes by key (see {@link txWrittenKeys}). */
  trackTxKeys = false;

  /** Starts a new transaction: forgets what the previous one touched. */
  beginTx(): void {
    this.txTouched.clear();
    this.txBefore.clear();
    this.txSlots.clear();
  }

  private async rememberBefore(address: Address, a: string): Promise<void> {
    if (!this.trackTxKeys || this.txBefore.has(a)) return;
    const acc = await super.getAccount(address);
    this.txBefore.set(a, { address, account: acc ? { nonce: acc.nonce, balance: acc.balance, codeHash: acc.codeHash.slice() } : undefined });
  }

  /**
   * The lock key ids (@shardlab/chain lock-keys) the current transaction wrote, with
   * {@link trackTxKeys} on: each storage slot written, and `|b`, `|n`, `|c` for each account
   * whose balance, nonce or code changed (compared with the account before the transaction).
   */
  async txWrittenKeys(): Promise<string[]> {
    const out = [...this.txSlots];
    for (const [a, { address, account: before }] of this.txBefore) {
      const after = await super.getAccount(address);
      if ((before?.balance ?? 0n) !== (after?.balance ?? 0n)) out.push(lockKeyId({ address: a, field: LockField.LOCK_FIELD_BALANCE, slot: '' }));
      if ((before?.nonce ?? 0n) !== (after?.nonce ?? 0n)) out.push(lockKeyId({ address: a, field: LockField.LOCK_FIELD_NONCE, slot: '' }));
      const bc = before?.codeHash;
      const ac = after?.codeHash;
      if ((bc === undefined) !== (ac === undefined) || (bc && ac && !equalsBytes(bc, ac))) out.push(lockKeyId({ address: a, field: LockField.LOCK_FIELD_CODE, slot: '' }));
    }
    return out;
  }

  override async putAccount(address: Address, account: Account | undefined): Promise<void> {
    const a = address.toString().toLowerCase();
    await this.rememberBefore(address, a);
    this.touched.add(a);
    this.txTouched.add(a);
    return super.putAccount(address, account);
  }
  override async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    const a = address.toString().toLowerCase();
    if (this.trackTxKeys) this.txSlots.add(lockKeyId({ address: a, field: LockField.LOCK_FIELD_SLOT, slot: bytesToHex(key) }));
    return super.putStorage(address, key, value);
  }
  override async deleteAccount(address: Address): Promise<void> {
    const a = address.toString().toLowerCase();
    await this.rememberBefore(address, a);
    this.touched.add(a);
    this.txTouched.add(a);
    return super.deleteAccount(address);
  }
  /** When set, every account read is recorded here too (dry runs). */
  reads: Set<string> | undefined;
  override async getAccount(address: Address): Promise<Account | undefined> {
    this.reads?.add(address.toString().toLowerCase());
    return super.getAccount(address);
  }
}
