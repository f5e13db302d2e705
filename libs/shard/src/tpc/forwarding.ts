// Block-2PC admission of a cross-shard transaction: forwarding it to the orchestrator, with background retries when the outcome is unknown.
import type { DecodedTx } from '@shardlab/chain';
import type { Forwarder } from './forwarder';
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { reasons, withReason } from '@shardlab/proto';
import type { ShardCore } from '../context';
import type { MempoolEntry } from '../mempool';

export type { Forwarder } from './forwarder';

/** Forward attempts after a first forward whose outcome is unknown (about 2 minutes in all). */
const FORWARD_RETRIES = 30;

/** True for a failure after which the callee may or may not have acted (deadline exceeded). */
function isOutcomeUnknown(err: unknown): boolean {
  return isShardLabError(err, ErrorCode.Unavailable) && err.meta['grpcCode'] === 4; // DEADLINE_EXCEEDED
}

/**
 * Forwards an admitted cross-shard transaction whose nonce `entry` reserves. The entry enters a
 * block only once the orchestrator holds the transaction, so a signed transaction is never
 * half-accepted. When the orchestrator refused it or was never reached, the entry is removed and
 * the error thrown (nothing happened; safe to retry). When the outcome is unknown (deadline
 * exceeded), the nonce stays reserved and the forward is retried in the background (the
 * orchestrator deduplicates by hash), rather than telling the client it failed when it may still
 * commit.
 * @throws the forwarder's ShardLabError when the transaction was certainly not taken.
 */
export async function forwardAdmitted(core: ShardCore, forwarder: Forwarder, d: DecodedTx, involvedShards: number[], entry: MempoolEntry): Promise<void> {
  try {
    await forwarder.forward(d, core.shardId, involvedShards);
  } catch (err) {
    if (!isOutcomeUnknown(err)) {
      core.mempool.remove([d.hash]);
      throw err;
    }
    core.opts.logger.warn({ txHash: d.hash, err: (err as Error).message }, 'forward outcome unknown; retrying in the background');
    void retryForward(core, forwarder, d, involvedShards, entry);
    return;
  }
  entry.ready = true;
  core.opts.logger.debug({ txHash: d.hash, from: d.from, to: d.to, involvedShards }, 'cross-shard transaction forwarded');
}

/**
 * Forwards again, with back-off, a cross-shard transaction whose first forward timed out, until
 * the orchestrator answers (it deduplicates by hash); then lets it into a block. After
 * `FORWARD_RETRIES` failures it is dropped — if the orchestrator did store it, the source still
 * accepts it from the ordered copy, so it is never lost half-way.
 */
async function retryForward(core: ShardCore, forwarder: Forwarder, d: DecodedTx, involvedShards: number[], entry: MempoolEntry): Promise<void> {
  const drop = (detail: string) =>
    core.admission.run(async () => {
      core.dropped.set(d.hash, { ...withReason(reasons.forwardFailed(detail)), atMs: core.now() });
      core.mempool.remove([d.hash]);
    });
  for (let attempt = 1; attempt <= FORWARD_RETRIES && !core.closing.aborted; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    try {
      await forwarder.forward(d, core.shardId, involvedShards);
      entry.ready = true;
      core.opts.logger.info({ txHash: d.hash, attempt }, 'cross-shard transaction forwarded after retry');
      return;
    } catch (err) {
      if (!isOutcomeUnknown(err) && !isShardLabError(err, ErrorCode.Unavailable)) {
        // The orchestrator answered (e.g. already decided): keep it out of blocks; its status
        // comes from the orchestrator, and the source accepts an ordered copy if there is one.
        await drop((err as Error).message);
        return;
      }
    }
  }
  await drop('the orchestrator could not be reached to forward it');
}
