// startDevnet: a local network of separate processes (registry, shards, orchestrator, simulator, gateway) on free ports, waited healthy, with kill and restart of shards, orchestrator and gateway
import { join } from 'node:path';
import { scaleDeadlineMs } from '@shardlab/rpc';
import type { ShardProtocolName } from '@shardlab/shard';
import { freePort, spawnService, stopProcess, waitHealthy, type ServiceProcess } from './processes';

/** Options of {@link startDevnet}. */
export interface DevnetOpts {
  /** Number of state shards [4]. */
  shards?: number;
  /** Block interval of state shards, in milliseconds [250]. */
  blockIntervalMs?: number;
  /** EIP-155 chain id [1337]. */
  chainId?: number;
  /** Directory for every instance's LevelDB data and logs. */
  dataDir: string;
  /**
   * How long each service may take to become healthy, in milliseconds [30,000 × the deadline
   * scale, `SHARDLAB_DEADLINE_SCALE`: start-up is slow on slow or loaded machines too].
   */
  startTimeoutMs?: number;
  /** Orchestrator blocks to wait for votes before aborting [20]. */
  voteTimeoutBlocks?: number;
  /** Orchestrator block interval in milliseconds [the shards' block interval]. */
  orchestratorBlockIntervalMs?: number;
  /** JSON genesis file `{"alloc": {"0xaddress": "wei"}}` given to every shard, funding accounts besides the development accounts (e.g. a trace's senders). */
  genesisFile?: string;
  /** Cross-shard commit protocol of every state shard [`block-2pc`]. */
  protocol?: ShardProtocolName;
  /** Client-led: blocks after a vote without a decision before a shard aborts by itself [the shards' default, 40]. */
  lockTimeoutBlocks?: number;
  /**
   * JSON placement file `{"overrides": {"0xaddress": shard}}` given to the registry
   * (`--placement-file`): explicit placements from epoch 1, which every service reads at start
   * (state shards fund only their own accounts from the genesis file). Default: none, the
   * `last byte mod shards` rule for every account.
   */
  placementFile?: string;
  /** Most transactions in a state-shard block [the shard's default, 5,000]. */
  maxTxsPerBlock?: number;
  /** Called with a line of progress ("registry healthy", ...). */
  onProgress?: (line: string) => void;
}

/** A running local network: every service a separate process with its own data directory. */
export interface Devnet {
  readonly registryAddress: string;
  readonly gatewayAddress: string;
  readonly shardCount: number;
  readonly dataDir: string;
  readonly logDir: string;
  /** Processes by name (`registry`, `gateway`, `state-shard-<id>`). */
  readonly processes: ReadonlyMap<string, ServiceProcess>;
  /** Kills a shard process abruptly (SIGKILL) and waits for it to exit. */
  killShard(shardId: number): Promise<void>;
  /** Stops a shard cleanly (SIGTERM). */
  stopShard(shardId: number): Promise<void>;
  /** Starts a stopped shard again on the same port and data directory, and waits until healthy. */
  restartShard(shardId: number): Promise<void>;
  /** Kills the orchestrator abruptly (SIGKILL) and waits for it to exit. */
  killOrchestrator(): Promise<void>;
  /** Starts a stopped orchestrator again on the same port and data directory. */
  restartOrchestrator(): Promise<void>;
  /** Kills the gateway abruptly (SIGKILL) and waits for it to exit (client-led: the coordinator it runs dies with it). */
  killGateway(): Promise<void>;
  /** Starts a stopped gateway again on the same port. */
  restartGateway(): Promise<void>;
  /** Sends a signal to a process by name (e.g. SIGSTOP / SIGCONT to freeze a shard). */
  signal(name: string, sig: NodeJS.Signals): void;
  readonly orchestratorAddress: string;
  /** Stops every process (gateway and shards first, registry last). */
  stop(): Promise<void>;
}

/**
 * Starts the registry, the state shards, the orchestrator, the simulator and the gateway as separate processes on free ports,
 * each shard with its own LevelDB directory under `dataDir`, and waits until each is healthy.
 * @throws Error naming the service and its log file when one fails to start; every process
 *   already started is stopped first.
 */
export async function startDevnet(opts: DevnetOpts): Promise<Devnet> {
  const shards = opts.shards ?? 4;
  const blockIntervalMs = opts.blockIntervalMs ?? 250;
  const timeout = opts.startTimeoutMs ?? scaleDeadlineMs(30_000);
  const logDir = join(opts.dataDir, 'logs');
  const progress = opts.onProgress ?? (() => {});
  const procs = new Map<string, ServiceProcess>();
  const shardArgs = new Map<number, { address: string; args: string[] }>();

  const stopAll = async () => {
    const order = [...procs.values()].sort((a, b) => (a.name === 'registry' ? 1 : 0) - (b.name === 'registry' ? 1 : 0));
    await Promise.all(order.filter((p) => p.name !== 'registry').map((p) => stopProcess(p)));
    const reg = procs.get('registry');
    if (reg) await stopProcess(reg);
  };

  try {
    const regPort = await freePort();
    const registryAddress = `127.0.0.1:${regPort}`;
    const registry = spawnService(
      'registry',
      'registry',
      registryAddress,
      [
        '--port', String(regPort), '--shards', String(shards), '--block-interval-ms', String(blockIntervalMs), '--chain-id', String(opts.chainId ?? 1337),
        ...(opts.placementFile !== undefined ? ['--placement-file', opts.placementFile] : []),
      ],
      logDir,
    );
    procs.set('registry', registry);
    await waitHealthy(registry, timeout);
    progress(`registry ready at ${registryAddress}`);

    const startShard = (id: number) => {
      const s = shardArgs.get(id)!;
      const p = spawnService('state-shard', `state-shard-${id}`, s.address, s.args, logDir);
      procs.set(`state-shard-${id}`, p);
      return p;
    };
    for (let id = 0; id < shards; id++) {
      const port = await freePort();
      shardArgs.set(id, {
        address: `127.0.0.1:${port}`,
        args: [
          '--shard-id', String(id), '--port', String(port), '--registry', registryAddress, '--data-dir', join(opts.dataDir, `shard-${id}`),
          ...(opts.genesisFile !== undefined ? ['--genesis', opts.genesisFile] : []),
          ...(opts.maxTxsPerBlock !== undefined ? ['--max-txs-per-block', String(opts.maxTxsPerBlock)] : []),
          ...(opts.protocol !== undefined ? ['--protocol', opts.protocol] : []),
          ...(opts.lockTimeoutBlocks !== undefined ? ['--lock-timeout-blocks', String(opts.lockTimeoutBlocks)] : []),
        ],
      });
    }
    const orchPort = await freePort();
    const orchestratorAddress = `127.0.0.1:${orchPort}`;
    const orchArgs = [
      '--port', String(orchPort), '--registry', registryAddress, '--data-dir', join(opts.dataDir, 'orchestrator'),
      '--vote-timeout-blocks', String(opts.voteTimeoutBlocks ?? 20),
      ...(opts.orchestratorBlockIntervalMs !== undefined ? ['--block-interval-ms', String(opts.orchestratorBlockIntervalMs)] : []),
      // Client-led: the clients coordinate; the orchestrator only produces (empty) blocks.
      ...(opts.protocol === 'client-led' ? ['--no-follow-shards'] : []),
    ];
    const startOrchestrator = () => {
      const p = spawnService('orchestrator', 'orchestrator', orchestratorAddress, orchArgs, logDir);
      procs.set('orchestrator', p);
      return p;
    };
    const orchestrator = startOrchestrator();
    const simPort = await freePort();
    const simulator = spawnService('simulator', 'simulator', `127.0.0.1:${simPort}`, ['--port', String(simPort), '--registry', registryAddress], logDir);
    procs.set('simulator', simulator);
    const gwPort = await freePort();
    const gatewayAddress = `127.0.0.1:${gwPort}`;
    const shardProcs = [...shardArgs.keys()].map(startShard);
    const startGateway = () => {
      const p = spawnService('gateway', 'gateway', gatewayAddress, ['--port', String(gwPort), '--registry', registryAddress], logDir);
      procs.set('gateway', p);
      return p;
    };
    const gateway = startGateway();
    await Promise.all(
      shardProcs.map(async (p) => {
        await waitHealthy(p, timeout);
        progress(`${p.name} ready at ${p.address}`);
      }),
    );
    await waitHealthy(orchestrator, timeout);
    progress(`orchestrator ready at ${orchestratorAddress}`);
    await waitHealthy(simulator, timeout);
    progress(`simulator ready at ${simulator.address}`);
    await waitHealthy(gateway, timeout);
    progress(`gateway ready at ${gatewayAddress}`);

    return {
      registryAddress,
      gatewayAddress,
      shardCount: shards,
      dataDir: opts.dataDir,
      logDir,
      processes: procs,
      killShard: async (id) => {
        const p = procs.get(`state-shard-${id}`);
        if (!p) throw new Error(`no shard ${id}`);
        p.child.kill('SIGKILL');
        await p.exited;
      },
      stopShard: async (id) => {
        const p = procs.get(`state-shard-${id}`);
        if (!p) throw new Error(`no shard ${id}`);
        await stopProcess(p);
      },
      restartShard: async (id) => {
        const old = procs.get(`state-shard-${id}`);
        if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error(`shard ${id} is still running`);
        await waitHealthy(startShard(id), timeout);
      },
      orchestratorAddress,
      killOrchestrator: async () => {
        const p = procs.get('orchestrator')!;
        p.child.kill('SIGKILL');
        await p.exited;
      },
      restartOrchestrator: async () => {
        const old = procs.get('orchestrator');
        if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error('the orchestrator is still running');
        await waitHealthy(startOrchestrator(), timeout);
      },
      killGateway: async () => {
        const p = procs.get('gateway')!;
        p.child.kill('SIGKILL');
        await p.exited;
      },
      restartGateway: async () => {
        const old = procs.get('gateway');
        if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error('the gateway is still running');
        await waitHealthy(startGateway(), timeout);
      },
      signal: (name, sig) => {
        const p = procs.get(name);
        if (!p) throw new Error(`no process ${name}`);
        p.child.kill(sig);
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
