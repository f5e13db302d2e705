// Scheduling of simulations of forwarded cross-shard contract calls: one sender at a time in nonce order, with retries, ending in an RwSet or an abort.
import { context } from '@opentelemetry/api';
import { reasons, type Reason, type RwSet, type SimulateResponse, type Transaction } from '@shardlab/proto';
import { extractContext, tracer, withSpan, type Logger } from '@shardlab/telemetry';
import type { Coordinator, CrossRecord } from './coordinator';
import { checkRwSet } from './rwset-check';

const t = tracer('orchestrator');

/** What {@link SimulationScheduler} needs. Defaults in brackets. */
export interface SimulationSchedulerOpts {
  /** The simulator (SimulatorService.Simulate). */
  simulate: (tx: Transaction) => Promise<SimulateResponse>;
  coordinator: Coordinator;
  logger: Logger;
  /** Shard of an address under the current placement. */
  shardOf(address: string): number;
  now: () => number;
  /** Aborted when the orchestrator stops: a simulation in progress gives up (resumed after restart). */
  closing: AbortSignal;
  /** Called with each record the outcome of a simulation changed. */
  onResolved(record: CrossRecord): void;
  /** Simulation attempts when the simulator cannot be reached [4]. */
  attempts?: number;
  /** Delay before the first retry, in ms (doubling) [200]. */
  retryMs?: number;
  /** Base fee per gas, in wei, for the conservation check of RwSets [1 gwei]. */
  baseFeePerGas?: bigint;
}

/**
 * Runs the simulations of forwarded contract calls and creations (docs/ARCHITECTURE.md §3): a
 * sender's simulations run in arrival (nonce) order, one at a time; the simulator is retried
 * with back-off when it cannot be reached; an RwSet that fails {@link checkRwSet} or a failed
 * simulation aborts the transaction; a stop interrupts a simulation, which the next start resumes
 * from the store.
 */
export class SimulationScheduler {
  /** Simulations in progress. */
  private readonly running = new Set<Promise<void>>();
  /** Last simulation started per sender: a sender's simulations run one after the other. */
  private readonly perSender = new Map<string, Promise<void>>();

  constructor(private readonly opts: SimulationSchedulerOpts) {}

  /** Resolves once no simulation is in progress (including those started meanwhile). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Starts the simulation of a stored record waiting for its RwSet. */
  start(r: CrossRecord): void {
    const { opts } = this;
    const hash = r.tx.hash;
    // A sender's simulations run in arrival (nonce) order, one at a time: a later one holding the
    // simulation locks an earlier one needs would stall both (the later one is ordered only after
    // the earlier one), until its locks expire.
    const from = r.tx.from;
    const previous = this.perSender.get(from);
    // One span in the transaction's trace (child of its enqueue span), around the simulation
    // with its retries (docs/ARCHITECTURE.md §6); the simulator call runs inside it.
    const run = context.with(extractContext(r.traceContext), () => withSpan(t, 'orchestrator.simulate', { 'tx.hash': hash, 'shard.home': r.homeShard }, async (span) => {
      if (previous) await previous;
      const attempts = Math.max(1, opts.attempts ?? 4);
      let outcome: { rwSet: RwSet } | { error: string; cause?: Reason } | undefined;
      let lastError = '';
      for (let i = 0; i < attempts && !opts.closing.aborted; i++) {
        if (i > 0) await new Promise((res) => setTimeout(res, (opts.retryMs ?? 200) * 2 ** (i - 1)));
        try {
          const res = await opts.simulate(r.tx);
          if (!res.success || !res.rwSet) outcome = { error: res.error || 'no read/write set', ...(res.cause ? { cause: res.cause } : {}) };
          else {
            const bad = checkRwSet(r.tx, r.homeShard, res.rwSet, opts.shardOf, opts.baseFeePerGas ?? 1_000_000_000n);
            outcome = bad ? { error: bad, cause: reasons.invalidRwSet(bad) } : { rwSet: res.rwSet }; // `error` is the cause's text
          }
          break;
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
          opts.logger.warn({ txHash: hash, attempt: i + 1, err: lastError }, 'simulation failed; retrying');
        }
      }
      if (opts.closing.aborted) {
        span.setAttribute('simulation.interrupted', true);
        return; // resumed from the store after a restart
      }
      outcome ??= { error: `simulator unreachable: ${lastError}` };
      span.setAttributes({ success: 'rwSet' in outcome, error: 'error' in outcome ? outcome.error : '' });
      const rec = opts.coordinator.resolveSimulation(hash, outcome, opts.now());
      if (rec) {
        span.setAttribute('tx.involved_shards', rec.involved);
        opts.logger.debug({ txHash: hash, involved: rec.involved, error: rec.simulationError }, 'cross-shard transaction simulated');
        opts.onResolved(rec);
      }
    }))
      .catch((err: unknown) => opts.logger.error({ err, txHash: hash }, 'simulation bookkeeping failed'))
      .finally(() => {
        this.running.delete(run);
        if (this.perSender.get(from) === run) this.perSender.delete(from);
      });
    this.running.add(run);
    this.perSender.set(from, run);
  }
}
