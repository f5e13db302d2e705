// The gateway process's command line: its options (flag, environment variable, default) and startGateway wired to a registry directory.
import { Command, Option, deprecatedAlias, intOption, runService } from '@shardlab/service';
import { startOnDirectory } from '@shardlab/registry';
import { startGateway } from '@shardlab/gateway';

const program = new Command()
  .description('ShardLab gateway: the public entry (send transactions, read accounts, watch transaction status)')
  .addOption(new Option('--port <port>', 'gRPC port (0 picks a free one)').env('PORT').argParser(intOption).default(50052))
  .addOption(new Option('--host <host>', 'address to bind (0.0.0.0 in containers)').env('HOST').default('127.0.0.1'))
  .addOption(new Option('--registry <address>', 'host:port of the registry').env('REGISTRY_ADDRESS').default('127.0.0.1:50051'))
  .addOption(
    new Option('--advertise-address <host:port>', 'host:port announced to the registry; default the bound address').env('ADVERTISE_ADDRESS'),
  )
  .addOption(new Option('--instance-id <id>', 'unique id of this instance; default generated').env('INSTANCE_ID'))
  .addOption(
    new Option('--shard-deadline-ms <ms>', 'deadline of each call to a shard, in milliseconds')
      .env('SHARD_DEADLINE_MS')
      .argParser(intOption)
      .default(5000),
  )
  .addOption(
    new Option('--orchestrator-deadline-ms <ms>', 'deadline of each call to the orchestrator, in milliseconds')
      .env('ORCHESTRATOR_DEADLINE_MS')
      .argParser(intOption)
      .default(5000),
  );
deprecatedAlias(program, '--advertise <host:port>', '--advertise-address');

void runService('gateway', program, async ({ logger, options }) => {
  return startOnDirectory(options['registry'] as string, logger, (directory) =>
    startGateway({
      port: options['port'] as number,
      host: options['host'] as string,
      ...(options['advertiseAddress'] ? { advertiseAddress: options['advertiseAddress'] as string } : {}),
      ...(options['instanceId'] ? { instanceId: options['instanceId'] as string } : {}),
      directory,
      logger,
      shardDeadlineMs: options['shardDeadlineMs'] as number,
      orchestratorDeadlineMs: options['orchestratorDeadlineMs'] as number,
    }),
  );
});
