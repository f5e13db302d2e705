// The simulator process's command line: its options (flag, environment variable, default) and startSimulator wired to a registry directory.
/**
 * The simulator process (wiring only). Options (flag, environment variable, default):
 * `--port` PORT 50061 (0 picks a free port), `--host` HOST 127.0.0.1 (`0.0.0.0` in containers),
 * `--advertise-address` ADVERTISE_ADDRESS (default the bound address), `--registry`
 * REGISTRY_ADDRESS 127.0.0.1:50051, `--shard-deadline-ms` SHARD_DEADLINE_MS 5000,
 * `--lock-ttl-ms` LOCK_TTL_MS 30000 (simulation locks on what a simulation reads),
 * `--lock-wait-ms` LOCK_WAIT_MS 20000 (how long a shard queues one lock request of a simulation),
 * `--log-level` LOG_LEVEL info. Tracing is configured with the standard `OTEL_*` variables.
 * Logs `simulator listening` with `address` and `port` once it serves and is registered.
 */
import { startOnDirectory } from '@shardlab/registry';
import { Command, Option, intOption, runService } from '@shardlab/service';
import { startSimulator } from '@shardlab/simulator';

const program = new Command()
  .description('ShardLab simulator (gRPC shardlab.v1.SimulatorService): read/write sets of cross-shard contract calls')
  .addOption(new Option('--port <port>', 'gRPC port; 0 picks a free one').env('PORT').argParser(intOption).default(50061))
  .addOption(new Option('--host <host>', 'address to bind').env('HOST').default('127.0.0.1'))
  .addOption(new Option('--advertise-address <host:port>', 'address other services use to reach it').env('ADVERTISE_ADDRESS'))
  .addOption(new Option('--registry <host:port>', 'registry address').env('REGISTRY_ADDRESS').default('127.0.0.1:50051'))
  .addOption(new Option('--shard-deadline-ms <ms>', 'deadline of each call to a state shard').env('SHARD_DEADLINE_MS').argParser(intOption).default(5000))
  .addOption(new Option('--lock-ttl-ms <ms>', 'lifetime of the simulation locks taken on what a simulation reads').env('LOCK_TTL_MS').argParser(intOption).default(30_000))
  .addOption(new Option('--lock-wait-ms <ms>', 'how long a shard queues one lock request of a simulation before it gives up (default: 20000)').env('LOCK_WAIT_MS').argParser(intOption));

void runService('simulator', program, async ({ logger, options }) => {
  return startOnDirectory(options['registry'] as string, logger, (directory) =>
    startSimulator({
      port: options['port'] as number,
      host: options['host'] as string,
      ...(options['advertiseAddress'] ? { advertiseAddress: options['advertiseAddress'] as string } : {}),
      directory,
      shardDeadlineMs: options['shardDeadlineMs'] as number,
      lockTtlMs: options['lockTtlMs'] as number,
      ...(options['lockWaitMs'] !== undefined ? { lockWaitMs: options['lockWaitMs'] as number } : {}),
      logger,
    }),
  );
});
