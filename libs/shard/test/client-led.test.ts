// Client-led two-phase commit on in-memory shards: the coordinator library over the shards' Prepare and Decide, votes and decisions in blocks, the lock timeout, restarts and bad input.
import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, decodeTransaction, devAccounts, shardOf, signTransaction, toProtoTransaction, type DevAccount, type TxRequest } from '@shardlab/chain';
import { ErrorCode, isShardLabError } from '@shardlab/common';
import { ClientLedCoordinator } from '@shardlab/gateway';
import { Decision, ReasonCode, TxStatus, Vote, type CrossShardTx } from '@shardlab/proto';
import { silentLogger } from '@shardlab/telemetry';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

const PRICE = 1_000_000_001n; // signTransaction's default: 2 gwei cap, 1 wei tip, 1 gwei base fee
const ETHER = 10n ** 18n;
const LOCK_TIMEOUT = 6;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** Runtime: slot0 += 1; LOG0(new value); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
const deployer = (runtime: string) => {
  const len = (runtime.length / 2).toString(16).padStart(2, '0');
  return hex(`60${len}600c60003960${len}6000f3${runtime}`);
};

const placement = createPlacement(2);
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const [alice, carol] = on(0) as [DevAccount, DevAccount];
const [bob] = on(1) as [DevAccount];
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
const deployerAccount = on(1).find((a) => shardOf(placement, created(a, 0n)) === 1 && a !== bob)!;

async function network(): Promise<Network> {
  return Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, shardOpts: { protocol: 'client-led', lockTimeoutBlocks: LOCK_TIMEOUT } });
}

/** Settles `p` while both shards produce blocks (at most `max`). */
async function drive<T>(net: Network, p: Promise<T>, max = 40): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  watched.catch(() => undefined);
  for (let i = 0; i < max; i++) {
    for (let j = 0; j < 3 && !done; j++) await new Promise((r) => setImmediate(r));
    if (done) break;
    await net.shardBlocks();
  }
  return watched;
}

function coordinator(net: Network): ClientLedCoordinator {
  return new ClientLedCoordinator({
    transport: {
      prepare: (s, x) => net.shards[s]!.prepare(x),
      decide: (s, r) => net.shards[s]!.decide(r),
      simulate: (tx) => net.simulate(tx),
    },
    shardOf: (a) => net.shardOf(a),
    blockIntervalMs: 100,
    logger: silentLogger(),
    now: () => net.clock.ms,
  });
}

/** Signs and submits `req` from `from`, expecting its home shard to leave it to the client. */
async function submitCoordinated(net: Network, from: DevAccount, req: TxRequest) {
  const raw = signTransaction(net.common, from, req);
  const res = await net.home(from.address).submit(raw);
  expect(res).toMatchObject({ crossShard: true, clientCoordinated: true, status: TxStatus.TX_STATUS_PENDING });
  return decodeTransaction(raw, net.common);
}

const account = async (net: Network, a: string) => {
  const x = await net.home(a).getAccount(a);
  return { balance: BigInt(x.balance), locked: BigInt(x.locked), nonce: Number(x.nonce) };
};
/** The decisions every shard recorded for `h` in its blocks, as [shard, decision] pairs. */
const recorded = async (net: Network, h: string) =>
  (await Promise.all(net.shards.map(async (s) => (await net.blocks(s.shardId)).flatMap((b) => b.decisions.filter((d) => d.txHash === h).map((d) => [s.shardId, d.decision, d.cause?.code] as const))))).flat();
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('client-led two-phase commit', () => {
  it('commits a cross-shard transfer: both shards vote in a block, apply the commit in the next and record it; audit passes', async () => {
    const net = await network();
    const value = ETHER;
    const [a0, b0] = [await account(net, alice.address), await account(net, bob.address)];
    const d = await submitCoordinated(net, alice, { to: bob.address, value, nonce: 0n });
    const out = await drive(net, coordinator(net).coordinate(d));
    expect(out).toMatchObject({ decision: 'commit', involvedShards: [0, 1], appliedOn: [0, 1], refusedBy: [] });
    expect(await account(net, alice.address)).toEqual({ balance: a0.balance - value - 21_000n * PRICE, locked: 0n, nonce: 1 });
    expect((await account(net, bob.address)).balance).toBe(b0.balance + value);
    expect(await recorded(net, d.hash)).toEqual([
      [0, Decision.DECISION_COMMIT, undefined],
      [1, Decision.DECISION_COMMIT, undefined],
    ]);
    const votes = (await Promise.all([0, 1].map((s) => net.blocks(s)))).flat().flatMap((b) => b.tpcPrepare.filter((v) => v.txHash === d.hash));
    expect(votes.map((v) => v.vote)).toEqual([Vote.VOTE_YES, Vote.VOTE_YES]);
    expect(await net.systemOps(1, d.hash)).toContain('CREDIT');
    const report = await auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    // Asking again answers the decision applied.
    expect(await net.shards[1]!.prepare({ tx: toProtoTransaction(d), involvedShards: [0, 1], sourceShard: 0, traceContext: {} })).toMatchObject({ decided: Decision.DECISION_COMMIT });
  });

  it('aborts when a shard votes NO (a transfer to a contract): lock released, nonce and fee spent, both shards record the abort', async () => {
    const net = await network();
    await net.home(deployerAccount.address).submit(signTransaction(net.common, deployerAccount, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) }));
    await net.shardBlocks();
    const counter = created(deployerAccount, 0n);
    const a0 = await account(net, alice.address);
    // No calldata: a value transfer to a contract, which the destination cannot prepare without a simulation.
    const d = await submitCoordinated(net, alice, { to: counter, value: 5n, nonce: 0n });
    const out = await drive(net, coordinator(net).coordinate(d));
    expect(out.decision).toBe('abort');
    expect(out.cause).toMatchObject({ code: ReasonCode.REASON_CODE_SHARD_VOTED_NO, shards: [1] });
    expect(out.reason).toMatch(/shard 1 voted NO: recipient .* is a contract/);
    expect(await account(net, alice.address)).toEqual({ balance: a0.balance - 21_000n * PRICE, locked: 0n, nonce: 1 });
    expect((await recorded(net, d.hash)).map(([s, dec]) => [s, dec])).toEqual([
      [0, Decision.DECISION_ABORT],
      [1, Decision.DECISION_ABORT],
    ]);
    expect((await auditNetwork(await net.auditInput())).problems).toEqual([]);
  });

  it('a coordinator that never decides: each shard aborts by lock timeout, releases the lock, then refuses a late commit', async () => {
    const net = await network();
    const a0 = await account(net, alice.address);
    const d = await submitCoordinated(net, alice, { to: bob.address, value: ETHER, nonce: 0n });
    const x: CrossShardTx = { tx: toProtoTransaction(d), involvedShards: [0, 1], sourceShard: 0, traceContext: {} };
    const [v0, v1] = await drive(net, Promise.all([net.shards[0]!.prepare(x), net.shards[1]!.prepare(x)]));
    expect([v0.vote?.vote, v1.vote?.vote]).toEqual([Vote.VOTE_YES, Vote.VOTE_YES]);
    expect(v1.lockExpiresAtHeight).toBe(v1.height + LOCK_TIMEOUT);
    expect((await account(net, alice.address)).locked).toBe(ETHER);
    // The coordinator is gone: blocks go on until both shards aborted by themselves.
    for (let i = 0; i < LOCK_TIMEOUT + 1; i++) await net.shardBlocks();
    const rec = await recorded(net, d.hash);
    expect(rec).toEqual([
      [0, Decision.DECISION_ABORT, ReasonCode.REASON_CODE_LOCK_TIMEOUT],
      [1, Decision.DECISION_ABORT, ReasonCode.REASON_CODE_LOCK_TIMEOUT],
    ]);
    const abortHeight = (await net.blocks(1)).find((b) => b.decisions.some((x2) => x2.txHash === d.hash))!.height;
    expect(abortHeight - v1.height).toBe(LOCK_TIMEOUT);
    expect(await account(net, alice.address)).toEqual({ balance: a0.balance - 21_000n * PRICE, locked: 0n, nonce: 1 });
    const late = await rejection(net.shards[1]!.decide({ txHash: d.hash, decision: Decision.DECISION_COMMIT, involvedShards: [0, 1], reason: '', traceContext: {} }));
    expect(isShardLabError(late, ErrorCode.FailedPrecondition)).toBe(true);
    expect((late as Error).message).toMatch(/aborted it already/);
    // A coordinator that comes back learns the abort from the prepare answer.
    expect(await net.shards[0]!.prepare(x)).toMatchObject({ decided: Decision.DECISION_ABORT });
    expect((await auditNetwork(await net.auditInput())).problems).toEqual([]);
  });

  it('keeps a recorded vote across a restart: the commit that arrives afterwards is applied', async () => {
    const net = await network();
    const b0 = await account(net, bob.address);
    const d = await submitCoordinated(net, carol, { to: bob.address, value: 7n, nonce: 0n });
    const x: CrossShardTx = { tx: toProtoTransaction(d), involvedShards: [0, 1], sourceShard: 0, traceContext: {} };
    await drive(net, Promise.all([net.shards[0]!.prepare(x), net.shards[1]!.prepare(x)]));
    await net.restartShard(1);
    // Asked again after the restart, the shard answers the vote from its store.
    expect((await net.shards[1]!.prepare(x)).vote?.vote).toBe(Vote.VOTE_YES);
    const commit = { txHash: d.hash, decision: Decision.DECISION_COMMIT, involvedShards: [0, 1], reason: '', traceContext: {} };
    await drive(net, Promise.all([net.shards[0]!.decide(commit), net.shards[1]!.decide(commit)]));
    expect((await account(net, bob.address)).balance).toBe(b0.balance + 7n);
    expect((await auditNetwork(await net.auditInput())).problems).toEqual([]);
  });

  it('commits a cross-shard contract call with the simulator RwSet: the counter slot is written on its shard', async () => {
    const net = await network();
    await net.home(deployerAccount.address).submit(signTransaction(net.common, deployerAccount, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) }));
    await net.shardBlocks();
    const counter = created(deployerAccount, 0n);
    const d = await submitCoordinated(net, alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    const out = await drive(net, coordinator(net).coordinate(d));
    expect(out).toMatchObject({ decision: 'commit', involvedShards: [0, 1], appliedOn: [0, 1] });
    const slot = (await net.shards[1]!.getProof(counter, ['0x' + '00'.repeat(32)])).storage[0]!.value;
    expect(BigInt(slot)).toBe(1n);
    expect((await account(net, alice.address)).nonce).toBe(1);
    expect(net.shards.flatMap((s) => s.simulationLocks())).toEqual([]);
    expect((await auditNetwork(await net.auditInput())).problems).toEqual([]);
  });

  it('refuses bad requests with clear errors and keeps running', async () => {
    const net = await network();
    const d = await submitCoordinated(net, alice, { to: bob.address, value: 1n, nonce: 0n });
    const tx = toProtoTransaction(d);
    const code = async (p: Promise<unknown>) => {
      const e = await rejection(p);
      return isShardLabError(e) ? [e.code, e.message] : ['resolved'];
    };
    expect(await code(net.shards[1]!.prepare(undefined))).toEqual([ErrorCode.InvalidArgument, expect.stringMatching(/transaction .* is required/)]);
    expect(await code(net.shards[1]!.prepare({ tx: { ...tx, hash: '0x' + '11'.repeat(32) }, involvedShards: [0, 1], sourceShard: 0, traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.stringMatching(/does not match its raw bytes/)]);
    expect(await code(net.shards[1]!.prepare({ tx, involvedShards: [0], sourceShard: 0, traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.stringMatching(/does not name this shard/)]);
    expect(await code(net.shards[1]!.prepare({ tx, involvedShards: [0, 1], sourceShard: 1, traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.stringMatching(/not the sender's shard/)]);
    expect(await code(net.shards[1]!.prepare({ tx: { ...tx, raw: Buffer.from([1, 2, 3]) }, involvedShards: [0, 1], sourceShard: 0, traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.any(String)]);
    expect(await code(net.shards[1]!.decide({ txHash: d.hash, decision: Decision.DECISION_COMMIT, involvedShards: [0, 1], reason: '', traceContext: {} }))).toEqual([ErrorCode.FailedPrecondition, expect.stringMatching(/no YES vote/)]);
    expect(await code(net.shards[1]!.decide({ txHash: d.hash, decision: Decision.DECISION_UNSPECIFIED, involvedShards: [0, 1], reason: '', traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.stringMatching(/COMMIT or ABORT/)]);
    expect(await code(net.shards[1]!.decide({ txHash: 'nope', decision: Decision.DECISION_ABORT, involvedShards: [1], reason: '', traceContext: {} }))).toEqual([ErrorCode.InvalidArgument, expect.any(String)]);
    // The shard still works: the transaction commits.
    const out = await drive(net, coordinator(net).coordinate(d));
    expect(out.decision).toBe('commit');
  });

  it('is refused by a shard that runs another protocol', async () => {
    const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement });
    const e = await rejection(net.shards[0]!.decide({ txHash: '0x' + '22'.repeat(32), decision: Decision.DECISION_ABORT, involvedShards: [0], reason: '', traceContext: {} }));
    expect(isShardLabError(e, ErrorCode.FailedPrecondition)).toBe(true);
    expect((e as Error).message).toMatch(/runs block-2pc, not client-led/);
  });
});
