/**
 * Cross-shard contract calls end to end (issue: cross-shard contract calls): a train-booking
 * contract and a hotel-booking contract on two shards and a travel-agency contract on a third,
 * whose `bookTrainAndHotel` succeeds atomically, and aborts without any change when either is sold
 * out. The trader is on a fourth shard. The whole network (registry, 4 state shards,
 * orchestrator, simulator, gateway) runs in this process and talks gRPC; contracts are compiled
 * with solc and deployed by local transactions through the gateway.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { runAudit } from '@shardlab/audit';
import { createChainCommon, createPlacement, devAccounts, nativeKeccak256, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import {
  GatewayServiceClient,
  StateShardServiceClient,
  SystemTxKind,
  TxStatus,
  type Account,
  type GetProofResponse,
  type SendRawTransactionResponse,
  type StateShardBlock,
  type TransactionStatus,
} from '@shardlab/proto';
import { createRegistryClient, createRegistryDirectory, type RegistryClient } from '@shardlab/registry';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { startSimulator, type RunningSimulator } from '@shardlab/simulator';
import { silentLogger } from '@shardlab/telemetry';
import { startInProcessNetwork, type InProcessNetwork } from '../src/inprocess';
import { abiWord, compileBooking, SLOT_BOOKINGS, SLOT_LEFT, type Compiled } from './booking-contracts';

const SHARDS = 4;
const placement = createPlacement(SHARDS);
const common = createChainCommon();
const contracts = compileBooking();
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
const slotKey = (n: bigint) => '0x' + abiWord(n);
/** Slot of `mapping[key]` for a mapping at `slot`: keccak256(abi.encode(key, slot)). */
const mappingSlot = (key: string, slot: bigint) => '0x' + Buffer.from(nativeKeccak256(Buffer.from(abiWord(key) + abiWord(slot), 'hex'))).toString('hex');

// Placement of the scenario: train, hotel, agency and traders on four different shards.
const TRAIN_SHARD = 0;
const HOTEL_SHARD = 2;
const AGENCY_SHARD = 3;
const TRADER_SHARD = 1;
const [trader, trader2] = on(TRADER_SHARD) as [DevAccount, DevAccount];

let net: InProcessNetwork;
let simulator: RunningSimulator;
let simDirectory: { close(): void };
let registry: RegistryClient;
let gateway: GatewayServiceClient;
const shardClients = new Map<number, StateShardServiceClient>();
let dataDir: string;
let train: string;
let hotel: string;
let agency: string;

/** Polls `probe` until it returns true, every 50 ms, up to `timeoutMs`. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

const account = (address: string) => unaryCall<Account>('gateway', (md, o, cb) => gateway.getAccount({ address }, md, o, cb));
const headBlock = (shardId: number) => unaryCall<StateShardBlock>('gateway', (md, o, cb) => gateway.getShardBlock({ shardId }, md, o, cb));

/** The state shard `shardId`'s client, found through the registry. */
async function shardClient(shardId: number): Promise<StateShardServiceClient> {
  let c = shardClients.get(shardId);
  if (c) return c;
  const { endpoints } = await registry.listEndpoints('state-shard');
  const ep = endpoints.find((e) => e.alive && Number(e.shardId) === shardId);
  if (!ep) throw new Error(`no state shard ${shardId} in the registry`);
  c = createClient(StateShardServiceClient, ep.address);
  shardClients.set(shardId, c);
  return c;
}

/** Storage slot values of `address` (on its shard, at its head), by GetProof. */
async function storage(address: string, slots: string[]): Promise<bigint[]> {
  const client = await shardClient(shardOf(placement, address));
  const res = await unaryCall<GetProofResponse>('state shard', (md, o, cb) => client.getProof({ address, slots }, md, o, cb));
  return res.storage.map((s) => (s.value === '' || s.value === '0x' ? 0n : BigInt(s.value)));
}

/** Seats/rooms left and bookings of each `who`, of a Train or Hotel contract. */
async function bookingState(contract: string, who: DevAccount[]): Promise<{ left: bigint; bookings: bigint[] }> {
  const [left, ...bookings] = await storage(contract, [slotKey(SLOT_LEFT), ...who.map((w) => mappingSlot(w.address, SLOT_BOOKINGS))]);
  return { left: left!, bookings };
}

/** Signs (with the sender's next nonce) and submits a transaction through the gateway. */
async function submit(from: DevAccount, req: { to?: string; data: string; gasLimit?: bigint }): Promise<SendRawTransactionResponse> {
  const nonce = BigInt((await account(from.address)).nonce);
  const raw = signTransaction(common, from, { to: req.to, nonce, gasLimit: req.gasLimit ?? 1_000_000n, data: Buffer.from(req.data, 'hex') });
  return unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
}

/** Follows a transaction with WatchTransaction to a terminal status. */
async function watch(txHash: string): Promise<TransactionStatus> {
  let final: TransactionStatus | undefined;
  for await (const s of streamCall('gateway', (md, o) => gateway.watchTransaction({ txHash }, md, o), AbortSignal.timeout(30_000))) {
    final = s;
    if ([TxStatus.TX_STATUS_FINAL, TxStatus.TX_STATUS_COMMITTED, TxStatus.TX_STATUS_ABORTED, TxStatus.TX_STATUS_DROPPED].includes(s.status)) break;
  }
  if (!final) throw new Error(`no status for ${txHash}`);
  return final;
}

/** Sends a signed transaction through the gateway and follows it to a terminal status. */
async function send(from: DevAccount, req: { to?: string; data: string; gasLimit?: bigint }): Promise<{ sent: SendRawTransactionResponse; final: TransactionStatus }> {
  const sent = await submit(from, req);
  return { sent, final: await watch(sent.txHash) };
}

/**
 * Deploys `contract` (with constructor `args`) by a local transaction from a development account
 * on `shardId` whose created address is on the same shard, burning nonces with zero-value
 * self-transfers where needed. Returns the contract address.
 */
async function deployOn(shardId: number, contract: Compiled, args: (bigint | string)[], exclude: DevAccount[]): Promise<string> {
  for (const a of on(shardId).filter((x) => !exclude.includes(x))) {
    const start = BigInt((await account(a.address)).nonce);
    for (let n = start; n < start + 8n; n++) {
      if (shardOf(placement, created(a, n)) !== shardId) continue;
      for (let k = start; k < n; k++) {
        const { final } = await send(a, { to: a.address, data: '', gasLimit: 21_000n });
        expect(final.status).toBe(TxStatus.TX_STATUS_FINAL);
      }
      const { sent, final } = await send(a, { data: contract.bytecode + args.map(abiWord).join('') });
      expect(sent.crossShard).toBe(false);
      expect(final.status).toBe(TxStatus.TX_STATUS_FINAL);
      expect(final.receipt?.success).toBe(true);
      const address = created(a, n);
      expect(shardOf(placement, address)).toBe(shardId);
      return address;
    }
  }
  throw new Error(`no development account on shard ${shardId} creates a contract there within 8 nonces`);
}

/** Waits until every state shard has applied every orchestrator block produced so far. */
async function settled(): Promise<void> {
  const h = net.orchestrator.node.headInfo().height;
  await until(`every shard past orchestrator block ${h}`, async () => {
    for (let s = 0; s < SHARDS; s++) if (Number((await headBlock(s)).orchestratorHeight) < h) return false;
    return true;
  });
}

/** System operations (kind names) for `txHash` in shard `shardId`'s blocks `from..head`. */
async function systemOps(shardId: number, txHash: string, from: number): Promise<string[]> {
  const head = Number((await headBlock(shardId)).height);
  const kinds: string[] = [];
  for (let h = from; h <= head; h++) {
    const b = await unaryCall<StateShardBlock>('gateway', (md, o, cb) => gateway.getShardBlock({ shardId, height: h }, md, o, cb));
    for (const t of b.transactions) {
      if (t.kind?.$case === 'system' && t.kind.value.txHash === txHash) kinds.push(SystemTxKind[t.kind.value.kind].replace('SYSTEM_TX_KIND_', ''));
    }
  }
  return kinds;
}

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: net.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

const heads = async () => Promise.all(Array.from({ length: SHARDS }, async (_, s) => Number((await headBlock(s)).height)));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-booking-'));
  const logger = silentLogger();
  net = await startInProcessNetwork({ shards: SHARDS, blockIntervalMs: 100, dataDir, logger });
  // The in-process network does not start a simulator; the orchestrator finds this one through the registry.
  const directory = createRegistryDirectory({ registryAddress: net.registryAddress, logger });
  simDirectory = directory;
  simulator = await startSimulator({ port: 0, host: '127.0.0.1', directory, registryAddress: net.registryAddress, logger });
  registry = createRegistryClient(net.registryAddress);
  gateway = createClient(GatewayServiceClient, net.gatewayAddress);
  await until('the gateway to answer', async () => (await account(trader.address)).shardId === TRADER_SHARD);

  const deployers = [trader, trader2];
  train = await deployOn(TRAIN_SHARD, contracts.Train, [10n], deployers);
  hotel = await deployOn(HOTEL_SHARD, contracts.Hotel, [1n], deployers); // one room: the second booking finds it sold out
  agency = await deployOn(AGENCY_SHARD, contracts.TravelAgency, [train, hotel], deployers);
}, 60_000);

afterAll(async () => {
  gateway?.close();
  registry?.close();
  for (const c of shardClients.values()) c.close();
  await simulator?.close();
  simDirectory?.close();
  await net?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the contracts and the traders are on four different shards', () => {
  expect([train, hotel, agency, trader.address].map((a) => shardOf(placement, a))).toEqual([TRAIN_SHARD, HOTEL_SHARD, AGENCY_SHARD, TRADER_SHARD]);
  expect(shardOf(placement, trader2.address)).toBe(TRADER_SHARD);
});

test('bookTrainAndHotel commits atomically: a seat and a room are booked for the trader', async () => {
  expect(await bookingState(train, [trader])).toEqual({ left: 10n, bookings: [0n] });
  expect(await bookingState(hotel, [trader])).toEqual({ left: 1n, bookings: [0n] });
  const before = await heads();
  const { sent, final } = await send(trader, { to: agency, data: contracts.TravelAgency.selectors['bookTrainAndHotel()']! });
  expect(sent.crossShard).toBe(true);
  expect(final.reason).toBe('');
  expect(final.status).toBe(TxStatus.TX_STATUS_COMMITTED);
  await settled();

  expect(await bookingState(train, [trader])).toEqual({ left: 9n, bookings: [1n] });
  expect(await bookingState(hotel, [trader])).toEqual({ left: 0n, bookings: [1n] });
  expect((await account(trader.address)).locked).toBe('0');
  // The write sets were applied on the train and hotel shards (no re-execution there).
  expect(await systemOps(TRAIN_SHARD, sent.txHash, before[TRAIN_SHARD]!)).toContain('WRITE_SET');
  expect(await systemOps(HOTEL_SHARD, sent.txHash, before[HOTEL_SHARD]!)).toContain('WRITE_SET');
  await expectCleanAudit();
}, 30_000);

test('with the hotel sold out, bookTrainAndHotel aborts and nothing changes on the train or hotel shard', async () => {
  const trainBefore = await bookingState(train, [trader, trader2]);
  const hotelBefore = await bookingState(hotel, [trader, trader2]);
  expect(hotelBefore.left).toBe(0n);
  const trainAcct = await account(train);
  const hotelAcct = await account(hotel);
  const before = await heads();

  const { sent, final } = await send(trader2, { to: agency, data: contracts.TravelAgency.selectors['bookTrainAndHotel()']! });
  expect(sent.crossShard).toBe(true);
  expect(final.status).toBe(TxStatus.TX_STATUS_ABORTED);
  expect(final.reason).toContain('simulation failed');
  expect(final.reason).toContain('sold out');
  await settled();

  expect(await bookingState(train, [trader, trader2])).toEqual(trainBefore);
  expect(await bookingState(hotel, [trader, trader2])).toEqual(hotelBefore);
  expect(await account(train)).toMatchObject({ balance: trainAcct.balance, nonce: trainAcct.nonce, codeHash: trainAcct.codeHash, locked: '0' });
  expect(await account(hotel)).toMatchObject({ balance: hotelAcct.balance, nonce: hotelAcct.nonce, codeHash: hotelAcct.codeHash, locked: '0' });
  expect(await systemOps(TRAIN_SHARD, sent.txHash, before[TRAIN_SHARD]!)).not.toContain('WRITE_SET');
  expect(await systemOps(HOTEL_SHARD, sent.txHash, before[HOTEL_SHARD]!)).not.toContain('WRITE_SET');
  expect((await account(trader2.address)).locked).toBe('0');
  await expectCleanAudit();
}, 30_000);

test('with the train sold out, bookTrainAndHotel aborts and the hotel keeps its rooms', async () => {
  const deployers = [trader, trader2];
  const fullTrain = await deployOn(TRAIN_SHARD, contracts.Train, [0n], deployers);
  const openHotel = await deployOn(HOTEL_SHARD, contracts.Hotel, [5n], deployers);
  const agency2 = await deployOn(AGENCY_SHARD, contracts.TravelAgency, [fullTrain, openHotel], deployers);
  await settled();
  await expectCleanAudit();
  const before = await heads();

  const { sent, final } = await send(trader2, { to: agency2, data: contracts.TravelAgency.selectors['bookTrainAndHotel()']! });
  expect(sent.crossShard).toBe(true);
  expect(final.status).toBe(TxStatus.TX_STATUS_ABORTED);
  expect(final.reason).toContain('sold out');
  await settled();

  expect(await bookingState(fullTrain, [trader2])).toEqual({ left: 0n, bookings: [0n] });
  expect(await bookingState(openHotel, [trader2])).toEqual({ left: 5n, bookings: [0n] });
  expect(await systemOps(HOTEL_SHARD, sent.txHash, before[HOTEL_SHARD]!)).not.toContain('WRITE_SET');
  expect((await account(trader2.address)).locked).toBe('0');
  await expectCleanAudit();
}, 40_000);

/**
 * The last room is booked directly on the hotel shard at the same time as the agency books: the
 * outcome depends on timing (the simulator sees the room taken: aborted by the simulation; the
 * hotel shard sees it taken at prepare: aborted, read set changed; the agency gets it first:
 * committed and the direct booking fails), but it is atomic in every case: the trader has a seat
 * exactly when they have a room.
 */
test('racing the agency for the last room: the outcome is atomic whichever wins', async () => {
  const deployers = [trader, trader2];
  const raceTrain = await deployOn(TRAIN_SHARD, contracts.Train, [100n], deployers);
  const outcomes: string[] = [];
  for (let round = 0; round < 3; round++) {
    const lastRoom = await deployOn(HOTEL_SHARD, contracts.Hotel, [1n], deployers);
    const raceAgency = await deployOn(AGENCY_SHARD, contracts.TravelAgency, [raceTrain, lastRoom], deployers);
    const local = on(HOTEL_SHARD)[round % on(HOTEL_SHARD).length]!;
    const seatsBefore = (await bookingState(raceTrain, [])).left;
    const trainBookingsBefore = (await bookingState(raceTrain, [trader2])).bookings[0]!;
    // Round 0 queues the direct booking first; the others send the agency call first (so that it
    // is usually simulated before the direct booking's block: the 2PC path).
    const sendDirect = () => submit(local, { to: lastRoom, data: contracts.Hotel.selectors['book(address)']! + abiWord(local.address) });
    const sendAgency = () => submit(trader2, { to: raceAgency, data: contracts.TravelAgency.selectors['bookTrainAndHotel()']! });
    let direct: SendRawTransactionResponse;
    let viaAgency: SendRawTransactionResponse;
    if (round === 0) {
      direct = await sendDirect();
      viaAgency = await sendAgency();
    } else {
      viaAgency = await sendAgency();
      direct = await sendDirect();
    }
    expect(direct.crossShard).toBe(false);
    expect(viaAgency.crossShard).toBe(true);
    const [d, a] = await Promise.all([watch(direct.txHash), watch(viaAgency.txHash)]);
    await settled();
    outcomes.push(`${TxStatus[a.status]}${a.reason ? ` (${a.reason})` : ''} / direct ${TxStatus[d.status]} success=${d.receipt?.success}`);

    const t = await bookingState(raceTrain, [trader2]);
    const h = await bookingState(lastRoom, [trader2, local]);
    expect(h.left).toBe(0n); // exactly one of the two got the room
    if (a.status === TxStatus.TX_STATUS_COMMITTED) {
      expect(t).toEqual({ left: seatsBefore - 1n, bookings: [trainBookingsBefore + 1n] });
      expect(h.bookings).toEqual([1n, 0n]);
      expect(d.receipt?.success).toBe(false);
    } else {
      expect(a.status).toBe(TxStatus.TX_STATUS_ABORTED);
      expect(a.reason).toMatch(/sold out|read set changed/);
      expect(t).toEqual({ left: seatsBefore, bookings: [trainBookingsBefore] });
      expect(h.bookings).toEqual([0n, 1n]);
      expect(d.status).toBe(TxStatus.TX_STATUS_FINAL);
      expect(d.receipt?.success).toBe(true);
    }
    expect((await account(trader2.address)).locked).toBe('0');
    await expectCleanAudit();
  }
  // Which paths the rounds took (timing-dependent), for the record.
  console.log(`race outcomes:\n  ${outcomes.join('\n  ')}`);
}, 60_000);
