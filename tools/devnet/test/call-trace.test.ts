/**
 * Cross-shard contract calls end to end, in one process (so that one in-memory exporter sees every
 * span; services still talk gRPC): a counter contract deployed on shard 1 by a local transaction
 * is called from shard 0 through the gateway. The call commits; its receipt (simulated gas, the
 * contract's log) is available through the gateway's GetTransaction and WatchTransaction like a
 * local one's; and its trace holds the gateway, submit, enqueue, simulation, prepare (validation,
 * lock) on both shards, decision and finalize spans (docs/ARCHITECTURE.md §6).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import { GatewayServiceClient, TxStatus, type Account, type SendRawTransactionResponse, type TransactionStatus } from '@shardlab/proto';
import { createRegistryDirectory } from '@shardlab/registry';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { startSimulator, type RunningSimulator } from '@shardlab/simulator';
import { initTelemetry, silentLogger, type Telemetry } from '@shardlab/telemetry';
import { startInProcessNetwork, waitFor, type InProcessNetwork } from '@shardlab/testing';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const word = (n: bigint) => n.toString(16).padStart(64, '0');
/** Runtime: slot0 += 1; LOG0(new value as one 32-byte word); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
/** Init code that returns `runtime` as the contract's code. */
const initCode = (runtime: string) => {
  const len = (runtime.length / 2).toString(16).padStart(2, '0');
  return hex(`60${len}600c60003960${len}6000f3${runtime}`);
};

const placement = createPlacement(2);
const common = createChainCommon();
const dev = devAccounts();
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
/** A shard-1 account whose first contract lands on shard 1 too (deployed by a local transaction). */
const deployer = dev.find((a) => shardOf(placement, a.address) === 1 && shardOf(placement, created(a, 0n)) === 1)!;
/** The caller, on shard 0. */
const caller = dev.find((a) => shardOf(placement, a.address) === 0)!;

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let net: InProcessNetwork;
let simulator: RunningSimulator;
let simDirectory: ReturnType<typeof createRegistryDirectory>;
let gateway: GatewayServiceClient;
let dataDir: string;

beforeAll(async () => {
  telemetry = initTelemetry({ serviceName: 'shardlab-test', exporter });
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-call-trace-'));
  const logger = silentLogger();
  net = await startInProcessNetwork({ shards: 2, blockIntervalMs: 100, dataDir, logger });
  // The in-process network has no simulator: start one, registered with the registry, where the
  // orchestrator looks it up for each simulation.
  simDirectory = createRegistryDirectory({ registryAddress: net.registryAddress, logger });
  simulator = await startSimulator({ port: 0, host: '127.0.0.1', directory: simDirectory, logger });
  gateway = createClient(GatewayServiceClient, net.gatewayAddress);
}, 60_000);

afterAll(async () => {
  gateway?.close();
  await simulator?.close();
  simDirectory?.close();
  await net?.stop();
  await telemetry?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

const send = (raw: Uint8Array) =>
  unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
const getTransaction = (txHash: string) => unaryCall<TransactionStatus>('gateway', (md, o, cb) => gateway.getTransaction({ txHash }, md, o, cb));
const getAccount = (address: string) => unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb));
/** Every status WatchTransaction sends until it ends. */
async function watch(txHash: string): Promise<TransactionStatus[]> {
  const all: TransactionStatus[] = [];
  for await (const s of streamCall<TransactionStatus>('gateway', (md, o) => gateway.watchTransaction({ txHash }, md, o))) all.push(s);
  return all;
}

test('a cross-shard contract call commits, its receipt and log come through the gateway, and it is one trace with simulation, validation and locks', async () => {
  expect(deployer).toBeDefined();
  const counter = created(deployer, 0n);
  expect(shardOf(placement, counter)).toBe(1);

  // Deploy the counter on shard 1 with a local transaction.
  const deploy = await send(signTransaction(common, deployer, { nonce: 0n, gasLimit: 200_000n, data: initCode(COUNTER) }));
  expect(deploy).toMatchObject({ homeShard: 1, crossShard: false });
  const deployed = await watch(deploy.txHash);
  expect(deployed.at(-1)).toMatchObject({ status: TxStatus.TX_STATUS_FINAL, receipt: { success: true, contractAddress: counter } });

  // Call it from shard 0 through the gateway.
  const call = await send(signTransaction(common, caller, { to: counter, nonce: 0n, value: 7n, gasLimit: 100_000n, data: hex('01') }));
  expect(call).toMatchObject({ homeShard: 0, crossShard: true });
  const statuses = await watch(call.txHash);
  const last = statuses.at(-1)!;
  expect(last).toMatchObject({ txHash: call.txHash, status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, homeShard: 0, reason: '' });
  // The terminal status streamed carries the home shard's receipt: simulated gas and the log.
  expect(last.receipt).toMatchObject({ txHash: call.txHash, shardId: 0, success: true });
  expect(last.receipt!.gasUsed).toBeGreaterThan(21_000);
  expect(last.receipt!.logs).toHaveLength(1);
  expect(last.applied).toBe(true);
  // Statuses before the decision carry no receipt (the decision itself may come twice: applied
  // on every involved shard or not yet, each with the receipt).
  expect(statuses.filter((s) => s.status !== TxStatus.TX_STATUS_COMMITTED).every((s) => s.receipt === undefined)).toBe(true);

  // GetTransaction through the gateway: COMMITTED with the receipt and the contract's log.
  const got = await getTransaction(call.txHash);
  expect(got).toMatchObject({ txHash: call.txHash, status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, homeShard: 0 });
  expect(got.receipt).toMatchObject({ txHash: call.txHash, shardId: 0, success: true, gasUsed: last.receipt!.gasUsed });
  expect(got.receipt!.logs).toHaveLength(1);
  expect(got.receipt!.logs[0]!.address.toLowerCase()).toBe(counter.toLowerCase());
  expect(got.receipt!.logs[0]!.topics).toEqual([]);
  expect(Buffer.from(got.receipt!.logs[0]!.data).toString('hex')).toBe(word(1n));

  // Wait until both shards applied the decision (the finalize spans end with their blocks).
  await waitFor(
    async () => (await getAccount(counter)).balance === '7' && (await getAccount(caller.address)).locked === '0',
    10_000,
    'both shards to apply the commit',
  );
  expect((await getAccount(counter)).balance).toBe('7');
  await telemetry.flush();

  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'gateway.send_raw_transaction' && s.attributes['tx.hash'] === call.txHash);
  expect(root).toBeDefined();
  const traceId = root!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const names = (n: string) => inTrace.filter((s) => s.name === n);
  const shardIds = (ss: ReadableSpan[]) => ss.map((s) => s.attributes['shard.id']).sort();
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const parentOf = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');

  expect(root!.parentSpanContext).toBeUndefined(); // rooted at the gateway
  expect(names('shard.submit')).toHaveLength(1);
  expect(names('orchestrator.enqueue')).toHaveLength(1);

  const simulate = names('orchestrator.simulate');
  expect(simulate).toHaveLength(1);
  expect(simulate[0]!.attributes).toMatchObject({ 'tx.hash': call.txHash, success: true, error: '' });
  expect(simulate[0]!.attributes['tx.involved_shards']).toEqual([0, 1]);
  expect(parentOf(simulate[0]!)?.name).toBe('orchestrator.enqueue');

  const prepares = names('shard.prepare');
  expect(shardIds(prepares)).toEqual([0, 1]);
  for (const p of prepares) {
    expect(p.attributes).toMatchObject({ vote: 'VOTE_YES', 'validation.result': 'valid', 'validation.reason': '' });
    expect(p.attributes['validation.reads']).toBeGreaterThanOrEqual(1);
  }
  expect(prepares.find((p) => p.attributes['shard.id'] === 0)!.attributes['call.role']).toBe('source');
  expect(prepares.find((p) => p.attributes['shard.id'] === 1)!.attributes['call.role']).toBe('destination');
  const locks = names('shard.lock');
  expect(shardIds(locks)).toEqual([0, 1]);
  for (const l of locks) expect(parentOf(l)?.name).toBe('shard.prepare');
  expect(locks.find((l) => l.attributes['shard.id'] === 0)!.attributes['lock.addresses']).toContain(caller.address.toLowerCase());
  expect(locks.find((l) => l.attributes['shard.id'] === 1)!.attributes['lock.addresses']).toContain(counter.toLowerCase());

  expect(names('orchestrator.decision')).toHaveLength(1);
  expect(names('orchestrator.decision')[0]!.attributes['decision']).toBe('committed');
  expect(shardIds(names('shard.finalize'))).toEqual([0, 1]);
  const scopes = new Set(inTrace.map((s) => s.instrumentationScope.name));
  for (const scope of ['shardlab.gateway', 'shardlab.state-shard', 'shardlab.orchestrator']) expect(scopes.has(scope)).toBe(true);
}, 90_000);
