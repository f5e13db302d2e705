// The orchestrator process's command line: its options (flag, environment variable, default) and startOrchestrator wired to a registry directory.
/**
 * The orchestrator process (wiring only). Options: flag, environment variable, default.
 * Tracing is configured with the standard `OTEL_*` variables.
 */
import { startOrchestrator } from '@shardlab/orchestrator';
import { startOnDirectory } from '@shardlab/registry';
import { Command, Option, intOption, runService } from '@shardlab/service';

const program = new Command()
  .description('ShardLab orchestrator shard: block-based two-phase commit of cross-shard transactions')
  .addOption(new Option('--port <port>', 'gRPC port; 0 picks a free one').env('PORT').argParser(intOption).default(50060))
  .addOption(new Option('--host <host>', 'address to bind').env('HOST').default('127.0.0.1'))
  .addOption(new Option('--advertise-address <host:port>', 'address other services use to reach it').env('ADVERTISE_ADDRESS'))
  .addOption(new Option('--registry <host:port>', 'registry address').env('REGISTRY_ADDRESS').default('127.0.0.1:50051'))
  .addOption(new Option('--data-dir <dir>', 'LevelDB directory').env('DATA_DIR').default('.data/orchestrator'))
  .addOption(new Option('--block-interval-ms <ms>', "orchestrator block interval (default: the registry's)").env('BLOCK_INTERVAL_MS').argParser(intOption))
  .addOption(new Option('--vote-timeout-blocks <n>', 'orchestrator blocks to wait for votes before aborting').env('VOTE_TIMEOUT_BLOCKS').argParser(intOption).default(20))
  .addOption(new Option('--no-follow-shards', "do not follow the state shards' blocks (their clients coordinate: client-led)"));

void runService('orchestrator', program, async ({ logger, options }) => {
  return startOnDirectory(options['registry'] as string, logger, (directory) =>
    startOrchestrator({
      port: options['port'] as number,
      host: options['host'] as string,
      ...(options['advertiseAddress'] ? { advertiseAddress: options['advertiseAddress'] as string } : {}),
      dataDir: options['dataDir'] as string,
      directory,
      ...(options['blockIntervalMs'] !== undefined ? { blockIntervalMs: options['blockIntervalMs'] as number } : {}),
      voteTimeoutBlocks: options['voteTimeoutBlocks'] as number,
      followShards: options['followShards'] !== false,
      logger,
    }),
  );
});
