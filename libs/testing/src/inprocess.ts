// startInProcessNetwork: registry, state shards, orchestrator and gateway in one test process, on free ports, talking gRPC as separate processes do.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway } from '@shardlab/gateway';
import { startOrchestrator, type RunningOrchestrator } from '@shardlab/orchestrator';
import { createRegistryDirectory, RegistryState, registryMountedService } from '@shardlab/registry';
import { startServer, type RunningServer } from '@shardlab/rpc';
import { startStateShard, type RunningStateShard } from '@shardlab/shard';
import type { Logger } from '@shardlab/telemetry';

/** Options of {@link startInProcessNetwork}. */
export interface InProcessOpts {
  shards: number;
  blockIntervalMs: number;
  dataDir: string;
  logger: Logger;
  /** Extra genesis allocation (address → wei) besides the development accounts. */
  genesisExtra?: ReadonlyMap<string, bigint>;
  voteTimeoutBlocks?: number;
}

/** A whole network in one process (for tests that need one tracer provider or fast set-up). */
export interface InProcessNetwork {
  readonly registryAddress: string;
  readonly gatewayAddress: string;
  readonly shards: RunningStateShard[];
  readonly orchestrator: RunningOrchestrator;
  stop(): Promise<void>;
}

/**
 * Starts registry, state shards, orchestrator and gateway in this process, each on its own port
 * (0: free ports) and LevelDB directory, talking gRPC to each other exactly as separate processes
 * do. Used by the trace replay tests (tools/devnet/test/trace.test.ts, call-trace.test.ts).
 */
export async function startInProcessNetwork(opts: InProcessOpts): Promise<InProcessNetwork> {
  const log = opts.logger;
  const state = new RegistryState({ shardCount: opts.shards, chainId: 1337, blockIntervalMs: opts.blockIntervalMs });
  const registry: RunningServer = await startServer({ port: 0, services: [registryMountedService(state, log)], logger: log });
  const registryAddress = registry.address;
  const directories: { close(): void }[] = [];
  const dir = () => {
    const d = createRegistryDirectory({ registryAddress, logger: log });
    directories.push(d);
    return d;
  };
  mkdirSync(opts.dataDir, { recursive: true });
  const shards = await Promise.all(
    Array.from({ length: opts.shards }, (_, shardId) =>
      startStateShard({
        shardId,
        dataDir: join(opts.dataDir, `shard-${shardId}`),
        port: 0,
        host: '127.0.0.1',
        directory: dir(),
        logger: log.child({ service: 'state-shard' }),
        ...(opts.genesisExtra ? { genesisExtra: opts.genesisExtra } : {}),
      }),
    ),
  );
  const orchestrator = await startOrchestrator({
    port: 0,
    host: '127.0.0.1',
    dataDir: join(opts.dataDir, 'orchestrator'),
    directory: dir(),
    logger: log.child({ service: 'orchestrator' }),
    ...(opts.voteTimeoutBlocks !== undefined ? { voteTimeoutBlocks: opts.voteTimeoutBlocks } : {}),
  });
  const gateway = await startGateway({ port: 0, host: '127.0.0.1', instanceId: 'gateway-inprocess', directory: dir(), logger: log.child({ service: 'gateway' }) });
  return {
    registryAddress,
    gatewayAddress: gateway.server.address,
    shards,
    orchestrator,
    stop: async () => {
      await gateway.close();
      await orchestrator.close();
      await Promise.all(shards.map((s) => s.close()));
      for (const d of directories) d.close();
      await registry.close();
    },
  };
}
