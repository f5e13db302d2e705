// The applied status of cross-shard transactions: block-2PC watches end only once every involved shard applied the decision (GetDecision on their blocks), GetTransaction says applied false then true, client-led statuses are applied once Decide answered everywhere; advancesStatus and DecisionTracker rules
import { createChainCommon, decodeTransaction, devAccounts, signTransaction, type DevAccount } from '@shardlab/chain';
import { errors } from '@shardlab/common';
import { Decision, TxStatus, Vote, awaitsApplication, isLastWatchStatus, type GetDecisionResponse } from '@shardlab/proto';
import { silentLogger } from '@shardlab/telemetry';
import { ClientLedCoordinator, ClientLedSessions, DecisionTracker, advancesStatus } from '../src';
import type { FakeOrchestrator } from './fake-orchestrator';
import type { FakeShard } from './fake-shard';
import { openWatch, waitFor } from './helpers';
import { Network } from './network';

describe('applied status of block-2PC transactions (fake orchestrator, two fake shards)', () => {
  const net = new Network(2);
  let orch: FakeOrchestrator;
  let home: FakeShard; // shard 0
  let dest: FakeShard; // shard 1
  let a0: DevAccount;
  let a1: DevAccount;

  beforeAll(async () => {
    await net.start({ liveShards: [0, 1], orchestrator: true });
    orch = net.orchestrator!;
    [home, dest] = [net.shards[0]!, net.shards[1]!];
    [a0] = net.accountsOn(0) as [DevAccount];
    [a1] = net.accountsOn(1) as [DevAccount];
  });
  afterAll(() => net.stop());

  /** Sends a transfer from shard 0 to shard 1 and waits until the gateway follows both shards' blocks (it does for every transfer). */
  async function sendCross(): Promise<string> {
    const { txHash, crossShard } = await net.send(net.sign(a0, a1));
    expect(crossShard).toBe(true);
    await waitFor(() => net.gateway.nextStreamHeight(0) !== undefined && net.gateway.nextStreamHeight(1) !== undefined, 5000, 'the block streams of both shards');
    return txHash;
  }

  /** Opens a watch and waits until it is registered on the connected orchestrator status stream. */
  async function watchLive(txHash: string) {
    const w = openWatch(net.client, txHash);
    await waitFor(() => w.messages.length === 1, 5000, 'the first status');
    await waitFor(() => net.gateway.statusStream.connected && orch.getCalls.get(txHash) === 2, 5000, 'the watch on the status stream');
    let ended = false;
    void w.ended.then(() => (ended = true));
    return { ...w, isEnded: () => ended };
  }

  /** Waits until the gateway has processed shard `shardId`'s block at `height`. */
  const processed = (shardId: number, height: number) =>
    waitFor(() => (net.gateway.nextStreamHeight(shardId) ?? 0) > height, 5000, `the gateway to process block ${height} of shard ${shardId}`);

  const commit = (txHash: string) => ({ decisions: [{ txHash, decision: Decision.DECISION_COMMIT }] });

  it('sends COMMITTED applied=false at the decision, then applied=true once the destination applied it a block later, and ends only then', async () => {
    const txHash = await sendCross();
    const w = await watchLive(txHash);
    home.produceBlock([txHash]); // accepted at home: its fee
    orch.update(txHash, TxStatus.TX_STATUS_PREPARED, { involvedShards: [0, 1] });
    orch.update(txHash, TxStatus.TX_STATUS_COMMITTED, { involvedShards: [0, 1] });
    await waitFor(() => w.messages.length === 3, 5000, 'COMMITTED');
    expect(w.messages[2]).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: false, involvedShards: [0, 1], receipt: { txHash, shardId: 0 } });
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: false, involvedShards: [0, 1] });

    // The source applies the commit in its next block; the destination has not yet.
    const source = home.produceBlock([], commit(txHash));
    await processed(0, source.height);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: false });
    expect(w.isEnded()).toBe(false);
    expect(w.messages).toHaveLength(3);

    // The destination applies it one block later: the watch sends applied=true and ends.
    dest.produceBlock([], commit(txHash));
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => [m.status, m.applied])).toEqual([
      [TxStatus.TX_STATUS_PENDING, false],
      [TxStatus.TX_STATUS_PREPARED, false],
      [TxStatus.TX_STATUS_COMMITTED, false],
      [TxStatus.TX_STATUS_COMMITTED, true],
    ]);
    expect(w.messages[3]).toMatchObject({ txHash, crossShard: true, homeShard: 0, involvedShards: [0, 1], receipt: { txHash, shardId: 0 } });
    // Known applied now: GetTransaction says so without asking the shards again.
    const asked = [home.getDecisionCalls.get(txHash), dest.getDecisionCalls.get(txHash)];
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: true, receipt: { txHash, shardId: 0 } });
    expect([home.getDecisionCalls.get(txHash), dest.getDecisionCalls.get(txHash)]).toEqual(asked);
    await waitFor(() => net.gateway.activeWatches === 0, 5000, 'the gateway to drop the watch');
  });

  it('answers an abort applied everywhere with applied=true at once: GetTransaction, and a watch that ends on its first status', async () => {
    const txHash = await sendCross();
    orch.update(txHash, TxStatus.TX_STATUS_ABORTED, { involvedShards: [0, 1], reason: 'shard 1 voted NO' });
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, applied: false });
    const abort = { decisions: [{ txHash, decision: Decision.DECISION_ABORT }] };
    home.produceBlock([txHash], abort);
    dest.produceBlock([], abort);
    expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_ABORTED, applied: true, reason: 'shard 1 voted NO' });
    const w = openWatch(net.client, txHash);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => [m.status, m.applied])).toEqual([[TxStatus.TX_STATUS_ABORTED, true]]);
  });

  it('keeps waiting while a shard cannot answer, and ends once it answers on a later block', async () => {
    const txHash = await sendCross();
    const w = await watchLive(txHash);
    dest.getDecisionError = errors.unavailable('shard 1 is restarting');
    try {
      home.produceBlock([txHash], commit(txHash));
      const applied = dest.produceBlock([], commit(txHash));
      await processed(1, applied.height);
      orch.update(txHash, TxStatus.TX_STATUS_COMMITTED, { involvedShards: [0, 1] });
      await waitFor(() => w.messages.length === 2, 5000, 'COMMITTED');
      expect(await net.getTransaction(txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: false });
      expect(w.isEnded()).toBe(false);
      expect(dest.getDecisionCalls.get(txHash)).toBeGreaterThan(0);
    } finally {
      dest.getDecisionError = undefined;
    }
    // The shard answers again: its next block (an empty one) makes the gateway ask it.
    dest.produceBlock([]);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => [m.status, m.applied])).toEqual([
      [TxStatus.TX_STATUS_PENDING, false],
      [TxStatus.TX_STATUS_COMMITTED, false],
      [TxStatus.TX_STATUS_COMMITTED, true],
    ]);
  });

  it('ends a decision whose involved shards are unknown as it is (an orchestrator that does not say them)', async () => {
    const txHash = await sendCross();
    const w = await watchLive(txHash);
    orch.update(txHash, TxStatus.TX_STATUS_COMMITTED);
    expect(await w.ended).toEqual({ code: 0, details: '' });
    expect(w.messages.map((m) => [m.status, m.applied, m.involvedShards])).toEqual([
      [TxStatus.TX_STATUS_PENDING, false, []],
      [TxStatus.TX_STATUS_COMMITTED, false, []],
    ]);
  });
});

describe('applied status of client-led coordinations (ClientLedSessions over a fake transport)', () => {
  const common = createChainCommon({ chainId: 1337 });
  const [sender] = devAccounts() as [DevAccount];
  const to = '0x' + '11'.repeat(20);
  const shardOf = (a: string) => (a.toLowerCase() === to ? 1 : 0);

  /** Coordinates a transfer from shard 0 to shard 1; `decide` answers for each shard. */
  async function coordinate(decide: (shardId: number) => Promise<{ decision: Decision; height: number }>) {
    const coordinator = new ClientLedCoordinator({
      transport: {
        prepare: async (_s, x) => ({ vote: { txHash: x.tx!.hash, vote: Vote.VOTE_YES, reason: '' }, height: 5, lockExpiresAtHeight: 25, decided: Decision.DECISION_UNSPECIFIED }),
        decide: (s) => decide(s),
        simulate: async () => {
          throw new Error('no calls here');
        },
      },
      shardOf,
      blockIntervalMs: 100,
      logger: silentLogger(),
      decideBudgetMs: 0,
    });
    const sessions = new ClientLedSessions(coordinator, silentLogger());
    const d = decodeTransaction(signTransaction(common, sender, { to, value: 1n, nonce: 0n }), common);
    sessions.start(d, 0);
    await sessions.settled();
    return sessions.statusOf(d.hash);
  }

  it('is COMMITTED and applied once every involved shard answered Decide', async () => {
    const s = await coordinate(async () => ({ decision: Decision.DECISION_COMMIT, height: 7 }));
    expect(s).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: true, involvedShards: [0, 1], crossShard: true, homeShard: 0 });
  });

  it('is not applied when a shard did not apply the decision', async () => {
    const s = await coordinate(async (shard) => {
      if (shard === 1) throw errors.failedPrecondition('shard 1 aborted it by lock timeout');
      return { decision: Decision.DECISION_COMMIT, height: 7 };
    });
    expect(s).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, applied: false, involvedShards: [0, 1] });
    expect(awaitsApplication(s!)).toBe(true);
  });
});

describe('advancesStatus and isLastWatchStatus with applied', () => {
  const C = TxStatus.TX_STATUS_COMMITTED;
  it('makes a decision naming its involved shards last only once applied; other terminal statuses are last as they are', () => {
    expect(isLastWatchStatus({ status: C, applied: false, involvedShards: [0, 1] })).toBe(false);
    expect(isLastWatchStatus({ status: TxStatus.TX_STATUS_ABORTED, applied: false, involvedShards: [0, 1] })).toBe(false);
    expect(isLastWatchStatus({ status: C, applied: true, involvedShards: [0, 1] })).toBe(true);
    expect(isLastWatchStatus({ status: C, applied: false, involvedShards: [] })).toBe(true);
    expect(isLastWatchStatus({ status: TxStatus.TX_STATUS_FINAL, applied: false, involvedShards: [] })).toBe(true);
    expect(isLastWatchStatus({ status: TxStatus.TX_STATUS_DROPPED, applied: false, involvedShards: [0, 1] })).toBe(true);
    expect(isLastWatchStatus({ status: TxStatus.TX_STATUS_PREPARED, applied: false, involvedShards: [0, 1] })).toBe(false);
  });

  it('advances to the same decision newly applied, never back to not applied nor to a repeat', () => {
    expect(advancesStatus({ status: C, applied: false }, { status: C, applied: true })).toBe(true);
    expect(advancesStatus({ status: C, applied: true }, { status: C, applied: false })).toBe(false);
    expect(advancesStatus({ status: C, applied: true }, { status: C, applied: true })).toBe(false);
    expect(advancesStatus({ status: C, applied: false }, { status: C, applied: false })).toBe(false);
    expect(advancesStatus({ status: TxStatus.TX_STATUS_PREPARED }, { status: C, applied: true })).toBe(true);
    expect(advancesStatus({ status: C, applied: false }, { status: TxStatus.TX_STATUS_PREPARED })).toBe(false);
    expect(advancesStatus({ status: C, applied: false }, { status: TxStatus.TX_STATUS_ABORTED, applied: true })).toBe(false);
  });
});

describe('DecisionTracker', () => {
  const H = '0x' + 'ab'.repeat(32);

  /** A tracker whose shards answer from `applied` (shard → decision); each call waits for `gate` when set. */
  function tracker(applied: Map<number, Decision>) {
    const calls: number[] = [];
    let gate: Promise<void> | undefined;
    const t = new DecisionTracker({
      ask: async (shardId): Promise<GetDecisionResponse> => {
        calls.push(shardId);
        const answer = { decision: applied.get(shardId) ?? Decision.DECISION_UNSPECIFIED, height: 0 };
        if (gate) await gate;
        return answer;
      },
      follow: () => undefined,
      logger: silentLogger(),
    });
    return { t, calls, hold: (p: Promise<void> | undefined) => (gate = p) };
  }

  it('asks a shard again after a block that arrived while its call was in flight, and only shards waited for', async () => {
    const applied = new Map<number, Decision>([[0, Decision.DECISION_COMMIT]]);
    const { t, calls, hold } = tracker(applied);
    let release!: () => void;
    hold(new Promise<void>((r) => (release = r)));
    let done = false;
    t.listen(H, Decision.DECISION_COMMIT, [0, 1], () => (done = true));
    expect(calls.sort()).toEqual([0, 1]);
    // Shard 1 applies it in a block that arrives while its call (answered before the block) is in flight.
    applied.set(1, Decision.DECISION_COMMIT);
    t.onBlock(1);
    t.onBlock(0);
    hold(undefined);
    release();
    await waitFor(() => done, 2000, 'the listener');
    // One more call to shard 1 for its block; none to shard 0 (its call in flight answered commit).
    expect(calls.filter((s) => s === 1)).toHaveLength(2);
    expect(t.isApplied(H, Decision.DECISION_COMMIT, [0, 1])).toBe(true);
    t.onBlock(1);
    expect(calls.filter((s) => s === 1)).toHaveLength(2);
  });

  it('never counts a shard that applied the other decision', async () => {
    const { t } = tracker(new Map([[0, Decision.DECISION_COMMIT], [1, Decision.DECISION_ABORT]]));
    expect(await t.check(H, Decision.DECISION_COMMIT, [0, 1], AbortSignal.timeout(2000))).toBe(false);
    expect(await t.check(H, Decision.DECISION_ABORT, [1], AbortSignal.timeout(2000))).toBe(true);
  });
});
