/**
 * Cross-shard contract calls end to end (issue: cross-shard contract calls): a train-booking
 * contract and a hotel-booking contract on two shards and a travel-agency contract on a third,
 * whose `bookTrainAndHotel` succeeds atomically, and aborts without any change when either is sold
 * out. The trader is on a fourth shard. The network runs as real processes (registry, 4 state
 * shards, orchestrator, simulator, gateway: startDevnet) and everything goes through gRPC;
 * contracts are compiled with solc and deployed by local transactions through the gateway.
 * Shared scenario code: libs/contracts/src/booking.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAudit } from '@shardlab/audit';
import { createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import { TxStatus, type SendRawTransactionResponse } from '@shardlab/proto';
import { BOOKING_LAYOUT, bookingState as bookingStateOf, compileBooking, deployOn as deployOnShard, NetClient, until, word as abiWord, type Compiled, type Req } from '@shardlab/contracts';
import { startDevnet, type Devnet } from '@shardlab/devnet';

const SHARDS = 4;
const placement = createPlacement(SHARDS);
const contracts = compileBooking();
const on = (s: number) => devAccounts().filter((a) => shardOf(placement, a.address) === s);

// Placement of the scenario: train, hotel, agency and traders on four different shards.
const { train: TRAIN_SHARD, hotel: HOTEL_SHARD, agency: AGENCY_SHARD, trader: TRADER_SHARD } = BOOKING_LAYOUT;
const [trader, trader2] = on(TRADER_SHARD) as [DevAccount, DevAccount];

let devnet: Devnet;
let net: NetClient;
let dataDir: string;
let train: string;
let hotel: string;
let agency: string;

const account = (address: string) => net.account(address);
const heads = () => net.heads();
const submit = (from: DevAccount, req: Req): Promise<SendRawTransactionResponse> => net.submit(from, req);
const watch = (txHash: string) => net.watch(txHash);
const send = (from: DevAccount, req: Req) => net.send(from, req);
const settled = () => net.settled();
const systemOps = (shardId: number, txHash: string, from: number) => net.systemOps(shardId, txHash, from);
const bookingState = (contract: string, who: DevAccount[]) => bookingStateOf(net, contract, who);
const deployOn = (shardId: number, contract: Compiled, args: (bigint | string)[], exclude: DevAccount[]) => deployOnShard(net, shardId, contract, args, exclude);

async function expectCleanAudit(): Promise<void> {
  const report = await runAudit({ registryAddress: devnet.registryAddress });
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}


beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlab-booking-'));
  devnet = await startDevnet({ shards: SHARDS, blockIntervalMs: 120, dataDir });
  net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, SHARDS);
  await until('the gateway to answer', async () => (await account(trader.address)).shardId === TRADER_SHARD);

  const deployers = [trader, trader2];
  train = await deployOn(TRAIN_SHARD, contracts.Train, [10n], deployers);
  hotel = await deployOn(HOTEL_SHARD, contracts.Hotel, [1n], deployers); // one room: the second booking finds it sold out
  agency = await deployOn(AGENCY_SHARD, contracts.TravelAgency, [train, hotel], deployers);
}, 60_000);

afterAll(async () => {
  net?.close();
  await devnet?.stop();
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
 * agency's simulation locks the hotel first: the direct booking waits for the agency's decision,
 * then fails; rarely, a lock lost before the prepare: aborted, read set changed or simulation
 * lock expired), but it is atomic in every case: the trader has a seat exactly when they have a
 * room.
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
      expect(a.reason).toMatch(/sold out|read set changed|simulation lock|state locked by another transaction/);
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
