// Test support of the gateway suites: a registry, fake state shards, an optional fake orchestrator and the gateway, as real gRPC servers on free ports (Network).
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import { GatewayServiceClient, TxStatus, type SendRawTransactionResponse, type SendRawTransactionsResponse, type TransactionStatus } from '@shardlab/proto';
import { createRegistryDirectory, RegistryState, registryMountedService, startMembership, type Membership, type RegistryDirectory } from '@shardlab/registry';
import { createClient, startServer, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { startGateway, type Gateway } from '../src';
import { FakeOrchestrator } from './fake-orchestrator';
import { FakeShard } from './fake-shard';
import { rawCall } from './helpers';

export const logger = silentLogger();
export const common = createChainCommon({ chainId: 1337 });
const accounts = devAccounts();

/**
 * A registry, fake state shards, optionally a fake orchestrator, and the gateway, all real gRPC
 * servers on free ports.
 */
export class Network {
  registry!: RunningServer;
  state!: RegistryState;
  shards: FakeShard[] = [];
  orchestrator: FakeOrchestrator | undefined;
  directory!: RegistryDirectory;
  gateway!: Gateway;
  gatewayServer!: RunningServer;
  client!: GatewayServiceClient;
  memberships: Membership[] = [];
  readonly placement;
  private readonly nonces = new Map<string, bigint>();

  constructor(readonly shardCount: number) {
    this.placement = createPlacement(shardCount);
  }

  /**
   * `orchestrator`: start a fake orchestrator registered as `orchestrator`, and let the fake
   * shards accept cross-shard transactions, forwarding them to it (PENDING). `crossShard`: let
   * the fake shards accept cross-shard transactions even without an orchestrator.
   */
  async start(opts: { now?: () => number; liveShards: number[]; orchestrator?: boolean; crossShard?: boolean }): Promise<void> {
    this.state = new RegistryState({ shardCount: this.shardCount, chainId: 1337, blockIntervalMs: 50, ...(opts.now ? { now: opts.now } : {}) });
    this.registry = await startServer({ port: 0, services: [registryMountedService(this.state, logger)], logger });
    if (opts.orchestrator) {
      this.orchestrator = await new FakeOrchestrator().start();
      const m = startMembership({
        registryAddress: this.registry.address,
        endpoint: { service: 'orchestrator', address: this.orchestrator.address, shardId: 0, instanceId: 'orchestrator-test' },
        logger,
      });
      this.memberships.push(m);
      await m.registered;
    }
    for (const id of opts.liveShards) {
      const shard = await new FakeShard(id, this.placement).start();
      if (opts.orchestrator) shard.onCrossShard = (h, home) => this.orchestrator?.update(h, TxStatus.TX_STATUS_PENDING, { homeShard: home });
      else if (opts.crossShard) shard.onCrossShard = () => {};
      this.shards[id] = shard;
      const m = startMembership({
        registryAddress: this.registry.address,
        endpoint: { service: 'state-shard', address: shard.address, shardId: id, instanceId: `shard-${id}` },
        logger,
      });
      this.memberships.push(m);
      await m.registered;
    }
    this.directory = createRegistryDirectory({ registryAddress: this.registry.address, logger });
    const running = await startGateway({
      port: 0,
      directory: this.directory,
      instanceId: 'gateway-test',
      logger,
      shardDeadlineMs: 2000,
      orchestratorDeadlineMs: 1000,
      // Large, so that the tests prove FINAL comes from the block streams (and cross-shard
      // statuses from the orchestrator's status stream), not from re-reading.
      watchRecheckMs: 60_000,
      reconnect: { initialMs: 10, maxMs: 100 },
    });
    this.gateway = running.gateway;
    this.gatewayServer = running.server;
    this.memberships.push(running.membership);
    this.client = createClient(GatewayServiceClient, this.gatewayServer.address);
  }

  async stop(): Promise<void> {
    this.client?.close();
    await Promise.all(this.memberships.map((m) => m.stop()));
    await this.gatewayServer?.close(500);
    await this.gateway?.close();
    this.directory?.close();
    await Promise.all(this.shards.filter(Boolean).map((s) => s.stop()));
    await this.orchestrator?.stop();
    await this.registry?.close(500);
  }

  /** Development accounts placed on `shardId`. */
  accountsOn(shardId: number): DevAccount[] {
    return accounts.filter((a) => shardOf(this.placement, a.address) === shardId);
  }

  /** The nonce the next `sign` of `from` without an explicit nonce uses. */
  nextNonce(from: DevAccount): bigint {
    return this.nonces.get(from.address) ?? 0n;
  }

  /** Signs a transfer from `from` with its next nonce (and counts it), or with the nonce given. */
  sign(from: DevAccount, to: DevAccount, extra: { nonce?: bigint; value?: bigint; chainId?: number } = {}): Uint8Array {
    const nonce = extra.nonce ?? this.nonces.get(from.address) ?? 0n;
    if (extra.nonce === undefined) this.nonces.set(from.address, nonce + 1n);
    const c = extra.chainId !== undefined ? createChainCommon({ chainId: extra.chainId }) : common;
    return signTransaction(c, from, { to: to.address, value: extra.value ?? 1n, nonce });
  }

  /** Signs a contract call from `from` to `to` with `data`, with its next nonce (and counts it). */
  signCall(from: DevAccount, to: string, data: Uint8Array, gasLimit = 100_000n): Uint8Array {
    const nonce = this.nonces.get(from.address) ?? 0n;
    this.nonces.set(from.address, nonce + 1n);
    return signTransaction(common, from, { to, nonce, data, gasLimit });
  }

  send(raw: Uint8Array): Promise<SendRawTransactionResponse> {
    return rawCall((cb) => this.client.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, cb));
  }

  /** SendRawTransactions with `raws`; each result as the response or `{ code, message }` of its error. */
  async sendMany(raws: Uint8Array[]): Promise<(SendRawTransactionResponse | { code: number; message: string })[]> {
    const res = await rawCall<SendRawTransactionsResponse>((cb) => this.client.sendRawTransactions({ rawTransactions: raws.map((r) => Buffer.from(r)) }, cb));
    return res.results.map((r) => (r.outcome?.$case === 'accepted' ? r.outcome.value : { code: r.outcome?.value.code ?? -1, message: r.outcome?.value.message ?? '' }));
  }

  getTransaction(txHash: string): Promise<TransactionStatus> {
    return rawCall((cb) => this.client.getTransaction({ txHash }, cb));
  }
}
