// The simulator's check of a shard's GetProof answer: account and storage Merkle proofs against the reference state root, and the reported values against the proven ones.
/**
 * Checking what a state shard answers to GetProof (EIP-1186 proofs, see docs/ARCHITECTURE.md §3):
 * every account and slot value the simulator executes against is the one its Merkle proof leads
 * to from the reference block's state root, so a read set is valid by construction.
 */
import { verifyMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { Account, KECCAK256_NULL, KECCAK256_RLP, createAccountFromRLP, equalsBytes } from '@ethereumjs/util';
import { nativeKeccak256 } from '@shardlab/chain';
import { errors, fromHex, toHex } from '@shardlab/common';
import type { GetProofResponse, ReferenceBlock } from '@shardlab/proto';

/** keccak256 of empty code (0x hex). */
export const EMPTY_CODE_HASH = toHex(KECCAK256_NULL);
/** Root of the empty trie (0x hex): the storage root of an account without storage. */
export const EMPTY_TRIE_ROOT = toHex(KECCAK256_RLP);
/** The 32-byte zero word (0x hex). */
export const ZERO_WORD = '0x' + '00'.repeat(32);

/** An account proven against a state root. */
export interface ProvenAccount {
  /** The account (with its storage root); undefined when the proof is a proof of absence. */
  account: Account | undefined;
  /** The proven leaf: the RLP account, or empty for an absent account. */
  rlp: Uint8Array;
}

/** One storage slot proven against an account's storage root. */
export interface ProvenSlot {
  /** 32-byte slot key, 0x lowercase hex. */
  slot: string;
  /** The value with leading zeros stripped (empty for zero), as ethereumjs state managers hold it. */
  value: Uint8Array;
  proof: Uint8Array[];
}

/** A GetProof answer whose proofs were checked. */
export interface ProvenState {
  address: string;
  reference: ReferenceBlock;
  proven: ProvenAccount;
  accountProof: Uint8Array[];
  storage: ProvenSlot[];
}

/** A 32-byte word (0x hex) of a value given with its leading zeros stripped. */
export function toWord(value: Uint8Array): string {
  return '0x' + Buffer.from(value).toString('hex').padStart(64, '0');
}

/** Strips leading zero bytes. */
export function unpad(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  return value.subarray(i);
}

const badAnswer = (shardId: number, message: string) =>
  errors.unavailable(`shard ${shardId} answered GetProof with an invalid proof: ${message}`, { shardId });

/**
 * Checks a GetProof answer for `address` and `slots`: the account proof leads from the answer's
 * reference state root to the reported account (balance, nonce, code hash; `locked` is protocol
 * metadata and not proven), and every requested slot has an item whose proof leads from the
 * proven storage root to the reported value. Values may be reported as 32-byte words or with
 * their leading zeros stripped.
 * @throws ShardLabError UNAVAILABLE naming the shard when anything does not match (a faulty or
 *   inconsistent shard: the simulation cannot trust it).
 */
export async function verifyProofAnswer(address: string, slots: readonly string[], res: GetProofResponse): Promise<ProvenState> {
  const ref = res.reference;
  if (!ref) throw errors.unavailable(`GetProof of ${address} answered without a reference block`);
  const shardId = ref.shardId;
  let root: Uint8Array;
  try {
    root = fromHex(ref.stateRoot, 'state root');
  } catch {
    throw badAnswer(shardId, `reference state root ${JSON.stringify(ref.stateRoot)} is not hex`);
  }
  if (root.length !== 32) throw badAnswer(shardId, `reference state root ${ref.stateRoot} is not 32 bytes`);
  const accountProof = res.accountProof.map((n) => new Uint8Array(n));
  let leaf: Uint8Array | null;
  try {
    leaf = await verifyMerkleProof(fromHex(address), accountProof, { useKeyHashing: true, useKeyHashingFunction: nativeKeccak256, root });
  } catch (err) {
    throw badAnswer(shardId, `account proof of ${address} does not lead from state root ${ref.stateRoot} (${(err as Error).message})`);
  }
  let account: Account | undefined;
  try {
    account = leaf === null ? undefined : createAccountFromRLP(leaf);
  } catch (err) {
    throw badAnswer(shardId, `account proof of ${address} ends in a malformed account (${(err as Error).message})`);
  }
  const reported = res.account;
  if (reported) {
    const balance = account?.balance ?? 0n;
    const nonce = account?.nonce ?? 0n;
    const codeHash = toHex(account?.codeHash ?? KECCAK256_NULL);
    if (reported.balance !== '' && reported.balance !== balance.toString()) {
      throw badAnswer(shardId, `${address}: reported balance ${reported.balance} differs from the proven ${balance}`);
    }
    if (BigInt(reported.nonce) !== nonce) throw badAnswer(shardId, `${address}: reported nonce ${reported.nonce} differs from the proven ${nonce}`);
    if (reported.codeHash !== '' && reported.codeHash.toLowerCase() !== codeHash) {
      throw badAnswer(shardId, `${address}: reported code hash ${reported.codeHash} differs from the proven ${codeHash}`);
    }
  }
  const storageRoot = account?.storageRoot ?? KECCAK256_RLP;
  const emptyStorage = equalsBytes(storageRoot, KECCAK256_RLP);
  const bySlot = new Map(res.storage.map((s) => [s.slot.toLowerCase(), s] as const));
  const storage: ProvenSlot[] = [];
  for (const slot of slots) {
    const item = bySlot.get(slot);
    if (!item) throw badAnswer(shardId, `${address}: no item for requested slot ${slot}`);
    const proof = item.proof.map((n) => new Uint8Array(n));
    let value: Uint8Array = new Uint8Array();
    if (!emptyStorage) {
      let slotLeaf: Uint8Array | null;
      try {
        slotLeaf = await verifyMerkleProof(fromHex(slot), proof, { useKeyHashing: true, useKeyHashingFunction: nativeKeccak256, root: storageRoot });
      } catch (err) {
        throw badAnswer(shardId, `${address}: storage proof of slot ${slot} does not lead from storage root ${toHex(storageRoot)} (${(err as Error).message})`);
      }
      if (slotLeaf !== null) {
        const decoded = RLP.decode(slotLeaf);
        if (!(decoded instanceof Uint8Array) || decoded.length > 32) throw badAnswer(shardId, `${address}: storage proof of slot ${slot} ends in a malformed value`);
        value = unpad(decoded);
      }
    }
    const reportedValue = /^(0x)?[0-9a-fA-F]{0,64}$/.test(item.value) ? BigInt('0x' + (item.value.replace(/^0x/, '') || '0')) : undefined;
    if (reportedValue === undefined) throw badAnswer(shardId, `${address}: slot ${slot} has a malformed value ${JSON.stringify(item.value)}`);
    if (reportedValue !== (value.length === 0 ? 0n : BigInt(toHex(value)))) {
      throw badAnswer(shardId, `${address}: reported value ${item.value} of slot ${slot} differs from the proven ${toWord(value)}`);
    }
    storage.push({ slot, value, proof });
  }
  return {
    address,
    reference: { shardId, height: ref.height, stateRoot: ref.stateRoot.toLowerCase() },
    proven: { account, rlp: leaf ?? new Uint8Array() },
    accountProof,
    storage,
  };
}
