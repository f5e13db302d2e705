/**
 * Tracing (docs/ARCHITECTURE.md §6): a cross-shard transfer produces one trace, rooted at the gateway,
 * with spans from every service it crossed — the home shard (submit, lock), the orchestrator
 * (enqueue, decision) and both shards (prepare, finalize) — and the block that executed it links
 * to it. The whole network runs in this process so that one in-memory exporter sees every span;
 * the services still talk gRPC, so the context crosses real metadata.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction } from '@shardlab/chain';
import { GatewayServiceClient, TxStatus, type Account, type SendRawTransactionResponse } from '@shardlab/proto';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { initTelemetry, silentLogger, type Telemetry } from '@shardlab/telemetry';
import { startInProcessNetwork, waitFor, type InProcessNetwork } from '@shardlab/testing';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let net: InProcessNetwork;
let gateway: GatewayServiceClient;
let dataDir: string;

beforeAll(async () => {
  telemetry = initTelemetry({ serviceName: 'shardlab-test', exporter });
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-trace-'));
  net = await startInProcessNetwork({ shards: 2, blockIntervalMs: 100, dataDir, logger: silentLogger() });
  gateway = createClient(GatewayServiceClient, net.gatewayAddress);
}, 60_000);

afterAll(async () => {
  gateway?.close();
  await net?.stop();
  await telemetry?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a cross-shard transfer is one trace with spans from the gateway, both shards and the orchestrator', async () => {
  const placement = createPlacement(2);
  const sender = devAccounts().find((a) => shardOf(placement, a.address) === 0)!;
  const to = '0x' + '42'.repeat(19) + '01'; // last byte 0x01: shard 1
  const raw = signTransaction(createChainCommon(), sender, { to, value: 12_345n, nonce: 0n });
  const sent = await unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
  expect(sent.crossShard).toBe(true);
  let final: TxStatus | undefined;
  for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash: sent.txHash }, md, o))) final = s.status;
  expect(final).toBe(TxStatus.TX_STATUS_COMMITTED);
  // Wait until both shards applied the decision (the finalize spans end with their blocks).
  await waitFor(
    async () => {
      const acct = await unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address: to }, md, o, cb));
      const src = await unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address: sender.address }, md, o, cb));
      return acct.balance === '12345' && src.locked === '0';
    },
    10_000,
    'both shards to apply the commit',
  );
  await telemetry.flush();

  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'gateway.send_raw_transaction' && s.attributes['tx.hash'] === sent.txHash);
  expect(root).toBeDefined();
  const traceId = root!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const names = (n: string) => inTrace.filter((s) => s.name === n);
  const shardIds = (ss: ReadableSpan[]) => ss.map((s) => s.attributes['shard.id']).sort();

  expect(root!.parentSpanContext).toBeUndefined(); // rooted at the gateway
  expect(names('shard.submit')).toHaveLength(1);
  expect(names('orchestrator.enqueue')).toHaveLength(1);
  expect(names('orchestrator.decision')).toHaveLength(1);
  expect(names('orchestrator.decision')[0]!.attributes['decision']).toBe('committed');
  expect(shardIds(names('shard.prepare'))).toEqual([0, 1]); // source lock and destination prepare
  expect(shardIds(names('shard.finalize'))).toEqual([0, 1]);
  const scopes = new Set(inTrace.map((s) => s.instrumentationScope.name));
  expect(scopes).toEqual(new Set(['shardlab.gateway', 'shardlab.state-shard', 'shardlab.orchestrator']));
  // Block-level work links to the transactions it served.
  const blocks = spans.filter((s) => s.name === 'shard.block' && s.links.some((l) => l.context.traceId === traceId));
  expect(blocks.length).toBeGreaterThanOrEqual(1);
}, 60_000);
