import { auditNetwork } from '@shardlab/audit';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createPlacement, decodeTransaction, devAccounts, shardOf, signTransaction, type DevAccount } from '@shardlab/chain';
import { TxStatus, type SimulateResponse } from '@shardlab/proto';
import { simulateWithLocks, type SimulationLockSpec, type StateSource } from '@shardlab/simulator';
import { DEFAULT_SIMULATION_LOCK_TTL_MS, genesisAllocation } from '../src';
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

const slot0 = async (net: Network, a: string) => (await net.shards[1]!.getProof(a, [SLOT0])).storage[0]!.value;
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
    expect(simLocks(net)).toEqual([{ address: counter, txHash: res.txHash, expiresAtMs: net.clock.ms + DEFAULT_SIMULATION_LOCK_TTL_MS }]);
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
    const [lock] = simLocks(net);
    expect(lock).toMatchObject({ address: counter, txHash: res.txHash });
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

  it('the simulation lock becomes the prepare lock: other simulations are refused until the decision', async () => {
    const { net, counter } = await setup();
    const res = await net.submit(alice, { to: counter, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    await net.orchestrator.simulationsSettled();
    const other = '0x' + '0b'.repeat(32);
    await expect(net.shards[1]!.getProof(counter, [], undefined, { txHash: other })).rejects.toThrow(`${counter} is locked by transaction ${res.txHash} (simulation lock`);
    // Ordered and prepared (shard 1 votes YES), not decided yet.
    await net.orchestratorBlock();
    await net.deliverOrchestratorBlocks();
    await net.shardBlocks();
    expect(simLocks(net)).toEqual([]);
    await expect(net.shards[1]!.getProof(counter, [], undefined, { txHash: other })).rejects.toThrow(
      `${counter} is locked by transaction ${res.txHash} (a prepared cross-shard call, until its decision)`,
    );
    await net.deliverShardBlocks();
    await net.settle();
    expect(net.orchestrator.status(res.txHash).status).toBe(TxStatus.TX_STATUS_COMMITTED);
    await expect(net.shards[1]!.getProof(counter, [], undefined, { txHash: other })).resolves.toMatchObject({ account: { address: counter } });
    net.shards[1]!.releaseSimulationLocks(other);
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

describe('simulation locks: two simulations reading the same two addresses in opposite orders', () => {
  /** Runtime: BALANCE(a); BALANCE(b); STOP — reads two accounts, in that order. */
  const readsInOrder = (a: string, b: string) => `73${a.slice(2)}3150` + `73${b.slice(2)}3150` + '00';
  const X = '0x' + '12'.repeat(19) + '02'; // shard 0
  const Y = '0x' + '12'.repeat(19) + '03'; // shard 1
  const [, , dave] = on(0) as [DevAccount, DevAccount, DevAccount];

  /**
   * A network with contract P reading X then Y and contract Q reading Y then X, and the two
   * signed calls alice → P and dave → Q.
   */
  async function contention() {
    const { net } = await setup();
    expect([net.shardOf(X), net.shardOf(Y)]).toEqual([0, 1]);
    const p = created(deployerAccount, 2n);
    const q = created(deployerAccount, 3n);
    await net.submit(deployerAccount, { nonce: 2n, gasLimit: 200_000n, data: deployer(readsInOrder(X, Y)) });
    await net.submit(deployerAccount, { nonce: 3n, gasLimit: 200_000n, data: deployer(readsInOrder(Y, X)) });
    await net.settle();
    const tx1 = signTransaction(net.common, alice, { to: p, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    const tx2 = signTransaction(net.common, dave, { to: q, nonce: 0n, gasLimit: 100_000n, data: hex('01') });
    return { net, tx1, tx2 };
  }

  /**
   * State sources that force the deadlock on the first attempt of both simulations: each locks
   * its first address (X for P, Y for Q), and only then do both ask for their second one; the
   * answers (both ABORTED: held by the other) are handed back only once both came. Later attempts
   * run freely. Counts attempts per simulation.
   */
  function deadlockOnce(net: Network) {
    let firsts = 0;
    let seconds = 0;
    let bothFirst!: () => void;
    let bothSecond!: () => void;
    const firstDone = new Promise<void>((r) => (bothFirst = r));
    const secondDone = new Promise<void>((r) => (bothSecond = r));
    const attempts = new Map<string, number>();
    const sourceFor = (order: [string, string]) => (lock: SimulationLockSpec): StateSource => {
      const attempt = (attempts.get(lock.txHash) ?? 0) + 1;
      attempts.set(lock.txHash, attempt);
      const src = net.stateSource(lock);
      if (attempt > 1) return src;
      return {
        ...src,
        getAccount: async (a, slots) => {
          if (a === order[1]) await firstDone;
          try {
            return await src.getAccount(a, slots);
          } finally {
            if (a === order[0] && ++firsts === 2) bothFirst();
            if (a === order[1]) {
              if (++seconds === 2) bothSecond();
              await secondDone;
            }
          }
        },
      };
    };
    return { attempts, sourceP: sourceFor([X, Y]), sourceQ: sourceFor([Y, X]) };
  }

  const releaseEverywhere = (net: Network, txHash: string) => net.shards.forEach((s) => s.releaseSimulationLocks(txHash));

  it('without retry (the first-come-first-served rule) both fail: a deadlock', async () => {
    const { net, tx1, tx2 } = await contention();
    const { sourceP, sourceQ } = deadlockOnce(net);
    const opts = { common: net.common, lockDeadlineMs: 0 };
    const [r1, r2] = await Promise.all([simulateWithLocks(tx1, sourceP, opts), simulateWithLocks(tx2, sourceQ, opts)]);
    expect(r1).toMatchObject({ success: false, error: expect.stringMatching(/^state locked by another transaction \(0x[0-9a-f]{64}\)$/) });
    expect(r2).toMatchObject({ success: false, error: expect.stringMatching(/^state locked by another transaction \(0x[0-9a-f]{64}\)$/) });
    // Each released what it held.
    expect(simLocks(net)).toEqual([]);
  });

  it('with release-and-retry both succeed when the first one is decided (its locks released) within the deadline', async () => {
    const { net, tx1, tx2 } = await contention();
    const { sourceP, sourceQ, attempts } = deadlockOnce(net);
    const conflicts: string[] = [];
    const run = (tx: Uint8Array, source: typeof sourceP, backoff: number, name: string) =>
      simulateWithLocks(tx, source, { common: net.common, lockDeadlineMs: 5_000, backoffMs: (attempt) => backoff * attempt, onConflict: () => conflicts.push(name) }).then((res) => {
        // The winner's decision: its locks are released (as its commit on the shards would).
        if (res.success) releaseEverywhere(net, decodeTransaction(tx, net.common).hash);
        return res;
      });
    const [r1, r2] = await Promise.all([run(tx1, sourceP, 1, 'P'), run(tx2, sourceQ, 20, 'Q')]);
    expect([r1.error, r2.error]).toEqual(['', '']);
    expect(r1.success && r2.success).toBe(true);
    // Both met the deadlock on their first attempt, and went again from scratch.
    expect(conflicts).toEqual(expect.arrayContaining(['P', 'Q']));
    expect([...attempts.values()].every((n) => n >= 2)).toBe(true);
    // Each RwSet names what it read: its callee, X and Y (besides the sender).
    for (const r of [r1, r2]) expect(r.rwSet!.addresses.map((a) => a.address)).toEqual(expect.arrayContaining([X, Y]));
    expect(simLocks(net)).toEqual([]);
  });

  it('with release-and-retry, when the winner keeps its locks past the deadline, exactly one fails, naming the winner', async () => {
    const { net, tx1, tx2 } = await contention();
    const { sourceP, sourceQ } = deadlockOnce(net);
    const run = (tx: Uint8Array, source: typeof sourceP, backoff: number) =>
      simulateWithLocks(tx, source, { common: net.common, lockDeadlineMs: 300, backoffMs: (attempt) => backoff * attempt });
    const results = await Promise.all([run(tx1, sourceP, 1), run(tx2, sourceQ, 20)]);
    const hashes = [tx1, tx2].map((t) => decodeTransaction(t, net.common).hash);
    const winner = results.findIndex((r) => r.success);
    expect(winner).toBeGreaterThanOrEqual(0);
    const loser = 1 - winner;
    expect(results[loser]).toMatchObject({ success: false, error: `state locked by another transaction (${hashes[winner]})` });
    // The winner still holds everything it read on the shards (until its prepare or TTL); the loser nothing.
    expect(new Set(simLocks(net).map((l) => l.txHash))).toEqual(new Set([hashes[winner]]));
    releaseEverywhere(net, hashes[winner]!);
  });
});
