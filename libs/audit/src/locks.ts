// Locks: no lock left on any account, no LOCK left open, and what each account holds locked matches its open LOCKs.
import { place, type Finding } from './findings';
import type { NetworkIndex } from './network-index';
import type { LocksReport, OpenLock } from './report';
import type { IndexedShard } from './shard-index';

/** The result of {@link checkLocks}. */
export interface LocksResult {
  /** The network's locks. */
  report: LocksReport;
  /** Shard id → Σ `locked` of its accounts, in wei. */
  lockedWeiOf: Map<number, bigint>;
  /** Accounts locking more than they hold, and locked amounts that do not match the open LOCKs. */
  findings: Finding[];
}

/** What one shard's accounts hold locked. */
interface ShardLocks {
  shard: IndexedShard;
  /** Account address → locked wei (only accounts with something locked). */
  locked: Map<string, bigint>;
  lockedWei: bigint;
}

/**
 * Checks locks (docs/ARCHITECTURE.md §5.3, pure): every account's `locked` and every LOCK with neither
 * a DEBIT nor an UNLOCK on its shard must be gone; what is locked on each account must equal its
 * open LOCKs and may not exceed its balance. Open LOCKs are listed in `index.txHashes` order.
 */
export function checkLocks(index: NetworkIndex): LocksResult {
  const findings: Finding[] = [];
  const accountsWithLocks: string[] = [];
  const shardLocks = index.shards.map((shard) => accountLocks(shard, accountsWithLocks, findings));
  const openLocks = findOpenLocks(index);
  for (const sl of shardLocks) compareWithOpenLocks(sl, openLocks, findings);
  const lockedWei = shardLocks.reduce((a, sl) => a + sl.lockedWei, 0n);
  return {
    report: { lockedWei, accountsWithLocks, openLocks, ok: lockedWei === 0n && openLocks.length === 0 },
    lockedWeiOf: new Map(shardLocks.map((sl) => [sl.shard.shardId, sl.lockedWei])),
    findings,
  };
}

/** Reads what a shard's accounts hold locked, appending those addresses to `accountsWithLocks`. */
function accountLocks(shard: IndexedShard, accountsWithLocks: string[], findings: Finding[]): ShardLocks {
  const sl: ShardLocks = { shard, locked: new Map(), lockedWei: 0n };
  for (const a of shard.accounts) {
    if (a.locked === undefined || a.locked === 0n) continue;
    sl.lockedWei += a.locked;
    sl.locked.set(a.address, a.locked);
    accountsWithLocks.push(a.address);
    if (a.balance !== undefined && a.locked > a.balance) {
      findings.push({
        place: place.account(shard.rank, a.position, 'locks'),
        text: `shard ${shard.shardId}: account ${a.address} has ${a.locked} wei locked but a balance of only ${a.balance} wei`,
      });
    }
  }
  return sl;
}

/** LOCKs with neither a DEBIT nor an UNLOCK of the same transaction on the same shard. */
function findOpenLocks(index: NetworkIndex): OpenLock[] {
  const openLocks: OpenLock[] = [];
  for (const h of index.txHashes) {
    for (const [s, byKind] of index.effects.get(h) ?? []) {
      if ((byKind.get('DEBIT')?.length ?? 0) > 0 || (byKind.get('UNLOCK')?.length ?? 0) > 0) continue;
      for (const l of byKind.get('LOCK') ?? []) {
        openLocks.push({ txHash: h, shardId: s, height: l.height, address: l.address, amountWei: l.amount ?? 0n });
      }
    }
  }
  return openLocks;
}

/** Reports each account of the shard whose locked amount differs from its open LOCKs' total. */
function compareWithOpenLocks({ shard, locked }: ShardLocks, openLocks: readonly OpenLock[], findings: Finding[]): void {
  const s = shard.shardId;
  const open = new Map<string, bigint>();
  for (const l of openLocks) if (l.shardId === s) open.set(l.address, (open.get(l.address) ?? 0n) + l.amountWei);
  for (const address of new Set([...locked.keys(), ...open.keys()])) {
    const has = locked.get(address) ?? 0n;
    const want = open.get(address) ?? 0n;
    if (has === want) continue;
    const txs = openLocks.filter((l) => l.shardId === s && l.address === address).map((l) => l.txHash);
    findings.push({
      place: place.lockedAccounts,
      text:
        `shard ${s}: account ${address} has ${has} wei locked, but its open LOCKs total ${want} wei` +
        (txs.length > 0 ? ` (txs ${txs.join(', ')})` : ' (no open LOCK)'),
    });
  }
}
