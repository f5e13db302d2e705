import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Command, Option, deprecatedAlias, intOption, runService } from '@shardlab/service';
import { startServer } from '@shardlab/rpc';
import { createRegistryClient, createRegistryDirectory, startMembership } from '@shardlab/registry';
import { createGateway, gatewayMountedService } from '@shardlab/gateway';

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
  const registryAddress = options['registry'] as string;
  const directory = createRegistryDirectory({ registryAddress, logger });
  // The orchestrator's address comes from the registry's ListEndpoints.
  const registry = createRegistryClient(registryAddress);
  const gateway = createGateway({
    directory,
    registry,
    logger,
    shardDeadlineMs: options['shardDeadlineMs'] as number,
    orchestratorDeadlineMs: options['orchestratorDeadlineMs'] as number,
  });
  const server = await startServer({
    port: options['port'] as number,
    host: options['host'] as string,
    services: [gatewayMountedService(gateway, logger)],
    logger,
  });
  const membership = startMembership({
    registryAddress,
    endpoint: {
      service: 'gateway',
      address: (options['advertiseAddress'] as string | undefined) ?? server.address,
      shardId: 0,
      instanceId: (options['instanceId'] as string | undefined) ?? `gateway-${hostname()}-${randomUUID().slice(0, 8)}`,
    },
    logger,
    onPlacementEpoch: (epoch) => directory.observeEpoch(epoch),
  });
  logger.info({ address: server.address, registry: registryAddress }, 'gateway listening');
  return {
    close: async () => {
      await membership.stop();
      // Stop accepting calls while open watches end (UNAVAILABLE: clients watch again elsewhere).
      await Promise.all([server.close(), gateway.close()]);
      directory.close();
      registry.close();
    },
  };
});
