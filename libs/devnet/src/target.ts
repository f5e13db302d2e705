// Where an experiment on a running local network sends and watches: gateway, state shards, orchestrator.
import type { ExperimentOpts } from '@shardlab/experiment';
import type { GatewayServiceClient } from '@shardlab/proto';
import { createLogger, type Logger } from '@shardlab/telemetry';
import type { Devnet } from './devnet';

/** The part of `runExperiment`'s options that names the network. */
export type ExperimentTarget = Pick<ExperimentOpts, 'gateway' | 'shards' | 'orchestratorAddress' | 'logger'>;

/** `host:port` of every state shard of `devnet`, by shard id (the processes `state-shard-<id>`). */
export function shardAddresses(devnet: Devnet): Map<number, string> {
  const shards = new Map<number, string>();
  for (let s = 0; s < devnet.shardCount; s++) shards.set(s, devnet.processes.get(`state-shard-${s}`)!.address);
  return shards;
}

/**
 * Options of `runExperiment` for `devnet`: submissions through `gateway`, outcomes from every state
 * shard's and the orchestrator's block streams, and `logger` (default: warnings and errors of the
 * `experiment` service to standard error).
 */
export function experimentTarget(devnet: Devnet, gateway: GatewayServiceClient, logger?: Logger): ExperimentTarget {
  return {
    gateway,
    shards: shardAddresses(devnet),
    orchestratorAddress: devnet.orchestratorAddress,
    logger: logger ?? createLogger({ service: 'experiment', level: 'warn', destination: process.stderr }),
  };
}
