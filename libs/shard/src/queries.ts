// Read-only queries of a state shard: accounts, code, proofs (with simulation read locks), transaction status, blocks.
import { decodeTransaction } from '@shardlab/chain';
import { errors, parseAddress, parseHash } from '@shardlab/common';
import { Decision, TxStatus, type Account, type GetDecisionResponse, type GetProofResponse, type StateShardBlock, type TransactionStatus } from '@shardlab/proto';
import { requireLocal, shardOfAddress, type ShardCore } from './context';
import { parseProofRequest, type StateViewCache } from './proofs';
import type { CrossShardProtocol } from './protocol';
import type { LockKey } from '@shardlab/proto';
import type { LocksGranted } from './protocol';
import type { SimulationLock } from './tpc/key-locks';


/**
 * The queries a state shard answers (docs/ARCHITECTURE.md §1): every read is at the durable head
 * (or an older height's state root), never mid-block. Reads that combine the head with protocol
 * state (locked amounts) run under the admission mutex so they never see a mix.
 */
export class ShardQueries {
  constructor(
    private readonly core: ShardCore,
    private readonly protocol: CrossShardProtocol,
    /** Read-only state views at recent state roots (GetProof, GetCode). */
    private readonly views: StateViewCache,
  ) {}

  /**
   * Account state at the durable head.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION for an
   *   address placed on another shard.
   */
  async getAccount(address: string): Promise<Account> {
    const a = parseAddress(address);
    requireLocal(this.core, a);
    return this.core.admission.run(async () => {
      const s = await this.core.reader.getAccount(a);
      return {
        address: a,
        shardId: this.core.shardId,
        balance: s.balance.toString(),
        nonce: Number(s.nonce),
        locked: this.protocol.lockedOf(a).toString(),
        codeHash: s.codeHash,
        blockHeight: this.core.opts.store.head()!.height,
      };
    });
  }

  /**
   * EIP-1186 proof of an account and some of its storage slots at block `height` (default: the
   * durable head), for the simulator of cross-shard contract calls. `slots` are 32-byte 0x hex
   * keys (at most 256). The answer holds the account (balance in wei, nonce, code hash; `locked`
   * is the amount locked now, at the durable head: locks are protocol metadata, not part of the
   * proven state), the account proof from the block's state root, one storage item per slot in
   * request order (`value` a zero-padded 32-byte word, `proof` from the account's storage root,
   * see proofs.ts), and the reference block (shard, height, state root) the proofs are against.
   * Older heights are served from their state root (trie nodes are never pruned).
   *
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, slot or height, or more than
   *   256 slots; FAILED_PRECONDITION for an address placed on another shard; NOT_FOUND for a
   *   height beyond the durable head.
   */
  async getProof(address: string, slots: readonly string[], height?: number): Promise<GetProofResponse> {
    const req = parseProofRequest(address, slots, height);
    const a = req.address;
    requireLocal(this.core, a);
    // The head and the locked amount are read together, under admission like the other reads;
    // the proof itself is built outside it, from a read-only view at the reference root (trie
    // nodes are content-addressed and never pruned, so blocks produced meanwhile cannot change it).
    const snap = await this.core.admission.run(async () => ({ head: this.core.opts.store.head()!, locked: this.protocol.lockedOf(a) }));
    const h = height ?? snap.head.height;
    if (h > snap.head.height) throw errors.notFound(`shard ${this.core.shardId} has no block at height ${h} (head is ${snap.head.height})`);
    const stateRoot = h === snap.head.height ? snap.head.stateRoot : (await this.core.opts.store.getBlock(h))?.stateRoot;
    if (!stateRoot) throw errors.internal(`block ${h} missing below head ${snap.head.height}`);
    const p = await this.views.at(stateRoot).prove(a, req.slots);
    const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return {
      account: {
        address: a,
        shardId: this.core.shardId,
        balance: p.account.balance.toString(),
        nonce: Number(p.account.nonce),
        locked: snap.locked.toString(),
        codeHash: p.account.codeHash,
        blockHeight: h,
      },
      accountProof: p.accountProof.map(buf),
      storage: p.storage.map((s) => ({ slot: s.slot, value: s.value, proof: s.proof.map(buf) })),
      reference: { shardId: this.core.shardId, height: h, stateRoot: p.stateRoot },
    };
  }

  /**
   * Takes locks of a cross-shard contract call on keys of this shard (AcquireLocks); see the
   * protocol's {@link CrossShardProtocol.acquireLocks}.
   */
  acquireLocks(txHash: string, keys: readonly LockKey[], ttlMs?: number, waitMs?: number): Promise<LocksGranted> {
    return this.protocol.acquireLocks(txHash, keys, ttlMs, waitMs);
  }

  /**
   * Releases every simulation lock of a transaction on this shard (its simulation failed or gave
   * up; ReleaseSimulationLocks). Prepare locks are not touched. Returns how many keys were
   * released (0 when it held none).
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  releaseSimulationLocks(txHash: string): Promise<number> {
    return this.protocol.releaseLocks(txHash);
  }

  /** Every simulation lock in the table (expired ones too, until swept), for tests and audits. */
  simulationLocks(): SimulationLock[] {
    return this.protocol.readLocks();
  }

  /**
   * Shard-led DryRunCall: runs a signed call to a contract of this shard against the durable head
   * without keeping any effect (nonce and balance unchecked: the sender lives on its own shard)
   * and returns the other shards whose accounts it reads or writes (sorted; the sender excepted),
   * and the EVM's error if it stopped with one.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed transaction or one without calldata or
   *   recipient; FAILED_PRECONDITION when the contract is placed on another shard.
   */
  async dryRunCall(raw: Uint8Array): Promise<{ reachedShards: number[]; error: string }> {
    const core = this.core;
    const key = core.opts.signaturePool ? await core.opts.signaturePool.recover(raw) : undefined;
    const d = decodeTransaction(raw, core.opts.common, key);
    if (d.to === undefined || d.tx.data.length === 0) throw errors.invalidArgument(`transaction ${d.hash} is not a contract call (no recipient or no calldata)`, { txHash: d.hash });
    requireLocal(core, d.to);
    const run = await core.admission.run(() => core.dryRunner.touchedBy(d, core.opts.store.head()!.height + 1, Math.max(core.now(), 1), { skipBalance: true }));
    const from = d.from.toLowerCase();
    const shards = new Set(run.touched.filter((a) => a !== from).map((a) => shardOfAddress(core, a)).filter((s) => s !== core.shardId));
    return { reachedShards: [...shards].sort((a, b) => a - b), error: run.error ?? run.refused ?? '' };
  }

  /**
   * Contract code of an address at the durable head; empty for an externally owned account or an
   * address without state.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION for an
   *   address placed on another shard.
   */
  async getCode(address: string): Promise<{ code: Buffer }> {
    const a = parseAddress(address);
    requireLocal(this.core, a);
    const head = await this.core.admission.run(async () => this.core.opts.store.head()!);
    const code = await this.views.at(head.stateRoot).code(a);
    return { code: Buffer.from(code.buffer, code.byteOffset, code.byteLength) };
  }

  /**
   * A page of the accounts this shard holds (every account ever written here), at the durable
   * head, in address order. `pageToken` is the last address of the previous page ('' for the
   * first); `pageSize` 1..10,000 (0 means 1,000).
   * @throws ShardLabError INVALID_ARGUMENT for a bad token or page size.
   */
  async listAccounts(pageToken: string, pageSize: number): Promise<{ accounts: Account[]; nextPageToken: string; blockHeight: number }> {
    const after = pageToken === '' ? undefined : parseAddress(pageToken, 'page_token');
    const size = pageSize === 0 ? 1000 : pageSize;
    if (!Number.isInteger(size) || size < 1 || size > 10_000) throw errors.invalidArgument(`page_size must be 1..10000, got ${pageSize}`);
    return this.core.admission.run(async () => {
      const addresses = await this.core.opts.store.accounts(after, size);
      const blockHeight = this.core.opts.store.head()!.height;
      const accounts: Account[] = [];
      for (const a of addresses) {
        const st = await this.core.reader.getAccount(a);
        accounts.push({ address: a, shardId: this.core.shardId, balance: st.balance.toString(), nonce: Number(st.nonce), locked: this.protocol.lockedOf(a).toString(), codeHash: st.codeHash, blockHeight });
      }
      return { accounts, nextPageToken: addresses.length === size ? addresses.at(-1)! : '', blockHeight };
    });
  }

  /**
   * Status of a transaction as this shard knows it: QUEUED (in the mempool), INCLUDED (in a block
   * being persisted), FINAL (with its receipt), DROPPED (with the reason), or UNKNOWN.
   *
   * A cross-shard transaction admitted here (this is its home) is PENDING while in the mempool;
   * once in a block it carries this shard's receipt (the fee; for a shard-led call the acceptance
   * of its prepayment, gas used 0) and the decision its protocol applied here
   * (`CrossShardProtocol.decisionOf`): block-2PC's COMMITTED or ABORTED once the orchestrator's
   * decision is applied. Shard-led (docs/ARCHITECTURE.md §3): a call is COMMITTED once this shard
   * credited its CALL_RESULT receipt (its outcome — success, gas used, logs, error — is the contract
   * shard's receipt, not this one); a transfer stays PENDING: it is decided once debited (it never
   * aborts), but its end, the destination's credit, is not visible here — the gateway combines this
   * answer with the destination's blocks.
   *
   * A shard-led call executed here for a sender placed on another shard (this is the contract's
   * shard) is answered with this shard's receipt of the execution, cross_shard true, home_shard the
   * sender's shard, and PENDING: its end, the home's credit of the result, is not visible here.
   * A transfer credited here (its destination) is not a transaction of this shard: UNKNOWN.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async getTransaction(hash: string): Promise<TransactionStatus> {
    const h = parseHash(hash, 'tx_hash');
    const base = { txHash: h, homeShard: this.core.shardId, crossShard: false, blockHeight: 0, reason: '', updatedAtMs: this.core.now(), receipt: undefined, applied: false, involvedShards: [] };
    // The mempool first: a transaction leaves it only after its block is durable, so one not
    // found there is already in the store (or dropped) by the time the store is read.
    const e = this.core.mempool.get(h);
    if (e?.crossShard) return { ...base, crossShard: true, status: TxStatus.TX_STATUS_PENDING, updatedAtMs: e.acceptedAtMs };
    if (e) return { ...base, status: e.executing ? TxStatus.TX_STATUS_INCLUDED : TxStatus.TX_STATUS_QUEUED, updatedAtMs: e.acceptedAtMs };
    const loc = await this.core.opts.store.txLocation(h);
    if (loc) {
      const block = await this.core.opts.store.getBlock(loc.height);
      const receipt = block?.receipts[loc.receiptIndex];
      if (block && receipt) {
        const entry = block.transactions[receipt.txIndex]?.kind;
        const user = entry?.$case === 'user' ? entry.value : undefined;
        const to = user?.to ?? '';
        const senderShard = user?.from ? shardOfAddress(this.core, user.from) : this.core.shardId;
        if (senderShard !== this.core.shardId) {
          // A shard-led call executed on its contract's shard: this shard's part is done, the end is its home's.
          return { ...base, homeShard: senderShard, crossShard: true, status: TxStatus.TX_STATUS_PENDING, blockHeight: block.height, receipt };
        }
        if (to && shardOfAddress(this.core, to) !== this.core.shardId) {
          // A cross-shard transaction: its receipt is the fee; the outcome is the commit decision.
          const d = await this.protocol.decisionOf(h);
          const status = d === 'commit' ? TxStatus.TX_STATUS_COMMITTED : d === 'abort' ? TxStatus.TX_STATUS_ABORTED : TxStatus.TX_STATUS_PENDING;
          return { ...base, crossShard: true, status, blockHeight: block.height, receipt };
        }
        return { ...base, status: TxStatus.TX_STATUS_FINAL, blockHeight: block.height, receipt };
      }
    }
    const d = this.core.dropped.get(h);
    if (d) return { ...base, status: TxStatus.TX_STATUS_DROPPED, reason: d.reason, cause: d.cause, updatedAtMs: d.atMs };
    return { ...base, status: TxStatus.TX_STATUS_UNKNOWN };
  }

  /**
   * The decision on the cross-shard transaction `hash` that this shard applied in a durable block,
   * as its protocol records it (`CrossShardProtocol.decisionOf`: block-2PC's `tpcd:<hash>`, kept
   * across restarts), with the height of the block that applied it when this process applied it
   * (`decisionHeightOf`), else 0. DECISION_UNSPECIFIED (height 0) while none is applied here.
   * @throws ShardLabError INVALID_ARGUMENT for a malformed hash.
   */
  async getDecision(hash: string): Promise<GetDecisionResponse> {
    const h = parseHash(hash, 'tx_hash');
    const d = await this.protocol.decisionOf(h);
    if (d === undefined) return { decision: Decision.DECISION_UNSPECIFIED, height: 0 };
    return { decision: d === 'commit' ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT, height: this.protocol.decisionHeightOf?.(h) ?? 0 };
  }

  /**
   * A block by height, or the head block.
   * @throws ShardLabError NOT_FOUND beyond the head.
   */
  async getBlock(height?: number): Promise<StateShardBlock> {
    const h = height ?? this.core.opts.store.head()!.height;
    const b = await this.core.opts.store.getBlock(h);
    if (!b) throw errors.notFound(`shard ${this.core.shardId} has no block at height ${h} (head is ${this.core.opts.store.head()!.height})`);
    return b;
  }
}
