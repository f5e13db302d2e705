// EIP-1186 Merkle proofs of a shard's state: read-only state views at a root (with an LRU), GetProof input checks, and verification of account, storage and whole-answer proofs.
/**
 * Merkle proofs of a shard's state (EIP-1186, `eth_getProof`), for the simulator of cross-shard
 * contract calls and for the shards that validate its ReadSet (docs/ARCHITECTURE.md §3 and §4).
 *
 * Shapes, as in EIP-1186 (https://eips.ethereum.org/EIPS/eip-1186):
 * - the **account proof** is the list of RLP-encoded nodes of the state trie on the path from the
 *   state root to the leaf of `keccak256(address)`; the leaf's value is the RLP account
 *   `[nonce, balance, storageRoot, codeHash]`. For an account that does not exist the nodes prove
 *   that the path ends without a leaf (a proof of absence).
 * - each **storage proof** is the list of RLP-encoded nodes of the account's storage trie on the
 *   path from the account's `storageRoot` (proven by the account proof, not sent separately) to
 *   the leaf of `keccak256(slot)`; the leaf's value is the RLP of the slot value with its leading
 *   zeros stripped. A slot that was never written (or was set back to zero) has a proof of
 *   absence, and its value is zero. An account without storage has the empty-trie root, whose
 *   proof of absence is the empty list.
 *
 * Slots and values are 32-byte 0x-prefixed lowercase hex strings (values zero-padded on the left);
 * amounts are in wei. State at older heights stays readable because trie nodes are stored by hash
 * and never pruned, so a read-only view at any stored block's state root is safe to use while new
 * blocks are produced.
 */
import type { Common } from '@ethereumjs/common';
import { MerklePatriciaTrie, verifyMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { MerkleStateManager, getMerkleStateProof } from '@ethereumjs/statemanager';
import { KECCAK256_NULL, KECCAK256_RLP, ValueEncoding, createAccountFromRLP, createAddressFromString, type DB } from '@ethereumjs/util';
import { errors, fromHex, parseAddress, parseHash, toHex } from '@shardlab/common';
import type { GetProofResponse } from '@shardlab/proto';

/** Most storage slots one GetProof request may ask for. */
export const MAX_PROOF_SLOTS = 256;

/** keccak256 of empty code (0x hex): the code hash of an account without code. */
export const EMPTY_CODE_HASH = toHex(KECCAK256_NULL);
/** Root of the empty trie (0x hex): the storage root of an account without storage. */
export const EMPTY_TRIE_ROOT = toHex(KECCAK256_RLP);

/** The 32-byte zero value (0x hex) of an unwritten slot. */
const ZERO_WORD = '0x' + '00'.repeat(32);

/** An account as stored in the state trie (the leaf of an account proof). */
export interface ProvenAccount {
  /**
   * False when the account does not exist (proof of absence); the other fields are then those of
   * an empty account (zero nonce and balance, the empty-trie root, the empty-code hash).
   */
  exists: boolean;
  nonce: bigint;
  /** Balance in wei. */
  balance: bigint;
  /** Root of the account's storage trie (0x hex, 32 bytes); {@link EMPTY_TRIE_ROOT} without storage. */
  storageRoot: string;
  /** keccak256 of the account's code (0x hex, 32 bytes); {@link EMPTY_CODE_HASH} without code. */
  codeHash: string;
}

/** One storage slot with its proof against the account's storage root. */
export interface StorageProofItem {
  /** 32-byte slot key, 0x lowercase hex. */
  slot: string;
  /** 32-byte value, 0x lowercase hex, zero-padded; all zeros for an unwritten slot. */
  value: string;
  /** RLP-encoded storage-trie nodes from the account's storage root to the slot (EIP-1186). */
  proof: Uint8Array[];
}

/** An EIP-1186 proof of one account and some of its slots at one state root. */
export interface StateProof {
  /** 20-byte address, 0x lowercase hex. */
  address: string;
  /** State root the proof is against (0x hex). */
  stateRoot: string;
  account: ProvenAccount;
  /** RLP-encoded state-trie nodes from the state root to the account (EIP-1186). */
  accountProof: Uint8Array[];
  /** One item per requested slot, in request order. */
  storage: StorageProofItem[];
}

/** Hex of a big-endian unsigned integer as a 32-byte word. */
function word(value: bigint): string {
  return '0x' + value.toString(16).padStart(64, '0');
}

/**
 * A read-only view of a shard's state at one state root, over the shard's trie-node database.
 * Never writes: it only reads nodes by hash, so it can be used concurrently with block
 * production and with other views.
 */
export class StateView {
  private constructor(
    /** State root of the view (0x hex). */
    readonly stateRoot: string,
    private readonly sm: MerkleStateManager,
  ) {}

  /**
   * Opens a view at `stateRoot` (0x hex) over `db`, with the same trie options as the shard's
   * executor (`BlockExecutor`: hashed keys, byte values).
   */
  static open(db: DB<string, Uint8Array>, common: Common, stateRoot: string): StateView {
    const root = fromHex(stateRoot, 'state_root');
    const trie = new MerklePatriciaTrie({ db, useKeyHashing: true, common, valueEncoding: ValueEncoding.Bytes, root });
    return new StateView(stateRoot.toLowerCase(), new MerkleStateManager({ trie, common }));
  }

  /**
   * The EIP-1186 proof of `address` and its `slots` (32-byte 0x hex each) at the view's root.
   * Addresses and slots must already be validated (see {@link parseProofRequest}).
   */
  async prove(address: string, slots: readonly string[]): Promise<StateProof> {
    const a = createAddressFromString(address);
    const keys = slots.map((s) => fromHex(s, 'slot'));
    const p = await getMerkleStateProof(this.sm, a, keys);
    const exists = (await this.sm.getAccount(a)) !== undefined;
    const account: ProvenAccount = {
      exists,
      nonce: BigInt(p.nonce),
      balance: BigInt(p.balance),
      storageRoot: p.storageHash.toLowerCase(),
      codeHash: p.codeHash.toLowerCase(),
    };
    // ethereumjs leaves out the slots of an absent account: their proof is the account's absence
    // (its storage root is the empty-trie root, proven by the empty list).
    const byKey = new Map(p.storageProof.map((s) => [s.key.toLowerCase(), s] as const));
    const storage = slots.map((slot): StorageProofItem => {
      const s = byKey.get(slot.toLowerCase());
      if (!s) return { slot: slot.toLowerCase(), value: ZERO_WORD, proof: [] };
      return { slot: slot.toLowerCase(), value: word(BigInt(s.value)), proof: s.proof.map((n) => fromHex(n)) };
    });
    return { address: address.toLowerCase(), stateRoot: this.stateRoot, account, accountProof: p.accountProof.map((n) => fromHex(n)), storage };
  }

  /**
   * The RLP account `[nonce, balance, storageRoot, codeHash]` of `address` at the view's root
   * (the leaf an account proof leads to); empty when the account does not exist. Two roots give
   * the same bytes exactly when the account and all its storage are the same.
   */
  async accountRlp(address: string): Promise<Uint8Array> {
    const acc = await this.sm.getAccount(createAddressFromString(address));
    return acc ? acc.serialize() : new Uint8Array();
  }

  /** Code of `address` at the view's root; empty for an account without code or no account. */
  async code(address: string): Promise<Uint8Array> {
    return this.sm.getCode(createAddressFromString(address));
  }
}

/**
 * A small LRU of {@link StateView}s by state root (several heights share a root when blocks
 * change nothing). Views hold no state beyond trie handles, so evicting one only costs reopening.
 */
export class StateViewCache {
  private readonly views = new Map<string, StateView>();

  constructor(
    private readonly db: DB<string, Uint8Array>,
    private readonly common: Common,
    /** Most views kept [8]. */
    private readonly capacity = 8,
  ) {}

  /** The view at `stateRoot` (0x hex), opened on first use. */
  at(stateRoot: string): StateView {
    const key = stateRoot.toLowerCase();
    let v = this.views.get(key);
    if (v) {
      this.views.delete(key);
    } else {
      v = StateView.open(this.db, this.common, key);
    }
    this.views.set(key, v);
    if (this.views.size > this.capacity) this.views.delete(this.views.keys().next().value!);
    return v;
  }
}

/**
 * Validates the inputs of GetProof: a 20-byte address, at most {@link MAX_PROOF_SLOTS} slots of
 * 32-byte hex each, and a height that is a non-negative integer when given. Returns the address
 * and slots lowercased.
 * @throws ShardLabError INVALID_ARGUMENT on any malformed input.
 */
export function parseProofRequest(address: string, slots: readonly string[], height?: number): { address: string; slots: string[] } {
  const a = parseAddress(address);
  if (slots.length > MAX_PROOF_SLOTS) throw errors.invalidArgument(`at most ${MAX_PROOF_SLOTS} slots per proof, got ${slots.length}`);
  const s = slots.map((slot, i) => parseHash(slot, `slots[${i}]`));
  if (height !== undefined && (!Number.isSafeInteger(height) || height < 0)) throw errors.invalidArgument(`height must be a non-negative integer, got ${height}`);
  return { address: a, slots: s };
}

/**
 * Verifies an EIP-1186 account proof of `address` against `stateRoot` (0x hex) and returns the
 * proven account (`exists: false` for a valid proof of absence).
 * @throws ShardLabError INVALID_ARGUMENT when the proof does not lead from `stateRoot` to the
 *   account's path (wrong root, stale or tampered nodes).
 */
export async function verifyAccountProof(stateRoot: string, address: string, proof: readonly Uint8Array[]): Promise<ProvenAccount> {
  const a = parseAddress(address);
  let leaf: Uint8Array | null;
  try {
    leaf = await verifyMerkleProof(fromHex(a), [...proof], { useKeyHashing: true, root: fromHex(stateRoot, 'state_root') });
  } catch (err) {
    throw errors.invalidArgument(`invalid account proof of ${a} against state root ${stateRoot}: ${(err as Error).message}`);
  }
  if (leaf === null) return { exists: false, nonce: 0n, balance: 0n, storageRoot: EMPTY_TRIE_ROOT, codeHash: EMPTY_CODE_HASH };
  const acc = createAccountFromRLP(leaf);
  return { exists: true, nonce: acc.nonce, balance: acc.balance, storageRoot: toHex(acc.storageRoot), codeHash: toHex(acc.codeHash) };
}

/**
 * Verifies an EIP-1186 storage proof of `slot` (32-byte 0x hex) against the account's
 * `storageRoot` (0x hex) and returns the proven value as a 32-byte 0x hex word (zero for a valid
 * proof of absence).
 * @throws ShardLabError INVALID_ARGUMENT when the proof does not lead from `storageRoot` to the slot.
 */
export async function verifyStorageProof(storageRoot: string, slot: string, proof: readonly Uint8Array[]): Promise<string> {
  const key = parseHash(slot, 'slot');
  // The empty trie has no node to show: every slot of an account without storage is zero, and
  // its proof is the empty list (as `eth_getProof` answers).
  if (storageRoot.toLowerCase() === EMPTY_TRIE_ROOT && proof.length === 0) return ZERO_WORD;
  let leaf: Uint8Array | null;
  try {
    leaf = await verifyMerkleProof(fromHex(key), [...proof], { useKeyHashing: true, root: fromHex(storageRoot, 'storage_root') });
  } catch (err) {
    throw errors.invalidArgument(`invalid storage proof of slot ${key} against storage root ${storageRoot}: ${(err as Error).message}`);
  }
  if (leaf === null) return ZERO_WORD;
  const value = RLP.decode(leaf);
  if (!(value instanceof Uint8Array) || value.length > 32) throw errors.invalidArgument(`storage proof of slot ${key} ends in a malformed value`);
  return word(value.length === 0 ? 0n : BigInt(toHex(value)));
}

/**
 * Verifies a whole GetProof answer against `stateRoot` (0x hex; the answer's own reference root
 * when omitted): the account proof leads to an account whose balance, nonce and code hash are the
 * reported ones, and every storage item's proof leads from that account's storage root to the
 * reported value. `locked` is protocol metadata outside the state trie and is not checked.
 * Returns the proven account.
 * @throws ShardLabError INVALID_ARGUMENT when any proof is invalid or any reported value differs
 *   from the proven one.
 */
export async function verifyProofResponse(res: GetProofResponse, stateRoot?: string): Promise<ProvenAccount> {
  const root = stateRoot ?? res.reference?.stateRoot;
  if (!res.account || !root) throw errors.invalidArgument('proof answer without account or reference state root');
  const address = res.account.address;
  const acc = await verifyAccountProof(root, address, res.accountProof);
  const mismatch = (field: string, reported: string, proven: string) =>
    errors.invalidArgument(`account ${address}: reported ${field} ${reported} differs from the proven ${proven} at state root ${root}`);
  if (acc.balance.toString() !== res.account.balance) throw mismatch('balance', res.account.balance, acc.balance.toString());
  if (acc.nonce !== BigInt(res.account.nonce)) throw mismatch('nonce', String(res.account.nonce), acc.nonce.toString());
  if (acc.codeHash !== res.account.codeHash.toLowerCase()) throw mismatch('code hash', res.account.codeHash, acc.codeHash);
  for (const item of res.storage) {
    const proven = await verifyStorageProof(acc.storageRoot, item.slot, item.proof);
    if (proven !== item.value.toLowerCase()) throw mismatch(`slot ${item.slot}`, item.value, proven);
  }
  return acc;
}
