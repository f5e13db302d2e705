// The state shard process's command line: its options (flag, environment variable, default), the genesis file, and startStateShard wired to a registry directory.
import { Command, Option, intOption, runService } from '@shardlab/service';
import { startOnDirectory } from '@shardlab/registry';
import { readGenesisFile, SHARD_PROTOCOLS, startStateShard, type ShardProtocolName } from '@shardlab/shard';

const program = new Command()
  .description('ShardLab state shard: mempool, EVM execution, blocks in LevelDB, block stream')
  .addOption(new Option('--shard-id <id>', 'this shard\'s id (0..shards-1)').env('SHARD_ID').argParser(intOption).default(0))
  .addOption(new Option('--port <port>', 'gRPC port (0 picks a free one)').env('PORT').argParser(intOption).default(50100))
  .addOption(new Option('--host <host>', 'address to bind (0.0.0.0 in containers)').env('HOST').default('127.0.0.1'))
  .addOption(new Option('--advertise-address <host:port>', 'address other services use to reach this shard').env('ADVERTISE_ADDRESS'))
  .addOption(new Option('--data-dir <dir>', 'LevelDB directory of this shard (default .data/shard-<id>)').env('DATA_DIR'))
  .addOption(new Option('--registry <host:port>', 'registry address').env('REGISTRY_ADDRESS').default('127.0.0.1:50051'))
  .addOption(new Option('--block-interval-ms <ms>', 'block interval (default: the registry\'s)').env('BLOCK_INTERVAL_MS').argParser(intOption))
  .addOption(new Option('--max-txs-per-block <n>', 'most transactions in a block').env('MAX_TXS_PER_BLOCK').argParser(intOption).default(5000))
  .addOption(new Option('--simulation-lock-max-ttl-ms <ms>', 'longest simulation lock granted to the simulator (longer requests are capped)').env('SIMULATION_LOCK_MAX_TTL_MS').argParser(intOption).default(60_000))
  .addOption(new Option('--protocol <name>', 'cross-shard commit protocol; every shard of a network runs the same one').env('PROTOCOL').choices(SHARD_PROTOCOLS).default('block-2pc'))
  .addOption(new Option('--lock-timeout-blocks <n>', 'client-led: blocks after a vote without a decision before the shard aborts by itself').env('LOCK_TIMEOUT_BLOCKS').argParser(intOption).default(40))
  .addOption(new Option('--genesis <file>', 'JSON genesis file {"alloc": {"0xaddr": "wei"}} added to the development accounts').env('GENESIS_FILE'));

void runService('state-shard', program, async ({ logger, options }) => {
  const shardId = options['shardId'] as number;
  const genesisFile = options['genesis'] as string | undefined;
  const genesisExtra = genesisFile ? await readGenesisFile(genesisFile) : undefined;
  return startOnDirectory(options['registry'] as string, logger, (directory) =>
    startStateShard({
      shardId,
      dataDir: (options['dataDir'] as string | undefined) ?? `.data/shard-${shardId}`,
      port: options['port'] as number,
      host: options['host'] as string,
      ...(options['advertiseAddress'] ? { advertiseAddress: options['advertiseAddress'] as string } : {}),
      directory,
      ...(options['blockIntervalMs'] !== undefined ? { blockIntervalMs: options['blockIntervalMs'] as number } : {}),
      maxTxsPerBlock: options['maxTxsPerBlock'] as number,
      simulationLockMaxTtlMs: options['simulationLockMaxTtlMs'] as number,
      protocol: options['protocol'] as ShardProtocolName,
      lockTimeoutBlocks: options['lockTimeoutBlocks'] as number,
      ...(genesisExtra ? { genesisExtra } : {}),
      logger,
    }),
  );
});
