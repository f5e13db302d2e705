import { ErrorCode, ShardLabError } from '@shardlab/common';
import { StateShardBlock } from '@shardlab/proto';
import { RegistryState, registryMountedService } from '@shardlab/registry';
import { startServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import { collectAuditInput, runAudit, type AuditInput } from '../src';
import { addressOn, ETHER, NetBuilder, startFakeNetwork, type FakeNetwork, type FakeShardState } from '@shardlab/testing';

const a0 = addressOn(0, 1);
const b0 = addressOn(0, 2);
const a1 = addressOn(1, 3);
const b1 = addressOn(1, 4);

function network() {
  const net = new NetBuilder(2, [
    [a0, 100n * ETHER],
    [b0, 50n * ETHER],
    [a1, 70n * ETHER],
    [b1, 30n * ETHER],
  ]);
  net.local(a0, b0, 1n * ETHER);
  const committed = net.transfer(a0, a1, 3n * ETHER);
  const aborted = net.transfer(b1, b0, 2n * ETHER, { destYes: false });
  return { net, committed, aborted };
}

async function errorOf(p: Promise<unknown>): Promise<ShardLabError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ShardLabError) return err;
    throw err;
  }
  throw new Error('expected a ShardLabError');
}

/** An empty block following `prev` (what a shard produces every interval when idle). */
function nextBlock(prev: StateShardBlock, withTx: boolean): StateShardBlock {
  const height = prev.height + 1;
  return StateShardBlock.fromPartial({
    ...prev,
    height,
    hash: `0x${'ee'.repeat(16)}${height.toString(16).padStart(32, '0')}`,
    parentHash: prev.hash,
    transactions: withTx ? [{ kind: { $case: 'system', value: { kind: 4, txHash: '0x' + '12'.repeat(32), address: a0, amount: '', writes: [] } } }] : [],
    receipts: [],
    tpcPrepare: [],
  });
}

describe('collectAuditInput (fake shards and orchestrator, real registry)', () => {
  let fake: FakeNetwork | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });

  it('reads every shard (blocks 0..head, accounts over several pages) and the orchestrator, and the audit passes', async () => {
    const { net } = network();
    const expected = net.input();
    fake = await startFakeNetwork(expected);
    const progress: string[] = [];
    // Page size 2: each shard has 3 accounts (two users and the coinbase), so ListAccounts takes two pages.
    const input = await collectAuditInput({ registryAddress: fake.registryAddress, pageSize: 2, onProgress: (l) => progress.push(l) });

    expect(input.shards.map((s) => s.shardId)).toEqual([0, 1]);
    for (const s of [0, 1]) {
      expect(input.shards[s]!.blocks).toEqual(expected.shards[s]!.blocks);
      expect(input.shards[s]!.accounts).toEqual(expected.shards[s]!.accounts);
    }
    expect(input.orchestratorBlocks).toEqual(expected.orchestratorBlocks);
    expect(input.notes).toEqual([]);
    expect(progress[0]).toContain('2 shards');
    expect(progress).toEqual(expect.arrayContaining([expect.stringMatching(/^shard 1 \(.*\): \d+ blocks, 3 accounts$/), expect.stringContaining('orchestrator (')]));

    const report = await runAudit({ registryAddress: fake.registryAddress });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.atomicity).toMatchObject({ committed: 1, aborted: 1, inFlight: 0 });
  });

  it('finds a violation in the collected data', async () => {
    const { net, committed } = network();
    const input = net.input();
    const shard1 = input.shards[1]!;
    // Shard 1 lost the CREDIT (block and balance).
    for (const b of shard1.blocks) b.transactions = b.transactions.filter((t) => !(t.kind?.$case === 'system' && t.kind.value.txHash === committed));
    const acct = shard1.accounts.find((a) => a.address === a1)!;
    acct.balance = (BigInt(acct.balance) - 3n * ETHER).toString();
    fake = await startFakeNetwork(input);
    const report = await runAudit({ registryAddress: fake.registryAddress });
    expect(report.ok).toBe(false);
    expect(report.problems.filter((p) => p.includes(committed) && p.includes('no CREDIT'))).toHaveLength(1);
  });

  it('without a registered orchestrator, reports every cross-shard system transaction as unexplained', async () => {
    const { net, committed, aborted } = network();
    fake = await startFakeNetwork(net.input(), { orchestrator: false });
    const input = await collectAuditInput({ registryAddress: fake.registryAddress });
    expect(input.orchestratorBlocks).toEqual([]);
    expect(input.notes).toEqual([expect.stringContaining('no orchestrator is registered')]);
    const report = await runAudit({ registryAddress: fake.registryAddress });
    expect(report.ok).toBe(false);
    for (const [tx, what] of [
      [committed, 'LOCK on shard 0'],
      [committed, 'DEBIT on shard 0'],
      [committed, 'CREDIT on shard 1'],
      [aborted, 'LOCK on shard 1'],
      [aborted, 'UNLOCK on shard 1'],
    ] as const) {
      expect(report.problems.filter((p) => p.includes(`${tx}: ${what}`) && p.includes('never ordered'))).toHaveLength(1);
    }
  });

  it('notes an orchestrator that serves no blocks (UNIMPLEMENTED) and audits without them', async () => {
    const { net } = network();
    fake = await startFakeNetwork(net.input(), { orchestrator: 'unimplemented' });
    const input = await collectAuditInput({ registryAddress: fake.registryAddress });
    expect(input.orchestratorBlocks).toEqual([]);
    expect(input.notes).toEqual([expect.stringContaining('does not serve blocks (UNIMPLEMENTED)')]);
    expect(input).not.toHaveProperty('protocol');
    // What the caller knows of the protocol is passed on to the audit.
    const told = await collectAuditInput({ registryAddress: fake.registryAddress, protocol: 'client-led', lockTimeoutBlocks: 7 });
    expect(told).toMatchObject({ protocol: 'client-led', lockTimeoutBlocks: 7 });
  });

  it('stops at the head although block streams stay open, and takes accounts listed across idle blocks as one snapshot', async () => {
    const { net } = network();
    const input = net.input();
    let shard0: FakeShardState | undefined;
    fake = await startFakeNetwork(input, {
      tweak: (s) => {
        if (s.shardId !== 0) return;
        shard0 = s;
        // The shard produces an empty block after answering each page.
        s.afterPage = () => s.blocks.push(nextBlock(s.blocks[s.blocks.length - 1]!, false));
      },
    });
    const headBefore = shard0!.blocks.length - 1;
    const got = await collectAuditInput({ registryAddress: fake.registryAddress, pageSize: 1 });
    // One page per account (a0, b0, coinbase), page k answered at headBefore + k.
    const pages = input.shards[0]!.accounts.length;
    expect(pages).toBe(3);
    expect(got.shards[0]!.blocks.map((b) => b.height)).toEqual([...Array(headBefore + pages).keys()]);
    expect(got.shards[0]!.accounts).toEqual(input.shards[0]!.accounts);
  });

  it('refuses a shard that keeps executing transactions while its accounts are listed', async () => {
    const { net } = network();
    fake = await startFakeNetwork(net.input(), {
      tweak: (s) => {
        if (s.shardId === 1) s.afterPage = () => s.blocks.push(nextBlock(s.blocks[s.blocks.length - 1]!, true));
      },
    });
    const err = await errorOf(collectAuditInput({ registryAddress: fake.registryAddress, pageSize: 1 }));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toMatch(/^shard 1 \(.*\) executed transactions .* while its accounts were being listed, 3 times in a row/);
  });

  it('fails clearly when a shard is not registered, lies about its id, or ends its stream early', async () => {
    const { net } = network();
    fake = await startFakeNetwork(net.input(), { unregistered: [1] });
    let err = await errorOf(collectAuditInput({ registryAddress: fake.registryAddress }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain('shard 1 has no live replica registered');
    await fake.stop();

    fake = await startFakeNetwork(net.input(), { tweak: (s) => s.shardId === 1 && (s.reportedShardId = 0) });
    err = await errorOf(collectAuditInput({ registryAddress: fake.registryAddress }));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toMatch(/shard 1 \(.*\) reports itself as shard 0/);
    await fake.stop();

    fake = await startFakeNetwork(net.input(), { tweak: (s) => s.shardId === 0 && (s.endStreamAfter = 2) });
    err = await errorOf(collectAuditInput({ registryAddress: fake.registryAddress }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/shard 0 \(.*\) ended its block stream early \(got blocks 0\.\.1, head is \d+\)/);
  });

  it('fails clearly when the registry cannot be reached', async () => {
    // A port that was just free: bind, note the address, close.
    const logger = silentLogger();
    const probe = await startServer({ port: 0, logger, services: [registryMountedService(new RegistryState({ shardCount: 1, chainId: 1337, blockIntervalMs: 250 }), logger)] });
    const address = probe.address;
    await probe.close();
    const err = await errorOf(collectAuditInput({ registryAddress: address, deadlineMs: 500 }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain(`cannot reach the registry ${address}`);
  });

  it('can be cancelled', async () => {
    const { net } = network();
    const input: AuditInput = net.input();
    fake = await startFakeNetwork(input);
    const ctl = new AbortController();
    ctl.abort();
    const err = await errorOf(collectAuditInput({ registryAddress: fake.registryAddress, signal: ctl.signal }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain('cancelled');
  });
});
