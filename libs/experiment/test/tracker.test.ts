// Tests of OutcomeTracker over in-memory block streams: client-led transactions end when every involved shard recorded the decision, or at once on a lock-timeout abort; block-2PC and shard-led paths are unchanged
import { Decision, OrchestratorBlock, ReasonCode, reasons, StateShardBlock, SystemTxKind, withReason, type DeepPartial, type TpcResult } from '@shardlab/proto';
import { silentLogger } from '@shardlab/telemetry';
import { lockTimeoutOf } from '../src/run';
import { OutcomeTracker, type TrackedOutcome, type TrackerPeers } from '../src/tracker';

/**
 * A block chain served as a never-ending stream. {@link push} resolves once the consumer asked
 * for the next block, i.e. once the tracker has handled the pushed one (`followStream` awaits
 * its handler before pulling again).
 */
class FakeChain<B extends { height: number }> {
  private readonly blocks: B[] = [];
  private wake: (() => void) | undefined;
  private readonly handled = new Map<number, () => void>();

  constructor(readonly head: B) {
    this.blocks.push(head);
  }

  /** Appends a block; resolves when the tracker has handled it. */
  push(b: B): Promise<void> {
    this.blocks.push(b);
    const done = new Promise<void>((r) => this.handled.set(this.blocks.length - 1, r));
    this.wake?.();
    return done;
  }

  /** Every block from the first, then each new one, until `signal` aborts. */
  async *stream(signal?: AbortSignal): AsyncGenerator<B> {
    for (let i = 0; !signal?.aborted; i++) {
      while (i >= this.blocks.length) {
        await new Promise<void>((r) => {
          this.wake = r;
          signal?.addEventListener('abort', () => r(), { once: true });
        });
        if (signal?.aborted) return;
      }
      yield this.blocks[i]!;
      this.handled.get(i)?.();
    }
  }
}

const shardBlock = (shardId: number, height: number, over: DeepPartial<StateShardBlock> = {}) => StateShardBlock.fromPartial({ shardId, height, ...over });

/** Two shards (heads at 3 and 7, so heights tell them apart) and an orchestrator (head 0), as TrackerPeers. */
function fakeNetwork() {
  const shards = [new FakeChain(shardBlock(0, 3)), new FakeChain(shardBlock(1, 7))];
  const orch = new FakeChain(OrchestratorBlock.fromPartial({ height: 0 }));
  const peerOf = (chain: FakeChain<{ height: number }>) => ({
    call: async () => chain.head,
    stream: (_open: unknown, signal?: AbortSignal) => chain.stream(signal),
  });
  const peers = {
    directory: { config: async () => ({ shardCount: shards.length }) },
    shard: async (id: number) => peerOf(shards[id]!),
    orchestrator: async () => peerOf(orch),
  } as unknown as TrackerPeers;
  return { shards, orch, peers };
}

const HASH = '0x' + 'c1'.repeat(32);

const decision = (commit: boolean, involvedShards: number[], over: Partial<TpcResult> = {}): TpcResult => ({
  txHash: HASH,
  decision: commit ? Decision.DECISION_COMMIT : Decision.DECISION_ABORT,
  reason: '',
  involvedShards,
  traceContext: {},
  ...over,
});

/** Lets promise reactions of what was just handled run. */
const flush = () => new Promise((r) => setImmediate(r));

describe('OutcomeTracker', () => {
  let tracker: OutcomeTracker | undefined;
  afterEach(async () => {
    await tracker?.stop();
    tracker = undefined;
  });

  /** A started tracker expecting HASH, accepted as cross-shard from shard 0; `seen()` is its outcome once resolved. */
  async function track() {
    const net = fakeNetwork();
    tracker = new OutcomeTracker({ peers: net.peers, logger: silentLogger() });
    tracker.expect([HASH]);
    await tracker.start();
    tracker.accepted(HASH, 0, true);
    let outcome: TrackedOutcome | undefined;
    void tracker.outcome(HASH).then((o) => (outcome = o));
    return { ...net, seen: () => outcome };
  }

  it('ends a client-led transfer only once every involved shard recorded the commit, at the last one', async () => {
    const { shards, seen } = await track();
    // The home shard's acceptance and the first record: not over.
    await shards[0]!.push(shardBlock(0, 4, { receipts: [{ txHash: HASH, success: true }], decisions: [decision(true, [0, 1])] }));
    await flush();
    expect(seen()).toBeUndefined();
    // A block of shard 1 without the record: still not over.
    await shards[1]!.push(shardBlock(1, 8));
    await flush();
    expect(seen()).toBeUndefined();
    await shards[1]!.push(shardBlock(1, 9, { decisions: [decision(true, [0, 1])] }));
    await flush();
    expect(seen()).toEqual({ outcome: 'committed', path: 'client-led', height: 9, atMs: expect.any(Number) });
  });

  it('ends a client-led transaction at once, as aborted with its cause, when a shard records an abort by its lock timeout', async () => {
    const { shards, seen } = await track();
    const timeout = withReason(reasons.lockTimeout(5, 8));
    // The coordinator's commit reached shard 0 only; shard 1, which prepared at block 8, gave up waiting.
    await shards[0]!.push(shardBlock(0, 4, { decisions: [decision(true, [0, 1])] }));
    for (let h = 8; h < 13; h++) await shards[1]!.push(shardBlock(1, h));
    await flush();
    expect(seen()).toBeUndefined();
    await shards[1]!.push(shardBlock(1, 13, { decisions: [decision(false, [1], timeout)] }));
    await flush();
    const o = seen();
    expect(o).toEqual({ outcome: 'aborted', path: 'client-led', height: 13, atMs: expect.any(Number), reason: timeout.reason, cause: timeout.cause });
    expect(lockTimeoutOf(o!)).toEqual({ preparedAtHeight: 8, abortedAtHeight: 13 });
  });

  it('ends a client-led abort of the coordinator when every involved shard recorded it, with its reason', async () => {
    const { shards, seen } = await track();
    const why = withReason(reasons.coordinatorAborted('shard 1 unreachable'));
    await shards[1]!.push(shardBlock(1, 8, { decisions: [decision(false, [0, 1], why)] }));
    await flush();
    expect(seen()).toBeUndefined();
    await shards[0]!.push(shardBlock(0, 4, { decisions: [decision(false, [0, 1], why)] }));
    await flush();
    const o = seen();
    expect(o).toMatchObject({ outcome: 'aborted', path: 'client-led', height: 4, reason: why.reason, cause: why.cause });
    expect(o!.cause!.code).toBe(ReasonCode.REASON_CODE_COORDINATOR_ABORTED);
    expect(lockTimeoutOf(o!)).toBeUndefined();
  });

  it('does not count a record that contradicts the first one towards the end', async () => {
    const { shards, seen } = await track();
    await shards[0]!.push(shardBlock(0, 4, { decisions: [decision(true, [0, 1])] }));
    await shards[1]!.push(shardBlock(1, 8, { decisions: [decision(false, [0, 1], withReason(reasons.coordinatorAborted('x')))] }));
    await flush();
    expect(seen()).toBeUndefined();
  });

  it('still ends a block-2PC transaction at its orchestrator decision', async () => {
    const { orch, seen } = await track();
    await orch.push(OrchestratorBlock.fromPartial({ height: 1, tpcResult: [decision(true, [0, 1])] }));
    await flush();
    expect(seen()).toEqual({ outcome: 'committed', path: 'block-2pc', height: 1, atMs: expect.any(Number) });
  });

  it('still ends a shard-led transfer at its destination credit', async () => {
    const { shards, seen } = await track();
    const credit = { kind: SystemTxKind.SYSTEM_TX_KIND_RECEIPT_CREDIT, txHash: HASH, address: '0x01', amount: '1', writes: [] };
    await shards[1]!.push(shardBlock(1, 8, { transactions: [{ kind: { $case: 'system', value: credit } }] }));
    await flush();
    expect(seen()).toEqual({ outcome: 'committed', path: 'shard-led', height: 8, atMs: expect.any(Number) });
  });
});
