// The process runner of every service app: working directory, option parsing with env fallbacks, logger and telemetry, start, clean shutdown on signals; option helpers.
import { Command, Option } from 'commander';
import { createLogger, initTelemetry, type Logger, type Telemetry } from '@shardlab/telemetry';

/** What {@link runService} hands to a service's start function. */
export interface ServiceContext {
  readonly logger: Logger;
  /** Parsed options (flags, falling back to environment variables, then defaults). */
  readonly options: Record<string, unknown>;
}

/** A started service: `close` stops it cleanly (servers, timers, stores). */
export interface StartedService {
  close(): Promise<void>;
}

/**
 * Environment variable that the apps' `nx serve` targets set (apps/<app>/package.json): when it is
 * `true` and `INIT_CWD` (the directory `npx` / `npm exec` was started from) is set, the service
 * first changes its working directory to `INIT_CWD`, so that relative paths — `--data-dir`,
 * `--genesis`, the default data directories — are taken from where the user typed the command and
 * not from the directory nx runs the target in. Processes started otherwise (the devnet, tests)
 * never carry it, whatever `INIT_CWD` they inherited.
 */
export const CHDIR_TO_INIT_CWD_ENV = 'SHARDLAB_CHDIR_TO_INIT_CWD';

/**
 * The working directory a service should run in, from its environment: `INIT_CWD` when
 * {@link CHDIR_TO_INIT_CWD_ENV} is `true` and `INIT_CWD` is set, otherwise undefined (stay).
 */
export function invocationDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[CHDIR_TO_INIT_CWD_ENV] !== 'true') return undefined;
  const dir = env['INIT_CWD'];
  return dir !== undefined && dir !== '' ? dir : undefined;
}

/**
 * Runs a service process: moves to the directory the user started it from when launched by an
 * `nx serve` target ({@link invocationDirectory}), parses `argv` with `program` (whose options
 * each name an environment variable fallback), sets up the pino logger (`LOG_LEVEL`) and
 * OpenTelemetry (`OTEL_*`), calls `start`, and closes cleanly (then exits 0) on SIGINT, SIGTERM
 * and SIGHUP (its terminal went away). A start failure is logged and exits with code 1. Apps call
 * this from `main.ts` and do nothing else but wiring.
 * @throws Error (the process ends) when the directory to move to does not exist.
 */
export async function runService(
  name: string,
  program: Command,
  start: (ctx: ServiceContext) => Promise<StartedService>,
  argv: string[] = process.argv,
): Promise<void> {
  const dir = invocationDirectory();
  if (dir !== undefined) process.chdir(dir);
  program.name(name).addOption(new Option('--log-level <level>', 'pino log level').env('LOG_LEVEL').default('info'));
  program.parse(argv);
  const options = program.opts();
  const logger = createLogger({ service: name, level: String(options['logLevel']) });
  let telemetry: Telemetry;
  try {
    telemetry = initTelemetry({ serviceName: `shardlab-${name}` });
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
  let service: StartedService;
  try {
    service = await start({ logger, options });
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    await telemetry.shutdown().catch(() => {});
    process.exit(1);
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, `${name} shutting down`);
    service
      .close()
      .then(() => telemetry.shutdown())
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'error during shutdown');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
}

/**
 * Parses a non-negative integer option.
 * @throws Error (shown by commander) when the value is not a non-negative integer.
 */
export function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Adds `alias` (e.g. `'--advertise <host:port>'`), a hidden option that sets the value of the
 * option `target` (e.g. `'--advertise-address'`, which must already be on `program`) and emits a
 * Node.js `DeprecationWarning` (on standard error) naming the new flag when used. Returns `program`.
 * @throws Error when `program` has no option `target`.
 */
export function deprecatedAlias(program: Command, alias: string, target: string): Command {
  const option = program.options.find((o) => o.long === target);
  if (!option) throw new Error(`no option ${target} to alias`);
  const hidden = new Option(alias, `deprecated: use ${target}`).hideHelp();
  program.addOption(hidden);
  program.on(`option:${hidden.name()}`, (value: string) => {
    process.emitWarning(`${hidden.long} is deprecated; use ${target}`, 'DeprecationWarning');
    program.setOptionValueWithSource(option.attributeName(), value, 'cli');
  });
  return program;
}

export { Command, Option };
