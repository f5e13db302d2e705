// The Uniswap benchmark: cross-shard swaps (resubmitted on abort) beside cross-shard transfers on one local network, plus timing of the simulator's Simulate on the committed swaps.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTransaction, toProtoTransaction, type DevAccount } from '@shardlab/chain';
import { addLiquidityReq, deployUniswap, E18, FOUR_SHARD_LAYOUT, fundTrader, NetClient, strictStep, swapReq, uniswapActors } from '@shardlab/contracts';
import { runExperimentOn, startDevnet } from '@shardlab/devnet';
import { latencyOf, summariseRun } from '@shardlab/experiment';
import { TxStatus, type ReleaseSimulationLocksResponse, type SimulateResponse } from '@shardlab/proto';
import { normaliseReason } from '@shardlab/report';
import { planLocalTransfers } from '@shardlab/workload';
import { timeSimulations, type SimulationTiming } from './simulation-timing';

/** Figures of one class of transactions. */
export interface ClassFigures {
  name: string;
  /** Transactions wanted. */
  wanted: number;
  committed: number;
  /** Attempts aborted by the protocol (swaps: each resubmitted, up to the attempt limit). */
  aborted: number;
  /** Refused at submission or failed otherwise. */
  failed: number;
  tps: number;
  /** Latency of committed attempts (submission → COMMITTED), ms. */
  p50: number;
  p99: number;
  /** Swaps: first submission → COMMITTED, including resubmissions, ms. */
  p50EndToEnd?: number;
  p99EndToEnd?: number;
  /** Abort reasons with counts. */
  reasons: Map<string, number>;
}

export interface UniswapBenchResult {
  classes: ClassFigures[];
  traders: number;
  transferSenders: number;
  /**
   * Simulator gRPC Simulate on the committed swaps' own signed transactions: time of the answered
   * calls (ms), and the calls that failed, with their reasons.
   */
  simulation: SimulationTiming;
}


/**
 * Cross-shard Uniswap swaps beside cross-shard plain transfers in the same run, on one real
 * local network (separate processes). Uniswap V2 is deployed with token A, token B, factory +
 * pair and router on shards 1, 2, 3, 3 (FOUR_SHARD_LAYOUT); `traders` development accounts get
 * tokens and their own approvals; every other development account sends cross-shard transfers.
 * Each trader has one swap in flight at a time (alternating A→B and B→A on the one pair, so
 * swaps of different traders conflict on the pair's reserves); an aborted swap is resubmitted
 * (new nonce) up to `maxAttempts` times. Afterwards the signed transactions of the committed
 * swaps are simulated again, one at a time, by calling the simulator's gRPC Simulate directly
 * (with the simulator's configured deadline, `PEER_CALL_DEFAULTS` of @shardlab/registry times
 * `SHARDLAB_DEADLINE_SCALE`), and timed (against the state at that moment: later state than when
 * they ran); a call that fails is counted with its reason, not thrown. After each call the
 * transaction's simulation locks are released on every shard (untimed), so that each call is
 * timed without waiting for the locks of the one before.
 * @throws Error when the network cannot be started, Uniswap cannot be deployed or funded, or
 *   there are not enough development accounts; not for failed swaps or failed Simulate calls.
 */
export async function runUniswapBench(opts: {
  shards: number;
  blockIntervalMs: number;
  swaps: number;
  transfers: number;
  traders: number;
  maxAttempts?: number;
  say: (s: string) => void;
}): Promise<UniswapBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shardlab-unibench-'));
  const devnet = await startDevnet({ shards: opts.shards, blockIntervalMs: opts.blockIntervalMs, dataDir });
  const net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, opts.shards);
  try {
    const layout = FOUR_SHARD_LAYOUT;
    const actors = Object.values(uniswapActors(net, layout));
    const free = net.dev.filter((a) => !actors.includes(a));
    const traders = free.slice(0, opts.traders);
    const senders = net.dev.filter((a) => !traders.includes(a));
    if (traders.length === 0 || senders.length === 0) throw new Error('not enough development accounts for traders and transfer senders');
    opts.say(`  deploying Uniswap V2 (token A, token B, factory+pair, router on shards ${layout.tokenA}, ${layout.tokenB}, ${layout.factory}, ${layout.router})...`);
    const step = strictStep(net);
    const d = await deployUniswap(net, layout, step);
    opts.say(`  funding ${traders.length} traders (tokens, approvals)...`);
    for (const t of traders) await fundTrader(net, d, step, t);
    await step(traders[0]!, addLiquidityReq(d, 50_000n * E18, 50_000n * E18, traders[0]!.address));
    await net.settled();
    opts.say(`  traders: ${traders.map((t) => `${t.address.slice(0, 8)}… (shard ${net.shardOf(t.address)})`).join(', ')}`);

    // Cross-shard transfers from the other accounts.
    const startNonces = new Map<string, bigint>();
    for (const a of senders) startNonces.set(a.address, BigInt((await net.account(a.address)).nonce));
    const plan = planLocalTransfers({ common: net.common, placement: net.placement, accounts: senders, count: opts.transfers, seed: 21, crossShardRatio: 1, startNonces });

    // Swaps: one in flight per trader, resubmitted on abort.
    const maxAttempts = opts.maxAttempts ?? 5;
    const swapAttempts: { ms: number; status: TxStatus | undefined; reason: string }[] = [];
    const swapDone: { ms: number; raw: Uint8Array }[] = [];
    let swapFailed = 0;
    let next = 0;
    const runTrader = async (t: DevAccount, k: number) => {
      for (let i = next++; i < opts.swaps; i = next++) {
        const t0 = Date.now();
        const tokenIn = (i + k) % 2 === 0 ? d.tokenA : d.tokenB;
        let ok = false;
        for (let attempt = 0; attempt < maxAttempts && !ok; attempt++) {
          const a0 = Date.now();
          try {
            const nonce = BigInt((await net.account(t.address)).nonce);
            // amountIn differs per attempt: a resubmission at an unchanged nonce must not repeat the aborted hash.
            const raw = net.sign(t, swapReq(d, tokenIn, E18 + BigInt(i * maxAttempts + attempt), 1n, t.address), nonce);
            const sent = await net.sendRaw(raw);
            const final = await net.watch(sent.txHash, 60_000);
            swapAttempts.push({ ms: Date.now() - a0, status: final.status, reason: final.reason });
            if (final.status === TxStatus.TX_STATUS_COMMITTED) {
              ok = true;
              swapDone.push({ ms: Date.now() - t0, raw });
            } else if (final.status !== TxStatus.TX_STATUS_ABORTED) break;
            else await new Promise((r) => setTimeout(r, opts.blockIntervalMs)); // let the nonce settle before resubmitting
          } catch (err) {
            swapAttempts.push({ ms: Date.now() - a0, status: undefined, reason: `rejected: ${(err as Error).message}` });
            await new Promise((r) => setTimeout(r, opts.blockIntervalMs));
          }
        }
        if (!ok) swapFailed++;
      }
    };
    opts.say(`  running ${opts.transfers} cross-shard transfers (${senders.length} senders) and ${opts.swaps} cross-shard swaps (${traders.length} traders) at the same time...`);
    const start = Date.now();
    let transfersEnd = start;
    let swapsEnd = start;
    const [transferRun] = await Promise.all([
      runExperimentOn(devnet, net.gateway, plan).then((r) => ((transfersEnd = Date.now()), r)),
      Promise.all(traders.map((t, k) => runTrader(t, k))).then(() => (swapsEnd = Date.now())),
    ]);
    await net.settled(30_000);

    const ts = summariseRun(transferRun);
    const tReasons = new Map<string, number>();
    for (const [reason, n] of ts.reasons) tReasons.set(normaliseReason(reason), (tReasons.get(normaliseReason(reason)) ?? 0) + n);
    const transfers: ClassFigures = {
      name: 'cross-shard transfer',
      wanted: opts.transfers,
      committed: ts.committed,
      aborted: ts.aborted,
      failed: ts.rejected + ts.unknown + ts.reverted,
      tps: (ts.committed * 1000) / Math.max(1, transfersEnd - start),
      p50: ts.latencyMs.crossShard.p50,
      p99: ts.latencyMs.crossShard.p99,
      reasons: tReasons,
    };
    const attemptLatency = latencyOf(swapAttempts.filter((a) => a.status === TxStatus.TX_STATUS_COMMITTED).map((a) => a.ms));
    const endToEnd = latencyOf(swapDone.map((s) => s.ms));
    const sReasons = new Map<string, number>();
    for (const a of swapAttempts) if (a.status !== TxStatus.TX_STATUS_COMMITTED) sReasons.set(normaliseReason(a.reason), (sReasons.get(normaliseReason(a.reason)) ?? 0) + 1);
    const swaps: ClassFigures = {
      name: 'cross-shard Uniswap swap',
      wanted: opts.swaps,
      committed: swapDone.length,
      aborted: swapAttempts.filter((a) => a.status === TxStatus.TX_STATUS_ABORTED).length,
      failed: swapFailed,
      tps: (swapDone.length * 1000) / Math.max(1, swapsEnd - start),
      p50: attemptLatency.p50,
      p99: attemptLatency.p99,
      p50EndToEnd: endToEnd.p50,
      p99EndToEnd: endToEnd.p99,
      reasons: sReasons,
    };

    // Simulation time: the committed swaps' signed transactions, through the simulator's gRPC Simulate, one at a time.
    opts.say(`  timing the simulator's Simulate on the ${swapDone.length} committed swaps' transactions...`);
    const txs = swapDone.map((s) => toProtoTransaction(decodeTransaction(s.raw, net.common)));
    const simulator = await net.peers.simulator().catch((err: Error) => err);
    const simulation = await timeSimulations(
      txs,
      (tx) => (simulator instanceof Error ? Promise.reject(simulator) : simulator.call<SimulateResponse>((c, md, o, cb) => c.simulate({ tx }, md, o, cb))),
      {
        // A successful simulation keeps its simulation locks for their TTL (until a prepare that
        // never comes here): release them, untimed, or the next swap's Simulate waits for them.
        after: async (tx) => {
          for (let s = 0; s < opts.shards; s++) {
            const shard = await net.peers.shard(s);
            await shard.call<ReleaseSimulationLocksResponse>((c, md, o, cb) => c.releaseSimulationLocks({ txHash: tx.hash }, md, o, cb));
          }
        },
      },
    );
    return { classes: [transfers, swaps], traders: traders.length, transferSenders: senders.length, simulation };
  } finally {
    net.close();
    await devnet.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
