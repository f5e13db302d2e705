import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, decodeTransaction, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import { LockMode, TxStatus, type SimulateResponse } from '@shardlab/proto';
import { simulateWithLocks, type LockClient } from '@shardlab/simulator';
import { DEFAULT_SIMULATION_LOCK_TTL_MS, genesisAllocation } from '../src';
import { waitFor } from '@shardlab/testing';
import { Network } from './protocol-harness';

const BASE_FEE = 1_000_000_000n;
const PRICE = BASE_FEE + 1n; // signTransaction's default: 2 gwei cap, 1 wei tip
const ETHER = 10n ** 18n;
const SLOT0 = '0x' + '00'.repeat(32);
const word = (n: bigint) => '0x' + n.toString(16).padStart(64, '0');
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

/** Runtime: slot0 += 1; LOG0(new value); STOP. */
const COUNTER = '6000546001018060005560005260206000a000';
/** Runtime: REVERT(0, 0). */
const REVERTER = '60006000fd';
/** Init code that deploys `runtime`. */
const deployer = (runtime: string) => {
  const len = (runtime.length / 2).toString(16).padStart(2, '0');
  return hex(`60${len}600c60003960${len}6000f3${runtime}`);
};

const placement = createPlacement(2);
const dev = devAccounts();
const on = (s: number) => dev.filter((a) => shardOf(placement, a.address) === s);
const created = (a: DevAccount, nonce: bigint) => createContractAddress(createAddressFromString(a.address), nonce).toString();
/** A shard-1 account whose first two contracts are created on shard 1. */
const deployerAccount = on(1).find((a) => shardOf(placement, created(a, 0n)) === 1 && shardOf(placement, created(a, 1n)) === 1)!;
const [alice, carol] = on(0) as [DevAccount, DevAccount];
const local1 = on(1).find((a) => a !== deployerAccount)!;

async function setup(simulator: NonNullable<Parameters<typeof Network.create>[0]["simulator"]> = true) {
  const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement, simulator });
  await net.submit(deployerAccount, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) });
  await net.submit(deployerAccount, { nonce: 1n, gasLimit: 200_000n, data: deployer(REVERTER) });
  await net.settle();
  const counter = created(deployerAccount, 0n);
  const reverter = created(deployerAccount, 1n);
  expect((await net.shards[1]!.getAccount(counter)).codeHash).not.toBe('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  return { net, counter, reverter };
}

const slot0 = async (net: Network, a: string) => (await net.shards[net.shardOf(a)]!.getProof(a, [SLOT0])).storage[0]!.value;
const account = async (net: Network, a: DevAccount) => net.home(a.address).getAccount(a.address);
/** Every simulation lock left on any shard (expired ones too). */
const simLocks = (net: Network) => net.shards.flatMap((s) => s.simulationLocks());

describe('cross-shard contract calls (simulator RwSet)', () => {
  it('commits a call from shard 0 to a counter on shard 1: slot written, sender charged value + fee, audit passes', async () => {
    const { net, counter } = await setup();
    const before = await account(net, alice);
    const value = 12_345n;
    const res = await net.submit(alice, { to: counter, nonce: 0n, value, gasLimit: 100_000n, data: hex('01') });
    expect(res).toMatchObject({ crossShard: true, status: TxStatus.TX_STATUS_PENDING });
    await net.settle();
    expect(net.orchestrator.status(res.txHash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED, reason: '' });
    expect(await slot0(net, counter)).toBe(word(1n));
    expect(BigInt((await net.shards[1]!.getAccount(counter)).balance)).toBe(value);

    const tx = await net.shards[0]!.getTransaction(res.txHash);
    expect(tx.status).toBe(TxStatus.TX_STATUS_COMMITTED);
    const gasUsed = BigInt(tx.receipt!.gasUsed);
    expect(gasUsed).toBeGreaterThan(21_000n);
    expect(tx.receipt!.logs).toHaveLength(1);
    expect(tx.receipt!.logs[0]!.address).toBe(counter);
    expect(Buffer.from(tx.receipt!.logs[0]!.data).toString('hex')).toBe(word(1n).slice(2));

    const after = await account(net, alice);
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(value + gasUsed * PRICE);
    expect(after.nonce).toBe(1);
    expect(after.locked).toBe('0');
    expect(await net.systemOps(0, res.txHash)).toEqual(['LOCK', 'DEBIT']);
    expect(await net.systemOps(1, res.txHash)).toEqual(['WRITE_SET', 'CREDIT']);

    // A second call sees the first one's write.
    await net.submit(alice, { to: counter, nonce: 1n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    expect(await slot0(net, counter)).toBe(word(2n));

    const report = auditNetwork(await net.auditInput());
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('aborts when the slot read changes between simulation and prepare (read set changed), changing nothing', async () => {
    const { net, counter } = await setup();
    const before = await account(net, alice);
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled(); // simulated against slot0 = 0, which it locked
    // One key: the counter's slot 0, read and written (exclusive); nothing of the sender.
    expect(simLocks(net)).toEqual([{ key: `${counter}|s|${SLOT0}`, mode: LockMode.LOCK_MODE_EXCLUSIVE, txHash: res.txHash, expiresAtMs: net.clock.ms + DEFAULT_SIMULATION_LOCK_TTL_MS }]);
    // The simulation lock expires, then a local call on shard 1 increments the counter before
    // the orchestrator orders the call.
    net.clock.ms += DEFAULT_SIMULATION_LOCK_TTL_MS;
    await net.submit(local1, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.shardBlocks();
    await net.deliverShardBlocks();
    expect(await slot0(net, counter)).toBe(word(1n));
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    // The real change is named (the read set is checked before the lock).
    expect(st.reason).toContain(`read set changed: ${counter} slot ${SLOT0}`);
    expect(simLocks(net)).toEqual([]);
    expect(await slot0(net, counter)).toBe(word(1n));
    const after = await account(net, alice);
    expect(after.locked).toBe('0');
    // Only the fee of the acceptance was charged; no value moved.
    const receipt = (await net.shards[0]!.getTransaction(res.txHash)).receipt!;
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(BigInt(receipt.gasUsed) * PRICE);
    expect(net.shards[0]!.head().mempoolSize).toBe(0);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('an expired simulation lock aborts: nothing changes anywhere, no lock is left', async () => {
    const { net, counter } = await setup();
    const before = await account(net, alice);
    const counterBefore = await net.shards[1]!.getAccount(counter);
    const value = 777n;
    const res = await net.submit(alice, { to: counter, nonce: 0n, value, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    // The slot (exclusive) and the counter's balance, only credited (credit mode).
    expect(simLocks(net)).toEqual([
      expect.objectContaining({ key: `${counter}|b`, mode: LockMode.LOCK_MODE_CREDIT, txHash: res.txHash }),
      expect.objectContaining({ key: `${counter}|s|${SLOT0}`, mode: LockMode.LOCK_MODE_EXCLUSIVE, txHash: res.txHash }),
    ]);
    const [lock] = simLocks(net);
    // The shards' clock passes the TTL before the prepare (the orchestrator block that orders the
    // call and the shard block that prepares it each add 100 ms).
    net.clock.ms = lock!.expiresAtMs - 200;
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toContain(`simulation lock expired: ${counter}`);
    // Nothing changed: the counter's slot and balance, the sender's balance but for the fee.
    expect(await slot0(net, counter)).toBe(word(0n));
    expect(await net.shards[1]!.getAccount(counter)).toMatchObject({ balance: counterBefore.balance, nonce: counterBefore.nonce, locked: '0' });
    const after = await account(net, alice);
    const receipt = (await net.shards[0]!.getTransaction(res.txHash)).receipt!;
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(BigInt(receipt.gasUsed) * PRICE);
    expect(after.locked).toBe('0');
    expect(await net.systemOps(1, res.txHash)).not.toContain('WRITE_SET');
    expect(await net.systemOps(1, res.txHash)).not.toContain('CREDIT');
    // No lock anywhere: simulation locks, prepare locks (the counter can be written again at once).
    expect(simLocks(net)).toEqual([]);
    await net.submit(local1, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    expect(await slot0(net, counter)).toBe(word(1n));
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('a local transaction writing what a simulation locked waits for the call, then executes after it', async () => {
    const { net, counter } = await setup();
    const call = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    const local = await net.submit(local1, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.shardBlocks();
    await net.shardBlocks();
    expect((await net.shards[1]!.getTransaction(local.txHash)).status).toBe(TxStatus.TX_STATUS_QUEUED);
    expect(await slot0(net, counter)).toBe(word(0n));
    await net.settle();
    expect(net.orchestrator.status(call.txHash).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    const l = await net.shards[1]!.getTransaction(local.txHash);
    expect(l.status).toBe(TxStatus.TX_STATUS_FINAL);
    expect(l.receipt!.success).toBe(true);
    // Serial: the call saw 0 and wrote 1; the local call came after it and wrote 2.
    const callLogs = (await net.shards[0]!.getTransaction(call.txHash)).receipt!.logs;
    expect(Buffer.from(callLogs[0]!.data).toString('hex')).toBe(word(1n).slice(2));
    expect(Buffer.from(l.receipt!.logs[0]!.data).toString('hex')).toBe(word(2n).slice(2));
    expect(await slot0(net, counter)).toBe(word(2n));
    expect(simLocks(net)).toEqual([]);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('the prepare pins the simulation lock until the decision: a conflicting request waits, then is granted', async () => {
    const { net, counter } = await setup();
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    const other = '0x' + '0b'.repeat(32);
    const slotKey = { address: counter, field: 4, slot: SLOT0 };
    await expect(net.shards[1]!.acquireLocks(other, [{ ...slotKey, mode: LockMode.LOCK_MODE_SHARED }], undefined, 0)).rejects.toThrow(`slot ${SLOT0} of ${counter} is locked by transaction ${res.txHash}`);
    // Ordered and prepared (shard 1 votes YES), not decided yet: the lock is pinned.
    await net.orchestratorBlock();
    await net.deliverOrchestratorBlocks();
    await net.shardBlocks();
    expect(simLocks(net)).toEqual([expect.objectContaining({ txHash: res.txHash, expiresAtMs: Infinity })]);
    // A reader asking now waits in the queue; it is granted once the decision is applied.
    let granted = false;
    const waiting = net.shards[1]!.acquireLocks(other, [{ ...slotKey, mode: LockMode.LOCK_MODE_SHARED }], undefined, 60_000).then((g) => ((granted = true), g));
    await net.shardBlocks();
    expect(granted).toBe(false);
    await net.deliverShardBlocks();
    await net.settle();
    expect(net.orchestrator.status(res.txHash).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    await expect(waiting).resolves.toMatchObject({ held: 1 });
    expect(simLocks(net)).toEqual([expect.objectContaining({ txHash: other, mode: LockMode.LOCK_MODE_SHARED })]);
    await net.shards[1]!.releaseSimulationLocks(other);
  });

  it('after a restart the shard has no simulation locks: the prepare of a call simulated before is refused', async () => {
    const { net, counter } = await setup();
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    await net.restartShard(1);
    expect(simLocks(net)).toEqual([]);
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toContain(`simulation lock not held: ${counter}`);
    expect(await slot0(net, counter)).toBe(word(0n));
    expect((await account(net, alice)).locked).toBe('0');
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('refuses a forged proof', async () => {
    const forge = async (tx: Parameters<Network['simulate']>[0], real: Network['simulate']): Promise<SimulateResponse> => {
      const res = await real(tx);
      const item = res.rwSet?.addresses.find((a) => Number(a.shardId) === 1);
      const proof = item?.reads[0]?.proof[0];
      if (proof) proof[proof.length - 1] = proof[proof.length - 1]! ^ 0xff;
      return res;
    };
    const { net, counter } = await setup(forge);
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toContain(`invalid proof for ${counter}`);
    expect(await slot0(net, counter)).toBe(word(0n));
    expect((await account(net, alice)).locked).toBe('0');
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });

  it('aborts a call whose simulation fails (revert), releasing the nonce reservation', async () => {
    const { net, reverter } = await setup();
    const before = await account(net, carol);
    const res = await net.submit(carol, { to: reverter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.settle();
    const st = net.orchestrator.status(res.txHash);
    expect(st.status).toBe(TxStatus.TX_STATUS_ABORTED);
    expect(st.reason).toBe('simulation failed: execution reverted');
    const after = await account(net, carol);
    expect(after.nonce).toBe(1);
    expect(after.locked).toBe('0');
    expect(BigInt(before.balance) - BigInt(after.balance)).toBe(21_016n * PRICE); // intrinsic gas (1 nonzero calldata byte)
    expect(net.shards[0]!.head().mempoolSize).toBe(0);
    // The sender goes on: its next transaction is accepted.
    await net.submit(carol, { to: alice.address, nonce: 1n, value: ETHER });
    await net.settle();
    expect((await account(net, carol)).nonce).toBe(2);
    expect(auditNetwork(await net.auditInput()).problems).toEqual([]);
  });
});

describe('locks: two calls touching the same state in opposite orders', () => {
  /** Runtime: BALANCE(a); BALANCE(b); STOP — reads two balances, in that order. */
  const readsInOrder = (a: string, b: string) => `73${a.slice(2)}3150` + `73${b.slice(2)}3150` + '00';
  /** Runtime fragment: CALL(a) with all gas, no value, no data; POP. */
  const call = (a: string) => `6000600060006000600073${a.slice(2)}5af150`;
  const X = '0x' + '12'.repeat(19) + '02'; // shard 0
  const Y = '0x' + '12'.repeat(19) + '03'; // shard 1
  const [, , dave] = on(0) as [DevAccount, DevAccount, DevAccount];

  /**
   * A network with counter A on shard 0 (deployed from shard 0) and counter B on shard 1, and
   * `deployOnShard1(runtime)`: deploys a contract from deployerAccount at its next nonce whose
   * address falls on shard 1 (the nonces between are spent on zero-value transfers to itself).
   */
  async function twoCounters() {
    const { net } = await setup();
    const a0 = on(0).find((d) => ![alice, carol, dave].includes(d) && shardOf(placement, created(d, 0n)) === 0)!;
    const A = created(a0, 0n);
    await net.submit(a0, { nonce: 0n, gasLimit: 200_000n, data: deployer(COUNTER) });
    let nonce = 2n;
    const deployOnShard1 = async (runtime: string) => {
      while (shardOf(placement, created(deployerAccount, nonce)) !== 1) await net.submit(deployerAccount, { to: deployerAccount.address, nonce: nonce++ });
      await net.submit(deployerAccount, { nonce, gasLimit: 200_000n, data: deployer(runtime) });
      return created(deployerAccount, nonce++);
    };
    const B = await deployOnShard1(COUNTER);
    return { net, A, B, deployOnShard1 };
  }

  /** Signs alice → p and dave → q. */
  const sign = (net: Network, p: string, q: string) => ({
    tx1: signTransaction(net.common, alice, { to: p, nonce: 0n, gasLimit: 200_000n, data: hex('01') }),
    tx2: signTransaction(net.common, dave, { to: q, nonce: 0n, gasLimit: 200_000n, data: hex('01') }),
  });

  /** The network's lock client, recording each grant and release in order, and releasing a winner's locks when told. */
  function recordingLocks(net: Network) {
    const events: string[] = [];
    const inner = net.lockClient();
    const client: LockClient = {
      acquire: async (shardId, txHash, keys, ttlMs, waitMs) => {
        const values = await inner.acquire(shardId, txHash, keys, ttlMs, waitMs);
        events.push(`granted ${txHash.slice(0, 6)} on ${shardId}`);
        return values;
      },
      release: async (shardId, txHash) => {
        events.push(`released ${txHash.slice(0, 6)} on ${shardId}`);
        await inner.release(shardId, txHash);
      },
      senderReady: (shardId, txHash, waitMs) => inner.senderReady(shardId, txHash, waitMs),
    };
    return { events, client };
  }

  it('two calls reading the same two balances in opposite orders share their locks: both succeed at once', async () => {
    const { net } = await setup();
    expect([net.shardOf(X), net.shardOf(Y)]).toEqual([0, 1]);
    const p = created(deployerAccount, 2n);
    const q = created(deployerAccount, 3n);
    await net.submit(deployerAccount, { nonce: 2n, gasLimit: 200_000n, data: deployer(readsInOrder(X, Y)) });
    await net.submit(deployerAccount, { nonce: 3n, gasLimit: 200_000n, data: deployer(readsInOrder(Y, X)) });
    await net.settle();
    const { tx1, tx2 } = sign(net, p, q);
    const opts = { common: net.common, lockWaitMs: 0 };
    const [r1, r2] = await Promise.all([simulateWithLocks(tx1, () => net.stateSource(), net.lockClient(), opts), simulateWithLocks(tx2, () => net.stateSource(), net.lockClient(), opts)]);
    expect([r1.error, r2.error]).toEqual(['', '']);
    // Both hold X's and Y's balances shared, at the same time.
    const h = [tx1, tx2].map((t) => decodeTransaction(t, net.common).hash);
    for (const key of [`${X}|b`, `${Y}|b`]) {
      expect(simLocks(net).filter((l) => l.key === key)).toEqual(expect.arrayContaining(h.map((txHash) => expect.objectContaining({ key, txHash, mode: LockMode.LOCK_MODE_SHARED }))));
    }
    for (const x of h) for (const s of net.shards) await s.releaseSimulationLocks(x);
    expect(simLocks(net)).toEqual([]);
  });

  it('two calls writing two counters on two shards in opposite orders: acquisition in shard order, the second waits, no deadlock', async () => {
    const { net, A, B, deployOnShard1 } = await twoCounters();
    const p = await deployOnShard1(call(A) + call(B) + '00');
    const q = await deployOnShard1(call(B) + call(A) + '00');
    await net.settle();
    expect([net.shardOf(A), net.shardOf(B)]).toEqual([0, 1]);
    for (const c of [p, q]) expect((await net.shards[1]!.getCode(c)).code.length).toBeGreaterThan(0);
    const { tx1, tx2 } = sign(net, p, q);
    const [h1, h2] = [tx1, tx2].map((t) => decodeTransaction(t, net.common).hash) as [string, string];
    const { events, client } = recordingLocks(net);
    const run = (tx: Uint8Array) =>
      simulateWithLocks(tx, () => net.stateSource(), client, { common: net.common, lockWaitMs: 10_000 }).then(async (res) => {
        // The winner's decision: its locks are released (as its commit on the shards would).
        if (res.success) for (const s of [0, 1]) await client.release(s, decodeTransaction(tx, net.common).hash);
        return res;
      });
    const [r1, r2] = await Promise.all([run(tx1), run(tx2)]);
    expect([r1.error, r2.error]).toEqual(['', '']);
    // Each wrote both counters' slot 0 (exclusive): one got shard 0 first; the other was granted
    // shard 0 only after the first released everything.
    for (const r of [r1, r2]) expect(r.rwSet!.addresses.filter((x) => x.writes.length > 0).map((x) => x.address).sort()).toEqual([A, B].sort());
    const first = events[0]!.includes(h1.slice(0, 6)) ? h1 : h2;
    const second = first === h1 ? h2 : h1;
    expect(events.slice(0, 2)).toEqual([`granted ${first.slice(0, 6)} on 0`, `granted ${first.slice(0, 6)} on 1`]);
    expect(events.indexOf(`granted ${second.slice(0, 6)} on 0`)).toBeGreaterThan(events.indexOf(`released ${first.slice(0, 6)} on 0`));
    expect(simLocks(net)).toEqual([]);
  });

  it('a simulation started while a commit is applied on one shard and not yet the other never sees a torn state', async () => {
    const { net, A, B, deployOnShard1 } = await twoCounters();
    const p = await deployOnShard1(call(A) + call(B) + '00');
    await net.settle();
    // T1 (alice → P) increments A and B: ordered, prepared, decided COMMIT.
    const t1 = await net.submit(alice, { to: p, nonce: 0n, gasLimit: 200_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    await net.orchestratorBlock();
    await net.deliverOrchestratorBlocks();
    await net.shardBlocks();
    await net.deliverShardBlocks();
    await net.orchestratorBlock();
    expect(net.orchestrator.status(t1.txHash).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    // The decision reaches shard 0 only: A is 1 there, B still 0 on shard 1 (held by T1).
    const decision = await net.orchestrator.getBlock(net.orchestrator.headInfo().height);
    for (let h = net.shards[0]!.orchestratorCursor() + 1; h <= decision.height; h++) net.shards[0]!.enqueueOrchestratorBlock(await net.orchestrator.getBlock(h));
    await net.shards[0]!.produceBlock();
    expect([await slot0(net, A), await slot0(net, B)]).toEqual([word(1n), word(0n)]);
    // T2 (dave → P) starts now; its reconnaissance sees the torn state, its locks on shard 1 wait.
    net.lockWaitBlocks = 0;
    const tx2 = signTransaction(net.common, dave, { to: p, nonce: 0n, gasLimit: 200_000n, data: hex('01') });
    let done = false;
    const r2 = simulateWithLocks(tx2, () => net.stateSource(), net.lockClient(), { common: net.common, lockWaitMs: 60_000 }).finally(() => (done = true));
    // It holds A on shard 0 (acquired first) and cannot get B on shard 1 while T1 holds it.
    const h2 = decodeTransaction(tx2, net.common).hash;
    await waitFor(() => net.shards[0]!.simulationLocks().some((l) => l.txHash === h2), 5000, 'T2 to hold its shard-0 lock');
    await net.shards[1]!.produceBlock();
    expect(done).toBe(false);
    expect(net.shards[1]!.simulationLocks().filter((l) => l.txHash === h2)).toEqual([]);
    for (let h = net.shards[1]!.orchestratorCursor() + 1; h <= decision.height; h++) net.shards[1]!.enqueueOrchestratorBlock(await net.orchestrator.getBlock(h));
    await net.shards[1]!.produceBlock();
    const res = await r2;
    expect(res.error).toBe('');
    // The run that counts read both counters after T1: 1 and 1, never 1 and 0.
    const readOf = (addr: string) => res.rwSet!.addresses.find((x) => x.address === addr)!.reads.find((r) => r.slot === SLOT0)!.value;
    expect([readOf(A), readOf(B)]).toEqual([word(1n), word(1n)]);
    for (const s of net.shards) await s.releaseSimulationLocks(h2);
  });
});
