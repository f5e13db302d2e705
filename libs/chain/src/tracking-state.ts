// A Merkle state manager that records which accounts a block, a transaction or a dry run wrote and read.
import { MerkleStateManager } from '@ethereumjs/statemanager';
import type { Account, Address } from '@ethereumjs/util';

/** A Merkle state manager that remembers which accounts were written (for the accounts index). */
export class TrackingStateManager extends MerkleStateManager {
  /** Accounts written in the current block. */
  readonly touched = new Set<string>();
  /** Accounts written by the current transaction. */
  readonly txTouched = new Set<string>();
  override async putAccount(address: Address, account: Account | undefined): Promise<void> {
    const a = address.toString().toLowerCase();
    this.touched.add(a);
    this.txTouched.add(a);
    return super.putAccount(address, account);
  }
  /** Accounts whose storage the current transaction wrote. */
  readonly txStorageTouched = new Set<string>();
  override async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    this.txStorageTouched.add(address.toString().toLowerCase());
    return super.putStorage(address, key, value);
  }
  override async deleteAccount(address: Address): Promise<void> {
    const a = address.toString().toLowerCase();
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
