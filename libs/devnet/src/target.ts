// Where an experiment on a running local network sends and watches: gateway, state shards, orchestrator.
import { runExperiment, type ExperimentOpts, type ExperimentRun, type ExperimentTx } from '@shardlab/experiment';
import type { GatewayServiceClient } from '@shardlab/proto';
import { connectPeers, type Peers } from '@shardlab/registry';
import { createLogger, type Logger } from '@shardlab/telemetry';
import type { Devnet } from './devnet';

/** The part of `runExperiment`'s options that names the network (close `peers` when done). */
export type ExperimentTarget = Pick<ExperimentOpts, 'gateway' | 'peers' | 'logger'> & { peers: Peers };

/**
 * Options of `runExperiment` for `devnet`: submissions through `gateway`, outcomes from every state
 * shard's and the orchestrator's block streams (peers found through the network's registry; the
 * caller closes `peers`), and `logger` (default: warnings and errors of the `experiment` service
 * to standard error).
 */
export function experimentTarget(devnet: Devnet, gateway: GatewayServiceClient, logger?: Logger): ExperimentTarget {
  const log = logger ?? createLogger({ service: 'experiment', level: 'warn', destination: process.stderr });
  return { gateway, peers: connectPeers({ registryAddress: devnet.registryAddress, logger: log }), logger: log };
}

/**
 * Runs `txs` as an experiment on `devnet` through `gateway` ({@link experimentTarget} plus `extra`
 * options), and closes the peers it opened.
 */
export async function runExperimentOn<T extends ExperimentTx>(
  devnet: Devnet,
  gateway: GatewayServiceClient,
  txs: readonly T[],
  extra: Omit<ExperimentOpts, keyof ExperimentTarget> = {},
  logger?: Logger,
): Promise<ExperimentRun<T>> {
  const target = experimentTarget(devnet, gateway, logger);
  try {
    return await runExperiment(txs, { ...target, ...extra });
  } finally {
    target.peers.close();
  }
}
