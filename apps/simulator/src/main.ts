/**
 * The simulator process. Options (flag, environment variable, default):
 * `--port` PORT 50061 (0 picks a free port), `--host` HOST 127.0.0.1 (`0.0.0.0` in containers),
 * `--log-level` LOG_LEVEL info. Tracing is configured with the standard `OTEL_*` variables.
 * Logs `simulator listening` with `address` and `port` once it serves.
 */
import { startServer } from '@shardlab/rpc';
import { Command, Option, intOption, runService } from '@shardlab/service';
import { simulatorService } from '@shardlab/simulator';

const program = new Command()
  .description('ShardLab simulator (gRPC shardlab.v1.SimulatorService)')
  .addOption(new Option('--port <port>', 'gRPC port; 0 picks a free one').env('PORT').argParser(intOption).default(50061))
  .addOption(new Option('--host <host>', 'address to bind').env('HOST').default('127.0.0.1'));

void runService('simulator', program, async ({ logger, options }) => {
  const server = await startServer({
    port: options['port'] as number,
    host: options['host'] as string,
    services: [simulatorService(logger)],
    logger,
  });
  logger.info({ address: server.address, port: server.port }, 'simulator listening');
  return { close: () => server.close() };
});
