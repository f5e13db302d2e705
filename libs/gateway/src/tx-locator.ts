// Where the gateway finds a transaction and its status: the home-shard index, the search of every shard then the orchestrator, and the home-shard receipts of decided cross-shard ones.
import { errors } from '@shardlab/common';
import { TERMINAL_STATUSES, TxStatus, awaitsApplication, type Receipt, type TransactionStatus } from '@shardlab/proto';
import type { RegistryDirectory } from '@shardlab/registry';
import type { Logger } from '@shardlab/telemetry';
import { BoundedMap } from './bounded-map';
import { decisionOfStatus, type DecisionTracker } from './decision-tracker';
import type { OrchestratorClient } from './orchestrator';
import type { ReceiptTracker } from './receipt-tracker';
import type { ShardRouter } from './shards';

/** What the gateway remembers of a transaction it has seen. */
export interface TxRecord {
  /** The home shard. */
  shardId: number;
  /** Whether it is cross-shard: its outcome comes from the orchestrator or from shard-led receipts, not from its home block. */
  crossShard: boolean;
}

/** Where a transaction was found: its home shard, whether it is cross-shard, and its status. */
export interface Located extends TxRecord {
  status: TransactionStatus;
}

/** Options of {@link TxLocator}. */
export interface TxLocatorOpts {
  /** Where the shard count is read (the gateway's directory). */
  directory: Pick<RegistryDirectory, 'config'>;
  router: ShardRouter;
  orchestrator: OrchestratorClient;
  /** The gateway's logger, used as is. */
  logger: Logger;
  /** How many transaction → (home shard, cross-shard) entries, and receipts, to remember; default 100 000. */
  txIndexCapacity?: number;
  /**
   * How long a home shard's receipt of a decided cross-shard transaction, or the shard-led evidence
   * of one the orchestrator does not know, is waited for, in milliseconds; default 2000.
   */
  receiptTimeoutMs?: number;
  /** The shard-led evidence of the block streams; without it only the orchestrator ends cross-shard transactions. */
  receipts?: ReceiptTracker;
  /** Where decisions are known applied (GetDecision of the involved shards); without it `applied` stays as the source says. */
  decisions?: DecisionTracker;
}

/**
 * The gateway's knowledge of where transactions are: the home shard (and whether it is
 * cross-shard) of each transaction seen, bounded; the look-up of a transaction's status at its
 * home shard, at every shard, at the orchestrator, or in the shard-led evidence of the block
 * streams (a cross-shard transaction ends with whichever evidence comes: the orchestrator's
 * decision, or its receipt's credits in shard blocks); the home shard's receipts of decided
 * cross-shard transactions, read once and remembered; and whether the orchestrator's decision is
 * applied on every involved shard ({@link withApplied}). Throws ShardLabErrors.
 */
export class TxLocator {
  private readonly directory: Pick<RegistryDirectory, 'config'>;
  private readonly router: ShardRouter;
  private readonly orchestrator: OrchestratorClient;
  private readonly log: Logger;
  private readonly receiptTimeoutMs: number;
  private readonly txIndex: BoundedMap<string, TxRecord>;
  /** Home-shard receipts of decided cross-shard transactions, once found (they never change). */
  private readonly crossReceipts: BoundedMap<string, Receipt>;
  /** Receipt look-ups in flight, shared by every watcher and reader of the same transaction. */
  private readonly receiptLookups = new Map<string, Promise<Receipt | undefined>>();
  private readonly receipts: ReceiptTracker | undefined;
  private readonly decisions: DecisionTracker | undefined;

  /** @throws RangeError when `txIndexCapacity` is not a positive integer. */
  constructor(opts: TxLocatorOpts) {
    this.directory = opts.directory;
    this.router = opts.router;
    this.orchestrator = opts.orchestrator;
    this.log = opts.logger;
    this.txIndex = new BoundedMap(opts.txIndexCapacity ?? 100_000);
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 2000;
    this.crossReceipts = new BoundedMap(opts.txIndexCapacity ?? 100_000);
    this.receipts = opts.receipts;
    this.decisions = opts.decisions;
  }

  /** Remembers the home shard of `txHash` (lowercase) and whether it is cross-shard. */
  remember(txHash: string, record: TxRecord): void {
    this.txIndex.set(txHash, record);
  }

  /** Whether `txHash` (lowercase) is remembered as cross-shard. */
  isCrossShard(txHash: string): boolean {
    return this.txIndex.get(txHash)?.crossShard === true;
  }

  /** The status of `txHash` as shard `shardId` answers GetTransaction. @throws ShardLabError of the shard call. */
  shardStatus(shardId: number, txHash: string, signal?: AbortSignal): Promise<TransactionStatus> {
    return this.router.call<TransactionStatus>(shardId, (c, md, o, cb) => c.getTransaction({ txHash }, md, o, cb), signal ? { signal } : {});
  }

  /**
   * `status` (a decided cross-shard transaction's, from the orchestrator) with its home shard's
   * receipt attached: the acceptance receipt of the home shard's block (the fee; for a contract
   * call the simulated gas used and the logs). Read once from the home shard's GetTransaction and
   * remembered; look-ups of the same transaction are shared. When the home shard has not included
   * the transaction (yet), cannot be asked, or does not answer within `receiptTimeoutMs`, `status`
   * is returned unchanged (a later GetTransaction asks again).
   */
  async withHomeReceipt(status: TransactionStatus, shardId: number, signal?: AbortSignal): Promise<TransactionStatus> {
    if (status.receipt) return status;
    const txHash = status.txHash;
    let receipt = this.crossReceipts.get(txHash);
    if (!receipt) {
      let lookup = this.receiptLookups.get(txHash);
      if (!lookup) {
        lookup = this.fetchHomeReceipt(txHash, shardId).finally(() => this.receiptLookups.delete(txHash));
        this.receiptLookups.set(txHash, lookup);
      }
      receipt = await (signal ? raceAbort(lookup, signal) : lookup);
    }
    return receipt ? { ...status, receipt } : status;
  }

  /**
   * A terminal status of the cross-shard `status.txHash` (from the orchestrator, or the shard-led
   * evidence) with its receipt: the one it carries; for a shard-led end the evidence's (a call's
   * outcome on its contract's shard, waited for or read back from that shard's blocks within
   * `receiptTimeoutMs`); otherwise the home shard's ({@link withHomeReceipt}) — except for a call
   * whose home credited its result and whose outcome was not found in time: no receipt then,
   * rather than the home's receipt of its prepayment, which does not say how the call went.
   */
  async withReceipt(status: TransactionStatus, homeShard: number, signal?: AbortSignal): Promise<TransactionStatus> {
    if (status.receipt) return status;
    if (this.receipts?.statusOf(status.txHash)) {
      const s = await this.receipts.settle(status.txHash, undefined, this.bounded(signal));
      if (s?.receipt) return { ...status, receipt: s.receipt };
      if (this.receipts.creditedAtHome(status.txHash)) return status;
    }
    return this.withHomeReceipt(status, homeShard, signal);
  }

  /**
   * `status` with `applied` true when it is a decision (COMMITTED or ABORTED) with its involved
   * shards known and every one of them has applied it in a durable block: known already, or
   * learned now by asking the shards not known to have (GetDecision, within `receiptTimeoutMs`);
   * else `status` unchanged (applied false: not yet, or a shard could not be asked).
   */
  async withApplied(status: TransactionStatus, signal?: AbortSignal): Promise<TransactionStatus> {
    if (!this.decisions || !awaitsApplication(status)) return status;
    const applied = await this.decisions.check(status.txHash, decisionOfStatus(status.status), status.involvedShards, this.bounded(signal));
    return applied ? { ...status, applied: true } : status;
  }

  /**
   * Finds `txHash` (lowercase): at its remembered home shard, else at every shard (the home's own
   * answer preferred: a shard-led call's contract shard knows it too), else at the orchestrator. A
   * cross-shard transaction's status comes from the shard-led evidence when it shows an end, else
   * from the orchestrator (a decision with its home receipt and `applied`), else (unknown to the
   * orchestrator) from the shard-led evidence completed by reading the home shard and the
   * destination's recent blocks, else from the home shard's view.
   * @throws ShardLabError as `Gateway.getTransaction` describes.
   */
  async locate(txHash: string, signal?: AbortSignal): Promise<Located> {
    const known = this.txIndex.get(txHash);
    if (known?.crossShard) return this.locateCrossShard(txHash, known.shardId, undefined, signal);
    if (known !== undefined) {
      const status = await this.shardStatus(known.shardId, txHash, signal);
      if (!isKnown(status)) throw errors.notFound(`transaction ${txHash} is unknown to its home shard ${known.shardId}`, { txHash });
      if (status.crossShard) return this.locateCrossShard(txHash, known.shardId, status, signal);
      return { shardId: known.shardId, crossShard: false, status };
    }
    const { shardCount } = await this.directory.config();
    const failures: Array<{ shardId: number; err: Error }> = [];
    const found = await new Promise<{ shardId: number; status: TransactionStatus } | undefined>((resolve) => {
      let pending = shardCount;
      let other: { shardId: number; status: TransactionStatus } | undefined;
      const settle = () => {
        if (--pending === 0) resolve(other);
      };
      for (let shardId = 0; shardId < shardCount; shardId++) {
        this.shardStatus(shardId, txHash, signal).then(
          (status) => {
            // The home's own answer wins; another shard's (the contract shard of a shard-led call)
            // names the home and stands in when the home cannot answer.
            if (isKnown(status) && (!status.crossShard || status.homeShard === shardId)) resolve({ shardId, status });
            else if (isKnown(status)) other ??= { shardId, status };
            settle();
          },
          (err: Error) => {
            failures.push({ shardId, err });
            settle();
          },
        );
      }
    });
    if (found) {
      if (found.status.crossShard) {
        const home = found.status.homeShard;
        return this.locateCrossShard(txHash, home, home === found.shardId ? found.status : undefined, signal);
      }
      this.txIndex.set(txHash, { shardId: found.shardId, crossShard: false });
      return { ...found, crossShard: false };
    }
    // No shard knows it: perhaps the orchestrator does. Its home shard is the authority on
    // whether it was accepted at all, so an orchestrator that cannot be asked does not turn
    // NOT_FOUND into UNAVAILABLE.
    const orch = await this.orchestrator.getCrossShardStatus(txHash, signal).catch((err: Error) => {
      this.log.debug({ txHash, err: err.message }, 'could not ask the orchestrator about a transaction no shard knows');
      return undefined;
    });
    if (orch && isKnown(orch)) {
      this.txIndex.set(txHash, { shardId: orch.homeShard, crossShard: true });
      let status: TransactionStatus = { ...orch, txHash, crossShard: true };
      if (TERMINAL_STATUSES.has(status.status)) status = await this.decided(status, orch.homeShard, signal);
      return { shardId: orch.homeShard, crossShard: true, status };
    }
    if (failures.length > 0) {
      failures.sort((a, b) => a.shardId - b.shardId);
      throw errors.unavailable(
        `transaction ${txHash} is unknown to the shards that answered, but shard(s) ${failures.map((f) => f.shardId).join(', ')} could not be asked: ${failures[0]!.err.message}`,
        { txHash },
      );
    }
    throw errors.notFound(`transaction ${txHash} is unknown to every shard`, { txHash });
  }

  /** A decided status of the orchestrator with its home receipt ({@link withHomeReceipt}) and `applied` ({@link withApplied}), both looked up at once. */
  private async decided(status: TransactionStatus, homeShard: number, signal?: AbortSignal): Promise<TransactionStatus> {
    const [withReceipt, applied] = await Promise.all([this.withHomeReceipt(status, homeShard, signal), this.withApplied(status, signal)]);
    return { ...withReceipt, applied: applied.applied };
  }

  private async fetchHomeReceipt(txHash: string, shardId: number): Promise<Receipt | undefined> {
    try {
      const s = await this.shardStatus(shardId, txHash, AbortSignal.timeout(this.receiptTimeoutMs));
      const r = s.receipt;
      if (!r || r.txHash.toLowerCase() !== txHash) {
        this.log.debug({ txHash, homeShard: shardId, status: TxStatus[s.status] }, 'decided cross-shard transaction not in a home shard block yet; answered without its receipt');
        return undefined;
      }
      this.crossReceipts.set(txHash, r);
      return r;
    } catch (err) {
      this.log.debug({ txHash, homeShard: shardId, err: (err as Error).message }, "could not read a cross-shard transaction's receipt from its home shard");
      return undefined;
    }
  }

  /**
   * The status of the cross-shard transaction `txHash` of home shard `shardId`: COMMITTED when
   * the shard-led evidence seen on the block streams shows its end; else the orchestrator's; else,
   * when the orchestrator does not know it (a shard-led transaction, or a forward not recorded yet)
   * or cannot be asked, the shard-led evidence completed within `receiptTimeoutMs` (see
   * `ReceiptTracker.settle`) if it shows an end, else the home shard's view (`shardView`, the
   * home's own answer, or read now), which is not final.
   * @throws ShardLabError UNAVAILABLE when the orchestrator cannot be asked and the shard-led
   *   evidence shows no end; NOT_FOUND when neither the orchestrator nor the home shard knows it.
   */
  private async locateCrossShard(txHash: string, shardId: number, shardView: TransactionStatus | undefined, signal?: AbortSignal): Promise<Located> {
    this.txIndex.set(txHash, { shardId, crossShard: true });
    const seen = this.receipts?.statusOf(txHash);
    if (seen?.receipt) return { shardId, crossShard: true, status: seen };
    let unreachable: unknown;
    const s = await this.orchestrator.getCrossShardStatus(txHash, signal).catch((err: unknown) => {
      unreachable = err;
      return undefined;
    });
    if (s && isKnown(s)) {
      let status: TransactionStatus = { ...s, txHash, crossShard: true };
      if (TERMINAL_STATUSES.has(status.status)) {
        // The home shard's answer, when it was read, already holds the receipt once included.
        if (shardView?.receipt && shardView.receipt.txHash.toLowerCase() === txHash) this.crossReceipts.set(txHash, shardView.receipt);
        status = await this.decided(status, shardId, signal);
      }
      return { shardId, crossShard: true, status };
    }
    let view = shardView;
    if (!view) {
      try {
        view = await this.shardStatus(shardId, txHash, signal);
      } catch (err) {
        throw unreachable ?? err;
      }
    }
    if (isKnown(view)) {
      const ended = await this.shardLedOutcome(txHash, shardId, view, signal);
      if (ended) return { shardId, crossShard: true, status: ended };
    }
    if (unreachable !== undefined) throw unreachable;
    if (!isKnown(view)) {
      throw errors.notFound(`cross-shard transaction ${txHash} is unknown to the orchestrator and to its home shard ${shardId}`, { txHash });
    }
    return { shardId, crossShard: true, status: homeShardViewOfCrossShard(view) };
  }

  /**
   * The shard-led end of `txHash` of home shard `homeShard` (tracked from now on), its evidence
   * completed within `receiptTimeoutMs`, with its receipt; undefined when it shows none. `view` is
   * the home shard's answer just read.
   */
  private async shardLedOutcome(txHash: string, homeShard: number, view: TransactionStatus, signal?: AbortSignal): Promise<TransactionStatus | undefined> {
    if (!this.receipts) return undefined;
    this.receipts.track(txHash, homeShard);
    if (view.receipt && view.receipt.txHash.toLowerCase() === txHash) this.crossReceipts.set(txHash, view.receipt);
    const s = await this.receipts.settle(txHash, view, this.bounded(signal));
    if (!s || s.receipt) return s;
    return this.receipts.creditedAtHome(txHash) ? s : this.withHomeReceipt(s, homeShard, signal);
  }

  /** `signal` (if any) bounded by `receiptTimeoutMs`. */
  private bounded(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.receiptTimeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }
}

/**
 * A home shard's status of a cross-shard transaction as the gateway reports it while the
 * orchestrator does not know the transaction: the shard's QUEUED, INCLUDED or FINAL (its fee was
 * charged) do not decide it, so they read PENDING (the fee receipt kept); other statuses stand.
 */
function homeShardViewOfCrossShard(view: TransactionStatus): TransactionStatus {
  const undecided = view.status === TxStatus.TX_STATUS_QUEUED || view.status === TxStatus.TX_STATUS_INCLUDED || view.status === TxStatus.TX_STATUS_FINAL;
  return { ...view, crossShard: true, ...(undecided ? { status: TxStatus.TX_STATUS_PENDING } : {}) };
}

function isKnown(s: TransactionStatus): boolean {
  return s.status !== TxStatus.TX_STATUS_UNKNOWN && s.status !== TxStatus.TX_STATUS_UNSPECIFIED;
}

/** Resolves with `p`'s value, or undefined as soon as `signal` aborts. */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
