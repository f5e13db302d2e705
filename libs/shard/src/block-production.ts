// Block production of a state shard: take, plan (with the cross-shard protocol), execute, persist atomically, apply in memory or roll back.
import type { EventEmitter } from 'node:events';
import { trace as otTrace, type Link } from '@opentelemetry/api';
import { hexToBytes } from '@ethereumjs/util';
import { buildBlock, type StepOutcome } from '@shardlab/chain';
import type { StateShardBlock } from '@shardlab/proto';
import { tracer, withSpan } from '@shardlab/telemetry';
import { shardOfAddress, trimMap, type ShardCore } from './context';
import type { CrossShardProtocol } from './protocol';

const t = tracer('state-shard');

/**
 * Produces the blocks of one shard, one at a time (docs/ARCHITECTURE.md §3). What a block carries
 * besides the mempool's transactions, and in what order, is the cross-shard protocol's
 * ({@link CrossShardProtocol.beginBlock}); this module owns the sequence around it and the
 * atomicity: block, receipts, state, protocol records and stream cursor are persisted in one
 * batch, and the in-memory state (admission reader, protocol state, mempool, drop log) moves
 * only once the block is durable, in one admission section.
 */
export class BlockProducer {
  private chain: Promise<unknown> = Promise.resolve();
  private blocksInProgress = 0;

  constructor(
    private readonly core: ShardCore,
    private readonly protocol: CrossShardProtocol,
    /** Emits `block` with each durable block. */
    private readonly events: EventEmitter,
    /** Most user transactions in one block. */
    private readonly maxTxsPerBlock: number,
  ) {}

  /**
   * Produces one block now: the protocol's steps first (e.g. finalize and unlock, then
   * acceptances and their votes), then queued transactions oldest first — local ones with the
   * EVM, cross-shard ones as the protocol accepts them — and persists everything atomically, then
   * publishes the block. Blocks are produced even when empty, so heights measure time. Calls are
   * serialised.
   * @throws Error when persisting fails (transactions stay queued and state is rolled back).
   */
  produceBlock(): Promise<StateShardBlock> {
    // Start at once when idle (the block takes its transactions synchronously), else queue.
    const run = this.blocksInProgress === 0 ? this.produceBlockNow() : this.chain.then(() => this.produceBlockNow());
    this.blocksInProgress += 1;
    this.chain = run.catch(() => undefined).finally(() => (this.blocksInProgress -= 1));
    return run;
  }

  private async produceBlockNow(): Promise<StateShardBlock> {
    const { core, protocol } = this;
    const { store, logger } = core.opts;
    const head = store.head()!;
    const height = head.height + 1;
    const pblock = protocol.beginBlock();
    const entries = core.mempool.take(this.maxTxsPerBlock, core.executor.blockGasLimit);
    const links: Link[] = entries
      .map((e) => (e.trace ? otTrace.getSpanContext(e.trace) : undefined))
      .filter((c): c is NonNullable<typeof c> => c !== undefined)
      .map((c) => ({ context: c }));
    // The transactions are taken synchronously above; the rest runs under the block mutex, so that
    // no simulation lock is taken while this block (planned without it) is executed.
    const body = async (): Promise<StateShardBlock> => {
      const timestampMs = Math.max(core.now(), 1);
      const parentRoot = store.head()!.stateRoot;
      let block: StateShardBlock;
      let committed = false;
      try {
        const steps = await pblock.plan({ height, timestampMs, entries });
        const execution = await core.executor.executeBlock(
          height,
          timestampMs,
          steps,
          (a) => pblock.lockedOf(a),
          (a) => shardOfAddress(core, a) === core.shardId,
          pblock.locksHeld() ? (k) => pblock.holds(k) : undefined,
        );
        const { orchestratorHeight, votes, meta, outgoingReceipts, decisions } = await pblock.finish(execution);
        block = await buildBlock(core.opts.common, {
          shardId: core.shardId,
          height,
          parentHash: head.hash,
          timestampMs,
          execution,
          baseFeePerGas: core.executor.baseFeePerGas,
          orchestratorHeight,
          votes,
          ...(outgoingReceipts ? { outgoingReceipts } : {}),
          ...(decisions ? { decisions } : {}),
        });
        await store.commitBlock(block, execution.touched, meta);
        committed = true;
        const refusals = execution.outcomes.filter((o): o is Extract<StepOutcome, { kind: 'rejected' }> => o.kind === 'rejected');
        const rejected = refusals.filter((o) => !o.deferred);
        const deferred = new Set(refusals.filter((o) => o.deferred).map((o) => o.tx.hash));
        await core.admission.run(async () => {
          await core.reader.advanceTo(execution.stateRoot, execution.touched, parentRoot);
          await core.dryRunner.setStateRoot(execution.stateRoot);
          const settled = pblock.applyDurable(deferred);
          // Recorded as dropped before leaving the mempool, so a status query never sees neither.
          for (const o of rejected) core.dropped.set(o.tx.hash, { reason: o.reason, cause: o.cause, atMs: timestampMs });
          core.mempool.remove(entries.filter((e) => !deferred.has(e.tx.hash)).map((e) => e.tx.hash));
          core.mempool.remove(settled);
          core.mempool.untake(entries.filter((e) => deferred.has(e.tx.hash)));
        });
        for (const o of rejected) logger.warn({ txHash: o.tx.hash, reason: o.reason }, 'transaction dropped');
        trimMap(core.dropped);
        pblock.trace(block);
      } catch (err) {
        if (committed) {
          // The block is durable; only the in-memory follow-up failed. Never roll back past it.
          logger.error({ err, height }, 'after-commit bookkeeping failed');
          throw err;
        }
        store.discardPending();
        await core.executor.setStateRoot(hexToBytes(head.stateRoot as `0x${string}`));
        core.mempool.untake(entries);
        pblock.rollback();
        throw err;
      }
      if (block.transactions.length > 0) {
        logger.info({ height, txs: block.transactions.length, votes: block.tpcPrepare.length, gasUsed: block.gasUsed, stateRoot: block.stateRoot }, 'block');
      }
      this.events.emit('block', block);
      return block;
    };
    return withSpan(t, 'shard.block', { 'shard.id': core.shardId, 'block.height': height, 'block.txs': entries.length }, () => core.blockMutex.run(body).finally(() => pblock.end()), links);
  }
}
