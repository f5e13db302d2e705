// Shared fixtures of the cross-shard value transfer tests: fee constants, development accounts per shard of 2, balance, status and conservation helpers, a network with a contract.
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { DEV_ACCOUNT_BALANCE, accountFromKey, createPlacement, devAccounts, shardOf, type DevAccount } from '@shardlab/chain';
import type { MemoryKV } from '@shardlab/storage';
import { TxStatus, type TransactionStatus } from '@shardlab/proto';
import { genesisAllocation } from '../src';
import { Network } from './protocol-harness';

export const BASE_FEE = 1_000_000_000n;
/** Default EIP-1559 fee of `signTransaction`: 2 gwei cap, 1 wei tip → base fee + 1 wei per gas. */
export const TRANSFER_FEE = 21_000n * (BASE_FEE + 1n);
export const TIP = 21_000n;
export const ETHER = 10n ** 18n;
export const EMPTY_CODE_HASH = '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470';

export const dev = devAccounts();
const placement2 = createPlacement(2);
const on = (shard: number) => dev.filter((a) => shardOf(placement2, a.address) === shard);
/** Development accounts on shard 0 and shard 1 of a 2-shard network. */
export const [alice, carol, dave] = on(0) as [DevAccount, DevAccount, DevAccount];
export const [bob, erin, frank] = on(1) as [DevAccount, DevAccount, DevAccount];

/** A deterministic key (not a development account) whose address lies on `shard` of 2. */
export function keyOn(shard: number, seed: number): DevAccount {
  for (let i = seed; ; i++) {
    const key = new Uint8Array(32);
    key[0] = 0x77;
    key[30] = (i >> 8) & 0xff;
    key[31] = i & 0xff;
    const a = accountFromKey(key);
    if (shardOf(placement2, a.address) === shard) return a;
  }
}

export const balanceOf = async (net: Network, a: DevAccount | string) => {
  const acct = await net.home(typeof a === 'string' ? a : a.address).getAccount(typeof a === 'string' ? a : a.address);
  return { balance: BigInt(acct.balance), locked: BigInt(acct.locked), nonce: acct.nonce, codeHash: acct.codeHash };
};

/** Every status change the orchestrator publishes, from now on. */
export function recordStatuses(net: Network): { seen: TransactionStatus[]; stop: () => Promise<void> } {
  const seen: TransactionStatus[] = [];
  const ac = new AbortController();
  const it = net.orchestrator.statusChanges(ac.signal);
  const first = it.next(); // subscribes synchronously
  const reading = (async () => {
    let r = await first;
    while (!r.done) {
      seen.push(r.value);
      r = await it.next();
    }
  })();
  return {
    seen,
    stop: async () => {
      ac.abort();
      await reading;
    },
  };
}

export const statusName = (s: TxStatus) => TxStatus[s].replace('TX_STATUS_', '');

export async function expectConservation(net: Network): Promise<void> {
  expect(await net.totalBalance()).toBe(net.genesisTotal() - (await net.burned()));
}

export async function expectNoLocks(net: Network): Promise<void> {
  for (const [address, a] of await net.accounts()) expect({ address, locked: a.locked }).toEqual({ address, locked: 0n });
}

/** Init code: MSTORE8(0, 0); RETURN(0, 1) → one byte of runtime code (STOP). */
const INIT_CODE = Uint8Array.from([0x60, 0x00, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3]);

/** A 2-shard network where `bob` (shard 1) deployed a contract placed on shard 1. */
export async function networkWithContract(): Promise<{ net: Network; created: string; deployHash: string }> {
  const created = createContractAddress(createAddressFromString(bob.address), 0n).toString();
  const placement = createPlacement(2, 1, [[created, 1]]);
  const net = await Network.create({ shardCount: 2, genesis: genesisAllocation(), placement });
  const deploy = await net.submit(bob, { nonce: 0n, gasLimit: 100_000n, data: INIT_CODE });
  expect(deploy).toMatchObject({ crossShard: false, status: TxStatus.TX_STATUS_QUEUED });
  await net.step();
  return { net, created, deployHash: deploy.txHash };
}

/** Makes the next write of `kv` wait until released (a slow disk); `reached` resolves when it starts waiting. */
export function holdNextWrite(kv: MemoryKV): { reached: Promise<void>; release: () => void } {
  const batch = kv.batch.bind(kv);
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (reached = r));
  kv.batch = async (ops) => {
    kv.batch = batch;
    reached();
    await released;
    return batch(ops);
  };
  return { reached: started, release };
}

/**
 * Asserts that alice's cross-shard transfer `h` of `value` wei to bob took effect exactly once:
 * alice paid the value and the fee and holds no lock, bob got the value, shard 0 has LOCK and
 * DEBIT for it and shard 1 one CREDIT, ether is conserved and no lock is left anywhere.
 */
export async function expectTransferAppliedOnce(net: Network, h: string, value: bigint): Promise<void> {
  expect(await balanceOf(net, alice)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE - value - TRANSFER_FEE, locked: 0n, nonce: 1 });
  expect(await balanceOf(net, bob)).toMatchObject({ balance: DEV_ACCOUNT_BALANCE + value });
  expect(await net.systemOps(0, h)).toEqual(['LOCK', 'DEBIT']);
  expect(await net.systemOps(1, h)).toEqual(['CREDIT']);
  await expectConservation(net);
  await expectNoLocks(net);
}
