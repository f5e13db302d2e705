// Submission of signed transactions through the gateway: paced, bounded, micro-batched, each sender's in nonce order, retries after UNAVAILABLE, RESOURCE_EXHAUSTED and nonce gaps
import { isShardLabError } from '@shardlab/common';
import type { GatewayServiceClient, SendRawTransactionResponse, SendRawTransactionsResponse, TransactionStatus } from '@shardlab/proto';
import { MicroBatcher, unaryCall, unpackOutcomes } from '@shardlab/rpc';

/** One signed transaction to submit. */
export interface Submission {
  /** Lowercase 0x hash of the signed transaction. */
  readonly hash: string;
  /** Lowercase 0x sender address: a sender's transactions are submitted one after another, in order. */
  readonly from: string;
  /** Raw signed bytes as for eth_sendRawTransaction. */
  readonly raw: Uint8Array;
}

/** What the gateway answered to one submission. */
export interface SubmissionResult {
  /** When it was sent (first attempt), epoch milliseconds. */
  submittedAtMs: number;
  /** Set when the gateway accepted it. */
  accepted?: { homeShard: number; crossShard: boolean };
  /** Set when it was refused (`CODE: message`). */
  rejected?: string;
  /** The refusal's gRPC code name (`failed-precondition`), set with `rejected`. */
  rejectedCode?: string;
  /** Attempts made (more than one after UNAVAILABLE / RESOURCE_EXHAUSTED answers). */
  attempts: number;
}

/** Options of {@link submitAll}. */
export interface SubmitOpts {
  gateway: GatewayServiceClient;
  /** Submissions per second; undefined or 0 = as fast as the concurrency allows. */
  rate?: number;
  /** Most submissions awaiting the gateway's answer at once [256]. */
  concurrency?: number;
  /** Deadline of each SendRawTransactions call, in milliseconds [30,000]. */
  deadlineMs?: number;
  /** Most transactions of one sender awaiting an answer at once [128]. */
  senderWindow?: number;
  /** Attempts per transaction when the gateway answers UNAVAILABLE or RESOURCE_EXHAUSTED [5]. */
  maxAttempts?: number;
  /** Called right before each transaction's first attempt. */
  onSubmit?: (s: Submission) => void;
  /** Called with each transaction's answer. */
  onResult?: (s: Submission, r: SubmissionResult) => void;
  /** Stops dispatching new submissions when aborted. */
  signal?: AbortSignal;
}

const RETRYABLE = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED']);

/** True for a shard's refusal of a nonce gap (`nonce too high`, see libs/chain checkAgainstSender). */
const isNonceGap = (err: unknown): boolean => isShardLabError(err, 'FAILED_PRECONDITION') && err.message.startsWith('nonce too high');

/**
 * Submits `txs` through the gateway in their order, paced at `rate` per second, with at most
 * `concurrency` awaiting an answer. Submissions made close together travel in one
 * SendRawTransactions call (client-side micro-batching, in dispatch order), each with its own
 * answer. A sender's transactions are pipelined: up to `senderWindow` of them await an answer at
 * once, and they are sent in nonce order. Shards refuse a nonce gap, and a transaction can still
 * overtake its predecessor on the way (e.g. when the predecessor's batch is retried), so a
 * transaction refused with `nonce too high` is sent again once its predecessor has been answered
 * — then the refusal is final. A transaction answered UNAVAILABLE or RESOURCE_EXHAUSTED is sent
 * again after a back-off; ALREADY_EXISTS on a later attempt means an earlier attempt was accepted
 * after all, and the gateway is asked (GetTransaction) for its home shard and class. Never throws
 * for one transaction: its refusal is in its result.
 * @returns one result per transaction, in the order of `txs` (a hole for those not dispatched
 *   because `signal` aborted).
 */
export async function submitAll(txs: readonly Submission[], opts: SubmitOpts): Promise<SubmissionResult[]> {
  const concurrency = Math.max(1, opts.concurrency ?? 256);
  const senderWindow = Math.max(1, opts.senderWindow ?? 128);
  const results: SubmissionResult[] = new Array(txs.length);
  /** Per sender: "answered" promises of its latest transactions (at most senderWindow). */
  const answeredBySender = new Map<string, Promise<void>[]>();
  /** Per sender: settles once its latest dispatched transaction has been handed to the batcher. */
  const sentBySender = new Map<string, Promise<void>>();
  // Two limits: `concurrency` calls awaiting the gateway, and a window of dispatched transactions
  // (calls plus those waiting for a slot of their sender) so that memory stays bounded.
  const calls = semaphore(concurrency);
  const window = semaphore(concurrency * 8);
  const t0 = Date.now();
  const all = new Set<Promise<void>>();
  const done = Promise.resolve();
  const deadlineMs = opts.deadlineMs ?? 30_000;
  const batcher = new MicroBatcher<Uint8Array, SendRawTransactionResponse>({
    sizeOf: (raw) => raw.length,
    send: async (raws) => {
      const res = await unaryCall<SendRawTransactionsResponse>('gateway', (md, o, cb) => opts.gateway.sendRawTransactions({ rawTransactions: raws.map((r) => Buffer.from(r)) }, md, o, cb), { deadlineMs });
      return unpackOutcomes('gateway', raws.length, res.results);
    },
  });
  const send = (raw: Uint8Array) => batcher.call(raw);
  for (let i = 0; i < txs.length; i++) {
    if (opts.signal?.aborted) break;
    if (opts.rate && opts.rate > 0) {
      const wait = t0 + (i * 1000) / opts.rate - Date.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    await window.acquire();
    const tx = txs[i]!;
    const prev = answeredBySender.get(tx.from) ?? [];
    const predecessor = prev.at(-1) ?? done;
    const windowGate = prev.length >= senderWindow ? prev[prev.length - senderWindow]! : done;
    // A sender's transactions are sent in nonce order: each also waits until its predecessor is
    // sent, so a later one never leaves first (answers of different batches can come back out of
    // order, which would otherwise open the window for a later transaction first).
    const predecessorSent = sentBySender.get(tx.from) ?? done;
    let markSent!: () => void;
    const sent = new Promise<void>((r) => (markSent = r));
    sentBySender.set(tx.from, sent);
    const gate = Promise.all([windowGate, predecessorSent]);
    let markAnswered!: () => void;
    const answered = new Promise<void>((r) => (markAnswered = r));
    prev.push(answered);
    if (prev.length > senderWindow) prev.shift();
    answeredBySender.set(tx.from, prev);
    const run = gate.then(async () => {
      try {
        const r: SubmissionResult = { submittedAtMs: Date.now(), attempts: 0 };
        opts.onSubmit?.(tx);
        await calls.acquire();
        let gap: boolean;
        try {
          const answer = submitOne(tx, r, opts, send, false);
          markSent();
          gap = await answer;
        } finally {
          markSent();
          calls.release();
        }
        if (gap) {
          await predecessor;
          await calls.acquire();
          try {
            await submitOne(tx, r, opts, send, true);
          } finally {
            calls.release();
          }
        }
        results[i] = r;
        opts.onResult?.(tx, r);
      } finally {
        markAnswered();
        window.release();
      }
    });
    all.add(run);
    void run.then(() => all.delete(run));
  }
  await Promise.all(all);
  return results;
}

/** A counting semaphore of `n` permits (FIFO). */
function semaphore(n: number): { acquire(): Promise<void>; release(): void } {
  let free = n;
  const waiters: (() => void)[] = [];
  return {
    acquire: async () => {
      if (free > 0) {
        free -= 1;
        return;
      }
      await new Promise<void>((r) => waiters.push(r));
    },
    release: () => {
      const next = waiters.shift();
      if (next) next();
      else free += 1;
    },
  };
}

/**
 * Sends one transaction, retrying UNAVAILABLE / RESOURCE_EXHAUSTED, and fills `r`.
 * @returns true when it was refused for a nonce gap and `final` is false (the caller retries
 *   after the predecessor's answer); `r` then holds nothing yet.
 */
async function submitOne(tx: Submission, r: SubmissionResult, opts: SubmitOpts, send: (raw: Uint8Array) => Promise<SendRawTransactionResponse>, final: boolean): Promise<boolean> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  const call = { deadlineMs: opts.deadlineMs ?? 30_000 };
  for (let attempt = 1; ; attempt++) {
    r.attempts += 1;
    try {
      const res = await send(tx.raw);
      r.accepted = { homeShard: Number(res.homeShard), crossShard: res.crossShard };
      return false;
    } catch (err) {
      if (!final && isNonceGap(err)) return true;
      if (r.attempts > 1 && isShardLabError(err, 'ALREADY_EXISTS')) {
        try {
          const s = await unaryCall<TransactionStatus>('gateway', (md, o, cb) => opts.gateway.getTransaction({ txHash: tx.hash }, md, o, cb), call);
          r.accepted = { homeShard: Number(s.homeShard), crossShard: s.crossShard };
        } catch (e) {
          r.rejected = describe(e);
          r.rejectedCode = codeOf(e);
        }
        return false;
      }
      if (isShardLabError(err) && RETRYABLE.has(err.code) && attempt < maxAttempts) {
        await new Promise((res) => setTimeout(res, 100 * 2 ** (attempt - 1)));
        continue;
      }
      r.rejected = describe(err);
      r.rejectedCode = codeOf(err);
      return false;
    }
  }
}

/** The gRPC code name of a refusal, lower-case with dashes (`failed-precondition`), or `error`. */
function codeOf(err: unknown): string {
  return isShardLabError(err) ? err.code.toLowerCase().replace(/_/g, '-') : 'error';
}

function describe(err: unknown): string {
  return isShardLabError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}
