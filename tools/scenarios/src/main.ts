// The scenario command (npm run scenario): the Uniswap and booking cross-shard contract scenarios run step by step on a local network, checked, audited and reported.
/**
 * `npm run scenario`: starts a local network as separate processes (startDevnet), deploys and runs
 * a cross-shard contract scenario through the gateway, and prints a readable report: where each
 * contract and trader is, every step with its status, latency and abort reason, the final state
 * and the audit. Exit code 0 when everything behaved as expected.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { formatReport, runAudit } from '@shardlab/audit';
import type { DevAccount } from '@shardlab/chain';
import {
  addLiquidityReq,
  BOOKING_LAYOUT,
  bookingState,
  compileBooking,
  DEADLINE,
  deployOn,
  deployUniswap,
  E18,
  FIVE_SHARD_LAYOUT,
  FOUR_SHARD_LAYOUT,
  fundTrader,
  getAmountOut,
  mappingSlot,
  NetClient,
  reservesFor,
  SLOT_BALANCE_OF,
  statusText,
  strictStep,
  swapReq,
  until,
  type Outcome,
  type Req,
  type UniswapLayout,
} from '@shardlab/contracts';
import { REPO_ROOT, startDevnet, type Devnet } from '@shardlab/devnet';
import { TxStatus } from '@shardlab/proto';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};

const program = new Command()
  .name('npm run scenario --')
  .description('Runs a cross-shard contract scenario end to end on a local network of separate processes and prints a report.')
  .addOption(new Option('--scenario <name>', 'which scenario').choices(['uniswap', 'booking']).default('uniswap'))
  .addOption(new Option('--shards <n>', 'number of state shards (uniswap: 4 or more, booking: 4 or more)').argParser(int).default(5))
  .addOption(new Option('--block-interval-ms <ms>', 'time between blocks of a state shard').argParser(int).default(250))
  .addOption(new Option('--data-dir <dir>', 'where data and logs go (default: a new directory under .data/, removed after a successful run)'))
  .addOption(new Option('--keep-running', 'leave the network running after the scenario (Ctrl-C stops it)').default(false));

const say = (s: string) => process.stdout.write(s + '\n');
const short = (a: string) => `${a.slice(0, 8)}…${a.slice(-4)}`;
const fmt = (wei: bigint) => {
  const whole = wei / E18;
  const frac = (wei % E18).toString().padStart(18, '0').slice(0, 4);
  return `${whole}.${frac}`;
};

/** Checks and report lines of a run. */
class Report {
  readonly problems: string[] = [];
  expect(ok: boolean, what: string): void {
    if (!ok) this.problems.push(what);
  }
  step(name: string, o: Outcome, expected: string): void {
    const status = TxStatus[o.final.status]?.replace('TX_STATUS_', '') ?? String(o.final.status);
    const reverted = o.final.status === TxStatus.TX_STATUS_FINAL && o.final.receipt?.success === false ? ' (reverted)' : '';
    say(
      `  ${name.padEnd(44)} ${(o.sent.crossShard ? 'cross-shard' : 'local').padEnd(11)} ${(status + reverted).padEnd(10)} ${String(o.latencyMs).padStart(6)} ms` +
        `${o.final.reason ? `  reason: ${o.final.reason}` : ''}  [expected ${expected}]`,
    );
  }
}

async function uniswap(net: NetClient, rep: Report): Promise<void> {
  const layout: UniswapLayout = net.shardCount >= 5 ? FIVE_SHARD_LAYOUT : FOUR_SHARD_LAYOUT;
  const [trader, trader2] = net.on(layout.trader) as [DevAccount, DevAccount];
  if (!trader || !trader2) throw new Error(`need two development accounts on shard ${layout.trader}`);
  const setup = { n: 0, ms: 0 };
  const step = strictStep(net, setup);
  say('Deploying Uniswap V2 (published v2-core / v2-periphery builds) by local transactions...');
  const d = await deployUniswap(net, layout, step);
  for (const t of [trader, trader2]) await fundTrader(net, d, step, t);
  await net.settled();
  say(`  ${setup.n} set-up transactions (deployments, nonce burns, createPair, token transfers, approvals), mean ${(setup.ms / setup.n).toFixed(0)} ms each`);

  say('');
  say('Placement (address → shard)');
  const rows: [string, string][] = [
    ['token A (ERC20)', d.tokenA],
    ['token B (ERC20)', d.tokenB],
    ['UniswapV2Factory', d.factory],
    ['UniswapV2Pair A/B (CREATE2)', d.pair],
    ['UniswapV2Router02', d.router],
    ['WETH9', d.weth],
    ['trader 1', trader.address],
    ['trader 2', trader2.address],
  ];
  for (const [name, a] of rows) say(`  ${name.padEnd(28)} ${a}  → shard ${net.shardOf(a)}`);

  say('');
  say('Steps (through the gateway, followed with WatchTransaction)');
  const add = await net.send(trader, addLiquidityReq(d, 1_000n * E18, 4_000n * E18, trader.address));
  rep.step('addLiquidity 1000 A + 4000 B', add, 'COMMITTED');
  rep.expect(add.final.status === TxStatus.TX_STATUS_COMMITTED, `addLiquidity: ${statusText(add.final)}`);
  await net.settled();
  const [rA, rB] = await reservesFor(net, d, d.tokenA);
  rep.expect(rA === 1_000n * E18 && rB === 4_000n * E18, `reserves after addLiquidity ${rA}/${rB}`);

  const amountIn = 10n * E18;
  const quote = getAmountOut(amountIn, rA, rB);
  const swap = await net.send(trader, swapReq(d, d.tokenA, amountIn, (quote * 99n) / 100n, trader.address));
  rep.step(`swap 10 A → B (quote ${fmt(quote)} B)`, swap, 'COMMITTED');
  rep.expect(swap.final.status === TxStatus.TX_STATUS_COMMITTED, `swap: ${statusText(swap.final)}`);
  await net.settled();
  const [rA2, rB2] = await reservesFor(net, d, d.tokenA);
  rep.expect(rA2 === rA + amountIn && rB2 === rB - quote, `reserves after swap ${rA2}/${rB2}, expected ${rA + amountIn}/${rB - quote}`);

  const q2 = getAmountOut(5n * E18, rA2, rB2);
  const tight = await net.send(trader, swapReq(d, d.tokenA, 5n * E18, q2 + 1n, trader.address));
  rep.step('swap 5 A with amountOutMin = quote + 1', tight, 'ABORTED (INSUFFICIENT_OUTPUT_AMOUNT)');
  rep.expect(
    tight.final.status === TxStatus.TX_STATUS_ABORTED && tight.final.reason.includes('INSUFFICIENT_OUTPUT_AMOUNT'),
    `min-output swap: ${statusText(tight.final)}`,
  );
  await net.settled();
  const [rA3, rB3] = await reservesFor(net, d, d.tokenA);
  rep.expect(rA3 === rA2 && rB3 === rB2, 'the aborted swap changed the reserves');

  // Two swaps on the same pair at once: simulation locks usually make the second wait for the first
  // and commit after it; an aborted one (lock deadline, conflict) is resubmitted.
  const reqs: [DevAccount, Req, string][] = [
    [trader, swapReq(d, d.tokenA, 20n * E18, 1n, trader.address), 'concurrent swap 20 A → B (trader 1)'],
    [trader2, swapReq(d, d.tokenB, 30n * E18, 1n, trader2.address), 'concurrent swap 30 B → A (trader 2)'],
  ];
  const firsts = await Promise.all(reqs.map(([from, req]) => net.send(from, req)));
  let committed = 0;
  for (const [i, o] of firsts.entries()) {
    rep.step(reqs[i]![2], o, 'COMMITTED, or ABORTED on conflict');
    if (o.final.status === TxStatus.TX_STATUS_COMMITTED) committed++;
    else rep.expect(o.final.status === TxStatus.TX_STATUS_ABORTED && /conflict|read set changed|simulation lock|state locked by another transaction/.test(o.final.reason), `${reqs[i]![2]}: ${statusText(o.final)}`);
  }
  rep.expect(committed >= 1, 'neither concurrent swap committed');
  for (const [i, o] of firsts.entries()) {
    if (o.final.status === TxStatus.TX_STATUS_COMMITTED) continue;
    await net.settled();
    const again = await net.send(reqs[i]![0], reqs[i]![1]);
    rep.step(`  resubmitted: ${reqs[i]![2].replace('concurrent ', '')}`, again, 'COMMITTED');
    rep.expect(again.final.status === TxStatus.TX_STATUS_COMMITTED, `resubmission: ${statusText(again.final)}`);
  }
  await net.settled();

  say('');
  say('Final state');
  const [resA, resB] = await reservesFor(net, d, d.tokenA);
  say(`  pair reserves          A ${fmt(resA)}   B ${fmt(resB)}   (k = ${fmt((resA * resB) / E18)})`);
  for (const [name, t] of [['trader 1', trader], ['trader 2', trader2]] as const) {
    const [a, b, lp] = await Promise.all([d.tokenA, d.tokenB, d.pair].map(async (tok) => (await net.storage(tok, [mappingSlot(t.address, SLOT_BALANCE_OF)]))[0]!));
    const acct = await net.account(t.address);
    say(`  ${name.padEnd(22)} A ${fmt(a!)}   B ${fmt(b!)}   LP ${fmt(lp!)}   nonce ${acct.nonce}, locked ${acct.locked} wei`);
    rep.expect(acct.locked === '0', `${name} has locked value`);
  }
  void DEADLINE;
}

async function booking(net: NetClient, rep: Report): Promise<void> {
  if (net.shardCount < 4) throw new Error('the booking scenario needs 4 shards or more');
  const contracts = compileBooking();
  const [trader, trader2] = net.on(BOOKING_LAYOUT.trader) as [DevAccount, DevAccount];
  const deployers = [trader, trader2];
  say('Deploying Train (10 seats), Hotel (1 room) and TravelAgency by local transactions...');
  const train = await deployOn(net, BOOKING_LAYOUT.train, contracts.Train, [10n], deployers);
  const hotel = await deployOn(net, BOOKING_LAYOUT.hotel, contracts.Hotel, [1n], deployers);
  const agency = await deployOn(net, BOOKING_LAYOUT.agency, contracts.TravelAgency, [train, hotel], deployers);
  say('');
  say('Placement (address → shard)');
  for (const [name, a] of [['Train', train], ['Hotel', hotel], ['TravelAgency', agency], ['trader 1', trader.address], ['trader 2', trader2.address]] as const) {
    say(`  ${name.padEnd(14)} ${a}  → shard ${net.shardOf(a)}`);
  }
  say('');
  say('Steps');
  const book = contracts.TravelAgency.selectors['bookTrainAndHotel()']!;
  const first = await net.send(trader, { to: agency, data: book });
  rep.step('trader 1: bookTrainAndHotel', first, 'COMMITTED');
  rep.expect(first.final.status === TxStatus.TX_STATUS_COMMITTED, `first booking: ${statusText(first.final)}`);
  await net.settled();
  const second = await net.send(trader2, { to: agency, data: book });
  rep.step('trader 2: bookTrainAndHotel (hotel sold out)', second, 'ABORTED (sold out)');
  rep.expect(second.final.status === TxStatus.TX_STATUS_ABORTED && second.final.reason.includes('sold out'), `second booking: ${statusText(second.final)}`);
  await net.settled();
  say('');
  say('Final state');
  const t = await bookingState(net, train, [trader, trader2]);
  const h = await bookingState(net, hotel, [trader, trader2]);
  say(`  Train  seats left ${t.left}, bookings trader 1: ${t.bookings[0]}, trader 2: ${t.bookings[1]}`);
  say(`  Hotel  rooms left ${h.left}, bookings trader 1: ${h.bookings[0]}, trader 2: ${h.bookings[1]}`);
  rep.expect(t.left === 9n && t.bookings[0] === 1n && t.bookings[1] === 0n, 'train state');
  rep.expect(h.left === 0n && h.bookings[0] === 1n && h.bookings[1] === 0n, 'hotel state');
}

async function main(): Promise<number> {
  program.parse();
  const o = program.opts<{ scenario: 'uniswap' | 'booking'; shards: number; blockIntervalMs: number; dataDir?: string; keepRunning: boolean }>();
  if (o.shards < 4) throw new Error('--shards must be 4 or more');
  const dataDir = o.dataDir ?? (mkdirSync(join(REPO_ROOT, '.data'), { recursive: true }), mkdtempSync(join(REPO_ROOT, '.data', `scenario-${o.scenario}-`)));
  say(`ShardLab scenario "${o.scenario}": ${o.shards} shards, block interval ${o.blockIntervalMs} ms, data in ${dataDir}`);
  let devnet: Devnet | undefined;
  let net: NetClient | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    net?.close();
    await devnet?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));

  const rep = new Report();
  try {
    const t0 = Date.now();
    devnet = await startDevnet({ shards: o.shards, blockIntervalMs: o.blockIntervalMs, dataDir, onProgress: (l) => say(`  ${l}`) });
    say(`network up in ${Date.now() - t0} ms; gateway ${devnet.gatewayAddress}, registry ${devnet.registryAddress}; logs in ${devnet.logDir}`);
    net = new NetClient(devnet.registryAddress, devnet.gatewayAddress, o.shards);
    const n = net;
    await until('the gateway to answer', async () => (await n.account(n.dev[0]!.address)).shardId >= 0);
    say('');
    if (o.scenario === 'uniswap') await uniswap(net, rep);
    else await booking(net, rep);
    say('');
    const audit = await runAudit({ registryAddress: devnet.registryAddress });
    say(formatReport(audit));
    rep.expect(audit.ok, 'audit failed');
  } catch (err) {
    rep.problems.push(`scenario failed: ${(err as Error).stack ?? String(err)}`);
  }
  say('');
  if (rep.problems.length === 0) say('RESULT: everything behaved as expected');
  else {
    say('RESULT: NOT as expected');
    for (const p of rep.problems) say(`  - ${p}`);
    if (devnet) say(`logs are in ${devnet.logDir}`);
  }
  const code = rep.problems.length === 0 ? 0 : 1;
  if (o.keepRunning && devnet) {
    say(`network left running: gateway ${devnet.gatewayAddress}; Ctrl-C stops it`);
    return new Promise<number>(() => {});
  }
  net?.close();
  await devnet?.stop();
  if (code === 0 && !o.dataDir) rmSync(dataDir, { recursive: true, force: true });
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`scenario failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
