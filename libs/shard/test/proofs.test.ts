import { status, type ServiceError } from '@grpc/grpc-js';
import { MerklePatriciaTrie, verifyMPTWithMerkleProof, verifyMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { MerkleStateManager, verifyMerkleStateProof } from '@ethereumjs/statemanager';
import { createAccountFromRLP, createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount, type TxRequest } from '@shardlab/chain';
import { ErrorCode, toHex } from '@shardlab/common';
import type { GetProofResponse, StateShardServiceClient } from '@shardlab/proto';
import type { RunningServer } from '@shardlab/rpc';
import { MemoryKV, ShardStore } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { serveShard } from './serve';
import { createShardNode, genesisAllocation, type ShardNode } from '../src';
import { EMPTY_CODE_HASH, EMPTY_TRIE_ROOT, MAX_PROOF_SLOTS, verifyAccountProof, verifyProofResponse, verifyStorageProof } from '../src/proofs';
import { rejection } from '@shardlab/testing';

const common = createChainCommon();
const SHARD = 0;
const dev = devAccounts();
const base = createPlacement(4);
const local = dev.filter((a) => shardOf(base, a.address) === SHARD);
const remote = dev.filter((a) => shardOf(base, a.address) !== SHARD);
const [alice, bob] = local as [DevAccount, DevAccount];
/** The contract alice creates with her first transaction, pinned to this shard. */
const CONTRACT = createContractAddress(createAddressFromString(alice.address), 0n).toString();
const placement = createPlacement(4, 1, [[CONTRACT, SHARD]]);
/** An address on this shard that never had state. */
const NOBODY = '0x' + '5a'.repeat(19) + '00';

const slot = (n: number) => '0x' + n.toString(16).padStart(64, '0');
const word = (hex: string) => '0x' + hex.replace(/^0x/, '').padStart(64, '0');
const ONES = '0x' + 'ff'.repeat(32);

/** Runtime: stores the first calldata word in slot 0 (`PUSH1 0 CALLDATALOAD PUSH1 0 SSTORE STOP`). */
const RUNTIME = Uint8Array.from([0x60, 0x00, 0x35, 0x60, 0x00, 0x55, 0x00]);
/**
 * Init code: slot 0 = 0x2a, slot 1 = 7, then returns {@link RUNTIME}:
 * `PUSH1 2a PUSH1 0 SSTORE  PUSH1 7 PUSH1 1 SSTORE  PUSH1 len PUSH1 off PUSH1 0 CODECOPY  PUSH1 len PUSH1 0 RETURN`.
 */
const INIT = (() => {
  const head = [0x60, 0x2a, 0x60, 0x00, 0x55, 0x60, 0x07, 0x60, 0x01, 0x55, 0x60, RUNTIME.length, 0x60, 0x00, 0x60, 0x00, 0x39, 0x60, RUNTIME.length, 0x60, 0x00, 0xf3];
  head[13] = head.length; // code offset of the runtime
  return Uint8Array.from([...head, ...RUNTIME]);
})();

const sign = (from: DevAccount, req: TxRequest) => signTransaction(common, from, req);

function call<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

/** A copy of `nodes` with one byte of node `i` flipped. */
function tamper(nodes: readonly Uint8Array[], i: number): Buffer[] {
  return nodes.map((n, j) => {
    const c = Buffer.from(n);
    if (j === i) c[c.length - 1] = c[c.length - 1]! ^ 0x01;
    return c;
  });
}

/**
 * Independent check with ethereumjs alone: the first account-proof node hashes to the state root,
 * and `verifyMerkleStateProof` accepts the answer as an EIP-1186 `eth_getProof` result.
 */
async function ethereumjsVerify(res: GetProofResponse, stateRoot: string, storageHash: string): Promise<boolean> {
  expect(toHex(keccak256(res.accountProof[0]!))).toBe(stateRoot);
  return verifyMerkleStateProof(new MerkleStateManager(), {
    address: res.account!.address as `0x${string}`,
    balance: `0x${BigInt(res.account!.balance).toString(16)}`,
    nonce: `0x${res.account!.nonce.toString(16)}`,
    codeHash: res.account!.codeHash as `0x${string}`,
    storageHash: storageHash as `0x${string}`,
    accountProof: res.accountProof.map((n) => toHex(n) as `0x${string}`),
    storageProof: res.storage.map((s) => ({ key: s.slot as `0x${string}`, value: s.value as `0x${string}`, proof: s.proof.map((n) => toHex(n) as `0x${string}`) })),
  });
}

describe('GetProof and GetCode', () => {
  let node: ShardNode;
  let server: RunningServer;
  let client: StateShardServiceClient;
  const logger = silentLogger();
  /** Heights: contract created; an unrelated transfer; slot 0 overwritten. */
  let hCreated: number;
  let hTransfer: number;
  let hChanged: number;

  beforeAll(async () => {
    expect(remote.length).toBeGreaterThan(0);
    node = await createShardNode({ shardId: SHARD, placement, common, store: await ShardStore.open(new MemoryKV()), logger, genesis: genesisAllocation() });
    await node.submit(sign(alice, { nonce: 0n, gasLimit: 200_000n, data: INIT }));
    const b1 = await node.produceBlock();
    expect(b1.receipts[0]).toMatchObject({ success: true, contractAddress: CONTRACT });
    hCreated = b1.height;
    await node.submit(sign(alice, { nonce: 1n, to: bob.address, value: 5n }));
    hTransfer = (await node.produceBlock()).height;
    await node.submit(sign(alice, { nonce: 2n, to: CONTRACT, gasLimit: 100_000n, data: Buffer.from(ONES.slice(2), 'hex') }));
    const b3 = await node.produceBlock();
    expect(b3.receipts[0]!.success).toBe(true);
    hChanged = b3.height;
    ({ server, client } = await serveShard(node, logger));
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await node.stop();
  });

  const rootAt = async (h: number) => (await node.getBlock(h)).stateRoot;

  it('proves a contract and its slots at the head, with a proof of absence for an unwritten slot', async () => {
    const head = node.head();
    const res = await node.getProof(CONTRACT, [slot(0), slot(1), slot(2)]);
    expect(res.reference).toEqual({ shardId: SHARD, height: head.height, stateRoot: head.stateRoot });
    expect(res.account).toEqual({
      address: CONTRACT,
      shardId: SHARD,
      balance: '0',
      nonce: 1, // EIP-161: contracts start at nonce 1
      locked: '0',
      codeHash: toHex(keccak256(RUNTIME)),
      blockHeight: head.height,
    });
    expect(res.storage.map((s) => [s.slot, s.value])).toEqual([
      [slot(0), ONES],
      [slot(1), word('07')],
      [slot(2), word('00')],
    ]);

    const acc = await verifyProofResponse(res);
    expect(acc).toMatchObject({ exists: true, nonce: 1n, balance: 0n });
    expect(acc.storageRoot).not.toBe(EMPTY_TRIE_ROOT);
    expect(await ethereumjsVerify(res, head.stateRoot, acc.storageRoot)).toBe(true);

    // The raw MPT helpers agree: the account leaf is the RLP account, slot 2 is absent.
    const trie = new MerklePatriciaTrie({ useKeyHashing: true });
    const leaf = await verifyMPTWithMerkleProof(trie, Buffer.from(head.stateRoot.slice(2), 'hex'), createAddressFromString(CONTRACT).bytes, res.accountProof);
    expect(toHex(createAccountFromRLP(leaf!).storageRoot)).toBe(acc.storageRoot);
    const storageRoot = Buffer.from(acc.storageRoot.slice(2), 'hex');
    const v1 = await verifyMerkleProof(Buffer.from(slot(1).slice(2), 'hex'), res.storage[1]!.proof, { useKeyHashing: true, root: storageRoot });
    expect(toHex(RLP.decode(v1!) as Uint8Array)).toBe('0x07');
    expect(await verifyMerkleProof(Buffer.from(slot(2).slice(2), 'hex'), res.storage[2]!.proof, { useKeyHashing: true, root: storageRoot })).toBeNull();
  });

  it('proves an externally owned account (empty storage) and an absent account', async () => {
    const head = node.head();
    const eoa = await node.getProof(alice.address, [slot(0)]);
    const a = await node.getAccount(alice.address);
    expect(eoa.account).toMatchObject({ balance: a.balance, nonce: 3, codeHash: EMPTY_CODE_HASH });
    expect(eoa.storage).toEqual([{ slot: slot(0), value: word('00'), proof: [] }]);
    expect(await verifyProofResponse(eoa)).toMatchObject({ exists: true, storageRoot: EMPTY_TRIE_ROOT, nonce: 3n });
    // ethereumjs' verifier cannot take the empty proof of an empty storage trie (what it and geth
    // answer for such slots), so only the account part is checked with it.
    expect(await ethereumjsVerify({ ...eoa, storage: [] }, head.stateRoot, EMPTY_TRIE_ROOT)).toBe(true);

    const none = await node.getProof(NOBODY, [slot(5)]);
    expect(none.account).toMatchObject({ address: NOBODY, balance: '0', nonce: 0, codeHash: EMPTY_CODE_HASH });
    expect(none.accountProof.length).toBeGreaterThan(0);
    expect(none.storage).toEqual([{ slot: slot(5), value: word('00'), proof: [] }]);
    expect(await verifyProofResponse(none)).toEqual({ exists: false, nonce: 0n, balance: 0n, storageRoot: EMPTY_TRIE_ROOT, codeHash: EMPTY_CODE_HASH });
    // An absence proof cannot be passed off as a balance.
    await expect(verifyProofResponse({ ...none, account: { ...none.account!, balance: '1' } })).rejects.toThrow(/balance/);
  });

  it('serves older heights from their own state root', async () => {
    const old = await node.getProof(CONTRACT, [slot(0), slot(1)], hCreated);
    const oldRoot = await rootAt(hCreated);
    expect(old.reference).toEqual({ shardId: SHARD, height: hCreated, stateRoot: oldRoot });
    expect(old.account!.blockHeight).toBe(hCreated);
    expect(old.storage.map((s) => s.value)).toEqual([word('2a'), word('07')]);
    await verifyProofResponse(old, oldRoot);

    // Before the contract existed (genesis): a proof of absence.
    const genesis = await node.getProof(CONTRACT, [slot(0)], 0);
    expect(genesis.account!.codeHash).toBe(EMPTY_CODE_HASH);
    expect(genesis.storage[0]!.value).toBe(word('00'));
    expect((await verifyProofResponse(genesis, await rootAt(0))).exists).toBe(false);
  });

  it('detects stale proofs: an old proof does not verify against a newer root', async () => {
    const oldRoot = await rootAt(hCreated);
    const newRoot = await rootAt(hChanged);
    expect(newRoot).not.toBe(oldRoot);
    const old = await node.getProof(CONTRACT, [slot(0), slot(1)], hCreated);
    await expect(verifyProofResponse(old, newRoot)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, message: expect.stringMatching(/invalid account proof/) });
    await expect(verifyAccountProof(newRoot, CONTRACT, old.accountProof)).rejects.toThrow(/invalid account proof/);

    // Storage proofs are against the account's storage root, which changed with slot 0: the old
    // proofs fail against it, also for slot 1 (unchanged, but its path shares the changed nodes).
    const now = await verifyAccountProof(newRoot, CONTRACT, (await node.getProof(CONTRACT, [])).accountProof);
    await expect(verifyStorageProof(now.storageRoot, slot(0), old.storage[0]!.proof)).rejects.toThrow(/invalid storage proof/);
    await expect(verifyStorageProof(now.storageRoot, slot(1), old.storage[1]!.proof)).rejects.toThrow(/invalid storage proof/);
    // Against the old storage root they still hold.
    const then = await verifyAccountProof(oldRoot, CONTRACT, old.accountProof);
    expect(await verifyStorageProof(then.storageRoot, slot(1), old.storage[1]!.proof)).toBe(word('07'));

    // A block that does not touch the contract still moves the state root: its account proof
    // from before that block is stale, though the contract's storage root is unchanged.
    const beforeTransfer = await node.getProof(CONTRACT, [slot(0)], hCreated);
    const afterTransfer = await node.getProof(CONTRACT, [slot(0)], hTransfer);
    expect(afterTransfer.reference!.stateRoot).not.toBe(beforeTransfer.reference!.stateRoot);
    await expect(verifyProofResponse(beforeTransfer, afterTransfer.reference!.stateRoot)).rejects.toThrow(/invalid account proof/);
    expect(afterTransfer.storage[0]!.value).toBe(word('2a'));
  });

  it('rejects tampered proofs and misreported values', async () => {
    const res = await node.getProof(CONTRACT, [slot(0), slot(1)]);
    const root = res.reference!.stateRoot;
    for (let i = 0; i < res.accountProof.length; i++) {
      await expect(verifyProofResponse({ ...res, accountProof: tamper(res.accountProof, i) })).rejects.toThrow(/invalid account proof/);
    }
    const s0 = res.storage[0]!;
    for (let i = 0; i < s0.proof.length; i++) {
      const storage = [{ ...s0, proof: tamper(s0.proof, i) }, res.storage[1]!];
      await expect(verifyProofResponse({ ...res, storage })).rejects.toThrow(/invalid storage proof/);
    }
    // A valid proof with a different reported value, a dropped node, or another slot's proof.
    await expect(verifyProofResponse({ ...res, storage: [{ ...s0, value: word('2a') }] })).rejects.toThrow(/slot 0x0+ .* differs/);
    await expect(verifyProofResponse({ ...res, accountProof: res.accountProof.slice(1) })).rejects.toThrow(/invalid account proof/);
    await expect(verifyProofResponse({ ...res, storage: [{ ...s0, proof: res.storage[1]!.proof }] })).rejects.toThrow();
    await expect(verifyProofResponse({ ...res, account: { ...res.account!, nonce: 2 } })).rejects.toThrow(/nonce/);
    // The untouched answer still verifies.
    expect((await verifyProofResponse(res, root)).exists).toBe(true);
  });

  it('GetCode returns the runtime code, and empty code for an EOA or an absent account', async () => {
    expect(toHex((await node.getCode(CONTRACT)).code)).toBe(toHex(RUNTIME));
    expect((await node.getCode(alice.address)).code.length).toBe(0);
    expect((await node.getCode(NOBODY)).code.length).toBe(0);
  });

  it('serves consistent proofs while blocks are produced', async () => {
    let nonce = 3n;
    const reads: Promise<GetProofResponse>[] = [];
    for (let i = 0; i < 5; i++) {
      await node.submit(sign(alice, { nonce: nonce++, to: CONTRACT, gasLimit: 100_000n, data: Buffer.from(slot(100 + i).slice(2), 'hex') }));
      const block = node.produceBlock();
      for (let j = 0; j < 4; j++) reads.push(node.getProof(CONTRACT, [slot(0)]));
      await block;
    }
    for (const r of await Promise.all(reads)) {
      expect(r.reference!.stateRoot).toBe(await rootAt(r.reference!.height));
      await verifyProofResponse(r);
      // Slot 0 holds what the block at the reference height left there.
      const expected = r.reference!.height <= hChanged ? ONES : slot(100 + r.reference!.height - hChanged - 1);
      expect(r.storage[0]!.value).toBe(expected);
    }
  });

  it('validates inputs (node errors)', async () => {
    expect((await rejection(node.getProof('0x1234', []))).code).toBe(ErrorCode.InvalidArgument);
    expect((await rejection(node.getProof(CONTRACT, ['0x01']))).message).toMatch(/slots\[0\]/);
    expect((await rejection(node.getProof(CONTRACT, [], -1))).code).toBe(ErrorCode.InvalidArgument);
    expect((await rejection(node.getProof(remote[0]!.address, []))).code).toBe(ErrorCode.FailedPrecondition);
    expect((await rejection(node.getProof(CONTRACT, [], node.head().height + 1))).code).toBe(ErrorCode.NotFound);
    expect((await rejection(node.getCode('nope'))).code).toBe(ErrorCode.InvalidArgument);
    expect((await rejection(node.getCode(remote[0]!.address))).code).toBe(ErrorCode.FailedPrecondition);
  });

  describe('over gRPC', () => {
    it('GetProof answers the node’s proof, and it verifies', async () => {
      const res = await call<GetProofResponse>((cb) => client.getProof({ address: CONTRACT.toUpperCase().replace('0X', '0x'), slots: [slot(0), slot(7)], height: hCreated }, cb));
      expect(res.reference).toEqual({ shardId: SHARD, height: hCreated, stateRoot: await rootAt(hCreated) });
      expect(res.account!.address).toBe(CONTRACT);
      expect(res.storage.map((s) => s.value)).toEqual([word('2a'), word('00')]);
      expect(res).toEqual(await node.getProof(CONTRACT, [slot(0), slot(7)], hCreated));
      await verifyProofResponse(res);

      // No height: the head; height 0 present on the wire means genesis.
      const head = await call<GetProofResponse>((cb) => client.getProof({ address: CONTRACT, slots: [] }, cb));
      expect(head.reference!.height).toBe(node.head().height);
      const genesis = await call<GetProofResponse>((cb) => client.getProof({ address: CONTRACT, slots: [], height: 0 }, cb));
      expect(genesis.reference!.height).toBe(0);
    });

    it('GetCode answers the runtime code', async () => {
      const res = await call<{ code: Buffer }>((cb) => client.getCode({ address: CONTRACT }, cb));
      expect(toHex(res.code)).toBe(toHex(RUNTIME));
      expect((await call<{ code: Buffer }>((cb) => client.getCode({ address: bob.address }, cb))).code.length).toBe(0);
    });

    it('maps bad inputs to gRPC codes', async () => {
      const proof = (address: string, slots: string[], height?: number) =>
        grpcError(call((cb) => client.getProof({ address, slots, ...(height !== undefined ? { height } : {}) }, cb)));
      expect((await proof('0xnothex', [])).code).toBe(status.INVALID_ARGUMENT);
      expect((await proof(CONTRACT, [slot(0), '0x' + '00'.repeat(31)])).code).toBe(status.INVALID_ARGUMENT);
      expect((await proof(CONTRACT, ['2a'])).details).toMatch(/slots\[0\]/);
      const tooMany = Array.from({ length: MAX_PROOF_SLOTS + 1 }, (_, i) => slot(i));
      expect((await proof(CONTRACT, tooMany)).details).toMatch(/at most 256 slots/);
      expect((await proof(remote[0]!.address, [])).code).toBe(status.FAILED_PRECONDITION);
      expect((await proof(CONTRACT, [], node.head().height + 10)).code).toBe(status.NOT_FOUND);
      expect((await grpcError(call((cb) => client.getCode({ address: '' }, cb)))).code).toBe(status.INVALID_ARGUMENT);
      expect((await grpcError(call((cb) => client.getCode({ address: remote[0]!.address }, cb)))).code).toBe(status.FAILED_PRECONDITION);

      // Exactly the limit is served.
      const max = await call<GetProofResponse>((cb) => client.getProof({ address: CONTRACT, slots: tooMany.slice(0, MAX_PROOF_SLOTS) }, cb));
      expect(max.storage).toHaveLength(MAX_PROOF_SLOTS);
      await verifyProofResponse(max);
    });
  });
});
