// The registry process's command line: network options (shards, chain id, block and heartbeat intervals, initial placement file) and the RegistryState served over gRPC.
import { Command, Option, intOption, runService } from '@shardlab/service';
import { startServer } from '@shardlab/rpc';
import { RegistryState, readPlacementFile, registryMountedService } from '@shardlab/registry';

const program = new Command()
  .description('ShardLab beacon registry: shard count, placement, service endpoints, membership')
  .addOption(new Option('--port <port>', 'gRPC port (0 picks a free one)').env('PORT').argParser(intOption).default(50051))
  .addOption(new Option('--host <host>', 'address to bind (0.0.0.0 in containers)').env('HOST').default('127.0.0.1'))
  .addOption(new Option('--shards <count>', 'number of state shards').env('SHARD_COUNT').argParser(intOption).default(4))
  .addOption(new Option('--chain-id <id>', 'EIP-155 chain id').env('CHAIN_ID').argParser(intOption).default(1337))
  .addOption(
    new Option('--block-interval-ms <ms>', 'block interval of state shards, in milliseconds')
      .env('BLOCK_INTERVAL_MS')
      .argParser(intOption)
      .default(250),
  )
  .addOption(
    new Option('--heartbeat-interval-ms <ms>', 'heartbeat interval asked of instances, in milliseconds')
      .env('HEARTBEAT_INTERVAL_MS')
      .argParser(intOption)
      .default(1000),
  )
  .addOption(
    new Option('--placement-file <file>', 'JSON {"overrides": {"0xaddr": shard}}: explicit placements overriding last-byte-mod from epoch 1')
      .env('PLACEMENT_FILE'),
  );

void runService('registry', program, async ({ logger, options }) => {
  const shardCount = options['shards'] as number;
  const placementFile = options['placementFile'] as string | undefined;
  const overrides = placementFile !== undefined ? await readPlacementFile(placementFile, shardCount) : undefined;
  const state = new RegistryState({
    shardCount,
    chainId: options['chainId'] as number,
    blockIntervalMs: options['blockIntervalMs'] as number,
    heartbeatIntervalMs: options['heartbeatIntervalMs'] as number,
    ...(overrides ? { overrides } : {}),
  });
  const server = await startServer({
    port: options['port'] as number,
    host: options['host'] as string,
    services: [registryMountedService(state, logger)],
    logger,
  });
  logger.info({ address: server.address, ...state.config(), placementOverrides: state.placement.overrides.size }, 'registry listening');
  return { close: () => server.close() };
});
