// Admission of signed transactions into a state shard's mempool: decoding in arrival order, classification, checks against the sender, hand-off of cross-shard ones to the protocol.
import { createContractAddress, createAddressFromString } from '@ethereumjs/util';
import { context } from '@opentelemetry/api';
import { checkAgainstSender, decodeTransaction, type DecodedTx } from '@shardlab/chain';
import { errors, toHex } from '@shardlab/common';
import { TxStatus } from '@shardlab/proto';
import { tracer, withSpan } from '@shardlab/telemetry';
import { shardOfAddress, type ShardCore } from './context';
import type { MempoolEntry } from './mempool';
import type { CrossShardProtocol } from './protocol';

const t = tracer('state-shard');

/** What SubmitTransaction answers. */
export interface SubmitResult {
  txHash: string;
  shardId: number;
  crossShard: boolean;
  status: TxStatus;
  /** Client-led: the cross-shard transaction waits for its client to coordinate it (Prepare, Decide). */
  clientCoordinated: boolean;
}

/**
 * The admission path of one shard (docs/ARCHITECTURE.md §3): every submission is decoded in
 * arrival order, classified local or cross-shard (a call to a local contract by a dry run),
 * checked against its sender's state at the durable head and the mempool, and queued; a
 * cross-shard one is then handed to the cross-shard protocol.
 */
export class Admission {
  /** Settles when the latest submission so far is decoded (see {@link submit}). */
  private arrivals: Promise<void> = Promise.resolve();
  /** Per sender: settles when its latest submission so far is through admission (see {@link admitInTurn}). */
  private readonly senderTurns = new Map<string, Promise<void>>();

  constructor(
    private readonly core: ShardCore,
    private readonly protocol: CrossShardProtocol,
  ) {}

  /**
   * Validates a raw signed transaction and queues it.
   * @throws ShardLabError INVALID_ARGUMENT (malformed, wrong chain id, bad signature, gas bounds),
   *   FAILED_PRECONDITION (sender on another shard, nonce too low/high, fee cap below base fee,
   *   insufficient funds), ALREADY_EXISTS (same hash queued or included), UNIMPLEMENTED
   *   (cross-shard and the protocol carries none), RESOURCE_EXHAUSTED (mempool full), or what the
   *   protocol's hand-off raises (e.g. UNAVAILABLE: the orchestrator could not be reached).
   */
  async submit(raw: Uint8Array): Promise<SubmitResult> {
    const core = this.core;
    // Submissions reach admission in arrival order even though their signatures are recovered in
    // batches on several workers (which may finish out of order): each waits for the one before
    // it to be decoded. A sender's pipelined transactions thus keep their nonce order.
    const before = this.arrivals;
    let decoded!: () => void;
    this.arrivals = new Promise<void>((r) => (decoded = r));
    let d: DecodedTx;
    // The sender's previous submission (in arrival order) and the turn this one gives the next.
    let senderBefore: Promise<void> | undefined;
    let admitted!: () => void;
    const mine = new Promise<void>((r) => (admitted = r));
    try {
      const key = core.opts.signaturePool ? await core.opts.signaturePool.recover(raw) : undefined;
      await before;
      d = decodeTransaction(raw, core.opts.common, key);
      senderBefore = this.senderTurns.get(d.from);
      this.senderTurns.set(d.from, mine);
    } finally {
      decoded();
    }
    const from = d.from;
    return this.admitInTurn(d, senderBefore, admitted).finally(() => {
      admitted();
      if (this.senderTurns.get(from) === mine) this.senderTurns.delete(from);
    });
  }

  /**
   * Admits `d` once the sender's previous submission is through admission (`senderBefore`): a
   * shard-led call asks the contract's shard before its admission slot, and a sender's next
   * transaction must not overtake it (nonce order).
   */
  private async admitInTurn(d: DecodedTx, senderBefore: Promise<void> | undefined, admitted: () => void): Promise<SubmitResult> {
    const core = this.core;
    if (senderBefore) await senderBefore;
    return withSpan(t, 'shard.submit', { 'tx.hash': d.hash, 'shard.id': core.shardId }, async () => {
      const home = shardOfAddress(core, d.from);
      if (home !== core.shardId) {
        throw errors.failedPrecondition(`sender ${d.from} is placed on shard ${home}, not shard ${core.shardId}; submit through the gateway`, { txHash: d.hash });
      }
      if (core.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
      const target = d.to ?? toHex(createContractAddress(createAddressFromString(d.from), d.nonce).bytes);
      const targetShard = shardOfAddress(core, target);
      // Shard-led: a call to a contract on another shard may travel as a call receipt, executed
      // there (asked before the admission slot: it is a call to that shard).
      const asReceipt = targetShard !== core.shardId && d.to !== undefined && d.tx.data.length > 0 && this.protocol.carriesCall ? await this.protocol.carriesCall(d, targetShard) : false;
      // Everything from here to the mempool runs in one admission slot, in arrival order, so a
      // sender's next transaction never slips in between (nonce order).
      const { entry, crossShard, involvedShards } = await core.admission.run(async () => {
        try {
          return await this.admitOne(d, target, targetShard, asReceipt);
        } finally {
          // In the mempool (or refused): the sender's next submission may go.
          admitted();
        }
      });
      if (crossShard) {
        await this.protocol.dispatch(d, entry, involvedShards);
        return { txHash: d.hash, shardId: core.shardId, crossShard: true, status: TxStatus.TX_STATUS_PENDING, clientCoordinated: this.protocol.clientCoordinated === true };
      }
      core.opts.logger.debug({ txHash: d.hash, from: d.from, nonce: Number(d.nonce) }, 'transaction queued');
      return { txHash: d.hash, shardId: core.shardId, crossShard: false, status: TxStatus.TX_STATUS_QUEUED, clientCoordinated: false };
    });
  }

  /**
   * The admission of `d` proper, in its admission slot: classification (a call to a local
   * contract reaching other shards is cross-shard), the checks against the sender's state and
   * the mempool, and the mempool entry. See {@link submit} for the errors.
   */
  private async admitOne(d: DecodedTx, target: string, targetShard: number, asReceipt: boolean): Promise<{ entry: MempoolEntry; crossShard: boolean; involvedShards: number[] }> {
    const core = this.core;
    // A call to a local contract is run first with a tracking state: if it reads or writes an
    // account placed on another shard, it is a cross-shard call.
    const reached = !this.protocol.carriesCrossShard || targetShard !== core.shardId || d.tx.data.length === 0 ? [] : await this.foreignShardsReached(d);
    const crossShard = targetShard !== core.shardId || reached.length > 0;
    // A cross-shard contract call or creation: its mempool entry only reserves the nonce (the
    // protocol decides when and how the call itself is accepted).
    const isCall = crossShard && (!d.to || d.tx.data.length > 0) && !asReceipt;
    const involvedShards = reached.length > 0 ? [core.shardId, ...reached] : [targetShard];
    if (crossShard && !this.protocol.carriesCrossShard) {
      const why = !d.to
        ? `creates a contract at ${target}, placed on shard ${targetShard}, and this shard has no orchestrator`
        : d.tx.data.length > 0
          ? `calls ${target} on shard ${targetShard} with calldata, and this shard has no orchestrator`
          : `sends value to ${target} on shard ${targetShard}, and this shard has no orchestrator`;
      throw errors.unimplemented(`cross-shard transaction ${d.hash} ${why}: only cross-shard value transfers are implemented (contract calls need the simulator)`, { txHash: d.hash });
    }
    if (core.mempool.has(d.hash)) throw errors.alreadyExists(`transaction ${d.hash} was already submitted`, { txHash: d.hash });
    const acct = await core.reader.getAccount(d.from);
    const pending = core.mempool.senderView(d.from);
    try {
      checkAgainstSender(d, { stateNonce: acct.nonce, balance: acct.balance, locked: this.protocol.lockedOf(d.from), ...pending }, core.executor.baseFeePerGas);
    } catch (err) {
      // An included transaction necessarily has a nonce below the sender's next one, so the
      // store is only asked on that path (not on every submission).
      if (d.nonce < acct.nonce && (await core.opts.store.txLocation(d.hash))) {
        throw errors.alreadyExists(`transaction ${d.hash} was already submitted (included)`, { txHash: d.hash });
      }
      throw err;
    }
    core.dropped.delete(d.hash);
    return { entry: core.mempool.add(d, core.now(), context.active(), crossShard, isCall), crossShard, involvedShards };
  }

  /**
   * Shards other than this one whose accounts a call to a local contract reads or writes, from a
   * dry run at the head (sorted; empty for a purely local call). A transaction the EVM refuses is
   * left to the normal checks (its error comes from admission or execution). Call under the
   * admission mutex.
   */
  private async foreignShardsReached(d: DecodedTx): Promise<number[]> {
    const core = this.core;
    const head = core.opts.store.head()!;
    const run = await core.dryRunner.touchedBy(d, head.height + 1, Math.max(core.now(), 1));
    const shards = new Set(run.touched.map((a) => shardOfAddress(core, a)).filter((s) => s !== core.shardId));
    return [...shards].sort((a, b) => a - b);
  }
}
