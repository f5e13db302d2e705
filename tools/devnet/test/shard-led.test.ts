/**
 * The shard-led protocol on real processes (issue: shard-led and client-led protocols): cross-shard
 * transfers are debited with an outgoing receipt on the source shard and credited exactly once on
 * the destination, in both directions; a destination killed with SIGKILL between the source's
 * block and the credit credits every receipt exactly once after its restart; the audit passes
 * with every receipt credited. WatchTransaction of a transfer ends COMMITTED only once its
 * destination credited it (the recipient's balance shows the value at once), while its home shard
 * answers PENDING (it cannot see the credit); a call to a contract on another shard ends COMMITTED
 * once its home credited the result, with the contract shard's receipt, a reverted one with
 * `success: false`; a contract shard stopped before it runs a call receipt, then killed with
 * SIGKILL and restarted, runs the call exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAudit } from '@shardlab/audit';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import {
  GatewayServiceClient,
  StateShardServiceClient,
  TERMINAL_STATUSES,
  TxStatus,
  type Account,
  type ListShardsResponse,
  type SendRawTransactionResponse,
  type TransactionStatus,
} from '@shardlab/proto';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { compileBooking, deployOn, NetClient, slotKey, word, until as untilWithin } from '@shardlab/contracts';
import { startDevnet, type Devnet } from '@shardlab/devnet';
import { addressOnShard } from '@shardlab/testing';

const SHARDS = 2;
const placement = createPlacement(SHARDS);
const common = createChainCommon();
const senders = [0, 1].map((s) => devAccounts().find((a) => shardOf(placement, a.address) === s)!);
let devnet: Devnet;
let gateway: GatewayServiceClient;
let dataDir: string;
let recipientSeq = 0;

const account = (address: string) => unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb), { waitForReady: true });

/** A fresh recipient address placed on `shard`. */
const recipient = (shard: number): string => addressOnShard(placement, shard, ++recipientSeq);
/** Polls `probe` until it holds, up to 30 s. */
const until = (what: string, probe: () => Promise<boolean>) => untilWithin(what, probe, 30_000);

/** Sends `count` transfers of `value` from `from` to fresh recipients on `toShard`; returns the recipients. */
async function sendTransfers(from: DevAccount, toShard: number, count: number, value: bigint): Promise<string[]> {
  const first = BigInt((await account(from.address)).nonce);
  const to = Array.from({ length: count }, () => recipient(toShard));
  for (let i = 0; i < count; i++) {
    const raw = signTransaction(common, from, { to: to[i]!, value, nonce: first + BigInt(i) });
    const sent = await unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
    expect(sent.crossShard).toBe(true);
  }
  return to;
}

const VALUE = 10n ** 15n;

/** Follows `txHash` with WatchTransaction to its terminal status; every status streamed. */
async function watchToEnd(txHash: string): Promise<TransactionStatus[]> {
  const statuses: TransactionStatus[] = [];
  for await (const s of streamCall<TransactionStatus>('gateway', (md, o) => gateway.watchTransaction({ txHash }, md, o), AbortSignal.timeout(30_000))) {
    statuses.push(s);
    if (TERMINAL_STATUSES.has(s.status)) break;
  }
  return statuses;
}

const sendRaw = (raw: Uint8Array) => unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-shard-led-'));
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 100, protocol: 'shard-led', dataDir });
  gateway = createClient(GatewayServiceClient, devnet.gatewayAddress);
}, 120_000);

afterAll(async () => {
  gateway?.close();
  await devnet?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('transfers in both directions are credited exactly once, with no orchestrator round and no lock', async () => {
  const to1 = await sendTransfers(senders[0]!, 1, 5, VALUE);
  const to0 = await sendTransfers(senders[1]!, 0, 5, 2n * VALUE);
  await until('every credit', async () => {
    const b = await Promise.all([...to1, ...to0].map(async (a) => BigInt((await account(a)).balance)));
    return b.every((x, i) => x === (i < 5 ? VALUE : 2n * VALUE));
  });
  const report = await runAudit({ registryAddress: devnet.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.receipts).toMatchObject({ sent: 10, credited: 10, inFlight: 0, ok: true });
  // Nothing went through block-2PC: the orchestrator ordered nothing, no value was ever locked.
  expect(report.orchestrator.ordered).toBe(0);
  expect(report.shards.every((s) => s.systemTxs.LOCK === 0)).toBe(true);
}, 60_000);

test('WatchTransaction of a transfer ends COMMITTED only once its destination credited it: a GetAccount right after sees the value', async () => {
  const from = senders[0]!;
  const to = recipient(1);
  const nonce = BigInt((await account(from.address)).nonce);
  const sent = await sendRaw(signTransaction(common, from, { to, value: VALUE, nonce }));
  expect(sent).toMatchObject({ homeShard: 0, crossShard: true });
  const statuses = await watchToEnd(sent.txHash);
  const balance = BigInt((await account(to)).balance);
  expect(statuses.at(-1)).toMatchObject({ txHash: sent.txHash, status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, crossShard: true, receipt: { txHash: sent.txHash, shardId: 0, success: true } });
  expect(statuses.slice(0, -1).every((s) => s.status === TxStatus.TX_STATUS_PENDING)).toBe(true);
  expect(balance).toBe(VALUE);
  const got = await unaryCall<TransactionStatus>('gateway', (md, o, cb) => gateway.getTransaction({ txHash: sent.txHash }, md, o, cb));
  expect(got).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: { txHash: sent.txHash } });
  // Its home shard debited it and cannot see the credit: PENDING, with its receipt (the fee).
  const shards = await unaryCall<ListShardsResponse>('gateway', (md, o, cb) => gateway.listShards({}, md, o, cb));
  const homeShard = createClient(StateShardServiceClient, shards.shards.find((s) => Number(s.shardId) === 0)!.replicas[0]!.address);
  try {
    const own = await unaryCall<TransactionStatus>('state-shard', (md, o, cb) => homeShard.getTransaction({ txHash: sent.txHash }, md, o, cb));
    expect(own).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true, homeShard: 0, receipt: { txHash: sent.txHash, success: true } });
  } finally {
    homeShard.close();
  }
}, 60_000);

test('a destination killed with SIGKILL between the source block and the credit credits every receipt exactly once after its restart', async () => {
  const before = BigInt((await account(senders[0]!.address)).balance);
  await devnet.killShard(1);
  const to = await sendTransfers(senders[0]!, 1, 4, VALUE);
  // The source debits while the destination is down: its blocks hold the receipts.
  await until('the debits on the source', async () => before - BigInt((await account(senders[0]!.address)).balance) >= 4n * VALUE);
  await devnet.restartShard(1);
  await until('every credit after the restart', async () => {
    const b = await Promise.all(to.map(async (a) => BigInt((await account(a)).balance)));
    return b.every((x) => x === VALUE);
  });
  // Kill it again right after the credits and restart: the receipts stream replays from the
  // recorded cursor, and nothing is credited twice.
  await devnet.killShard(1);
  await devnet.restartShard(1);
  await until('an audit that passes', async () => (await runAudit({ registryAddress: devnet.registryAddress })).ok);
  const report = await runAudit({ registryAddress: devnet.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.receipts).toMatchObject({ sent: 15, credited: 15, inFlight: 0 });
  for (const a of to) expect(BigInt((await account(a)).balance)).toBe(VALUE);
}, 120_000);

test('a call to a contract on another shard ends COMMITTED with the contract shard receipt once its result is credited home; a reverted one with success false', async () => {
  const net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
  try {
    const { Train } = compileBooking();
    const train = await deployOn(net, 1, Train, [1n], []); // one seat, on shard 1
    const caller = senders[0]!;
    const first = BigInt((await account(caller.address)).nonce);
    // A legacy gas price: the gas price prepaid and the one the contract shard's runTx checks are one.
    const book = (nonce: bigint) =>
      signTransaction(common, caller, { to: train, nonce, data: Buffer.from(Train.selectors['book(address)']! + word(caller.address), 'hex'), gasLimit: 200_000n, legacyGasPrice: 2_000_000_000n });
    const shardStatus = async (shardId: number, txHash: string) =>
      (await net.peers.shard(shardId)).call<TransactionStatus>((c, md, o, cb) => c.getTransaction({ txHash }, md, o, cb));

    const ok = await sendRaw(book(first));
    expect(ok).toMatchObject({ homeShard: 0, crossShard: true });
    const okEnd = (await watchToEnd(ok.txHash)).at(-1)!;
    expect(okEnd).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, crossShard: true, receipt: { txHash: ok.txHash, shardId: 1, success: true, error: '' } });
    expect(okEnd.receipt!.gasUsed).toBeGreaterThan(21_000);
    // Its effect is on the contract's shard, its end on the home shard, which says so itself.
    expect(await net.storage(train, [slotKey(0n)])).toEqual([0n]);
    expect(await shardStatus(0, ok.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, crossShard: true, homeShard: 0, receipt: { shardId: 0 } });
    expect(await shardStatus(1, ok.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_PENDING, crossShard: true, homeShard: 0, receipt: { shardId: 1, success: true } });

    const soldOut = await sendRaw(book(first + 1n));
    const end = (await watchToEnd(soldOut.txHash)).at(-1)!;
    expect(end).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, homeShard: 0, crossShard: true, reason: '', receipt: { txHash: soldOut.txHash, shardId: 1, success: false } });
    expect(end.receipt!.error).toMatch(/revert/);
  } finally {
    net.close();
  }
}, 120_000);

test('a contract shard stopped before it runs a call receipt and then killed with SIGKILL runs the call exactly once after its restart', async () => {
  const net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
  try {
    const { Train } = compileBooking();
    const train = await deployOn(net, 1, Train, [5n], []); // five seats, on shard 1
    const caller = senders[0]!;
    const nonce = BigInt((await account(caller.address)).nonce);
    const raw = signTransaction(common, caller, { to: train, nonce, data: Buffer.from(Train.selectors['book(address)']! + word(caller.address), 'hex'), gasLimit: 200_000n, legacyGasPrice: 2_000_000_000n });
    const before = BigInt((await account(caller.address)).balance);
    const sent = await sendRaw(raw);
    expect(sent).toMatchObject({ homeShard: 0, crossShard: true });
    // Admission asked the contract's shard (DryRunCall); freeze it before its next block.
    devnet.signal('state-shard-1', 'SIGSTOP');
    try {
      // The home shard debits the prepaid value and gas with the CALL receipt meanwhile.
      await until('the prepaid debit on the home shard', async () => BigInt((await account(caller.address)).balance) < before);
      const home = await (await net.peers.shard(0)).call<TransactionStatus>((c, md, o, cb) => c.getTransaction({ txHash: sent.txHash }, md, o, cb));
      expect(home.status).toBe(TxStatus.TX_STATUS_PENDING); // no result credited: the call has not run
      await devnet.killShard(1);
    } finally {
      devnet.signal('state-shard-1', 'SIGCONT');
    }
    await devnet.restartShard(1);
    const end = (await watchToEnd(sent.txHash)).at(-1)!;
    expect(end).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, receipt: { shardId: 1, success: true } });
    // Four seats left: booked once. Kill and restart again: the receipt stream replays from the
    // recorded cursor and the call does not run a second time.
    expect(await net.storage(train, [slotKey(0n)])).toEqual([4n]);
    await devnet.killShard(1);
    await devnet.restartShard(1);
    await until('an audit that passes', async () => (await runAudit({ registryAddress: devnet.registryAddress })).ok);
    expect(await net.storage(train, [slotKey(0n)])).toEqual([4n]);
    const report = await runAudit({ registryAddress: devnet.registryAddress });
    expect(report.problems).toEqual([]);
    expect(report.receipts.inFlight).toBe(0);
  } finally {
    net.close();
  }
}, 120_000);
