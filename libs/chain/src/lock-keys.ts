// Lock keys of cross-shard contract calls: which account fields and storage slots an RwSet locks, in which mode, and how modes combine (pure).
/**
 * Locks of cross-shard contract calls at storage-slot and account-field granularity
 * (docs/ARCHITECTURE.md §3). A key is one field of one account (balance, nonce, code) or one
 * storage slot; a mode is
 * - `shared` (S): the call read it; shared with other readers;
 * - `exclusive` (X): the call writes it (or reads and writes it);
 * - `credit` (C): the call only adds to a balance it never read; credits commute, so C is shared
 *   with other credits, and excludes readers and writers.
 *
 * What a local transaction (executed by its shard without the simulator) may do while a call
 * holds a key: read anything (it is ordered before the call, whose writes do not depend on what
 * the local transaction reads); write a key only when no call holds it S or X (a C holder does
 * not care: its credit is a delta applied at commit, and a local debit is checked against the
 * balance without it).
 */
import { LockField, LockMode, type LockKey, type RwSet } from '@shardlab/proto';

/** The identity of a key (address, field, slot), without its mode: `0xaddr|b`, `0xaddr|n`, `0xaddr|c`, `0xaddr|s|0xslot`. */
export function lockKeyId(k: Pick<LockKey, 'address' | 'field' | 'slot'>): string {
  const a = k.address.toLowerCase();
  switch (k.field) {
    case LockField.LOCK_FIELD_BALANCE:
      return `${a}|b`;
    case LockField.LOCK_FIELD_NONCE:
      return `${a}|n`;
    case LockField.LOCK_FIELD_CODE:
      return `${a}|c`;
    case LockField.LOCK_FIELD_SLOT:
      return `${a}|s|${k.slot.toLowerCase()}`;
    default:
      throw new Error(`lock key of ${a} has no field`);
  }
}

/** The address of a key id made by {@link lockKeyId}. */
export function addressOfKeyId(id: string): string {
  return id.slice(0, id.indexOf('|'));
}

/** A short text of a key for messages: `balance of 0x…`, `slot 0x… of 0x…`. */
export function describeLockKey(k: Pick<LockKey, 'address' | 'field' | 'slot'>): string {
  switch (k.field) {
    case LockField.LOCK_FIELD_BALANCE:
      return `balance of ${k.address}`;
    case LockField.LOCK_FIELD_NONCE:
      return `nonce of ${k.address}`;
    case LockField.LOCK_FIELD_CODE:
      return `code of ${k.address}`;
    default:
      return `slot ${k.slot} of ${k.address}`;
  }
}

/** Whether two holders in modes `a` and `b` (of different transactions) may hold one key together. */
export function compatibleModes(a: LockMode, b: LockMode): boolean {
  return (a === LockMode.LOCK_MODE_SHARED && b === LockMode.LOCK_MODE_SHARED) || (a === LockMode.LOCK_MODE_CREDIT && b === LockMode.LOCK_MODE_CREDIT);
}

/** The mode that allows both `a` and `b` (a transaction needing both): equal modes stay, any two different ones make exclusive. */
export function joinModes(a: LockMode | undefined, b: LockMode): LockMode {
  return a === undefined || a === b ? b : LockMode.LOCK_MODE_EXCLUSIVE;
}

/** Whether holding `held` allows what `needed` asks (the same mode, or exclusive). */
export function modeCovers(held: LockMode | undefined, needed: LockMode): boolean {
  return held === needed || held === LockMode.LOCK_MODE_EXCLUSIVE;
}

/** Whether a local transaction may write a key held in `mode` by a call (only a credit holder allows it). */
export function localWriteAllowed(mode: LockMode): boolean {
  return mode === LockMode.LOCK_MODE_CREDIT;
}

/**
 * The locks a cross-shard contract call needs for its RwSet, on every shard (each item's
 * `shardId` says where; `sender`'s own fields are left out: its home shard reserves its nonce and
 * locks its outgoing value instead). Per address item:
 * - each slot written: X; each slot read and not written: S;
 * - balance: read (`balanceRead`) and changed: X; read only: S; not read and credited: C; not
 *   read and unchanged: none (a debit is always a read);
 * - nonce: X when the call changes it (`newNonce`, a contract that creates contracts); code: X
 *   when the call deploys it (`createdCode`); else neither is locked: they change only by
 *   creation, which the prepare's read-set check would catch.
 * Returned sorted by (shard, key id), the order in which they are acquired (deadlock freedom).
 */
export function lockKeysOf(rwSet: RwSet, sender: string): (LockKey & { shardId: number })[] {
  const from = sender.toLowerCase();
  const byId = new Map<string, LockKey & { shardId: number }>();
  const add = (shardId: number, address: string, field: LockField, slot: string, mode: LockMode) => {
    const k = { address, field, slot, mode };
    const id = lockKeyId(k);
    const cur = byId.get(id);
    byId.set(id, { ...k, shardId, mode: joinModes(cur?.mode, mode) });
  };
  for (const item of rwSet.addresses) {
    const a = item.address.toLowerCase();
    if (a === from) continue;
    const shardId = Number(item.shardId);
    const written = new Set(item.writes.map((w) => w.slot.toLowerCase()));
    for (const s of written) add(shardId, a, LockField.LOCK_FIELD_SLOT, s, LockMode.LOCK_MODE_EXCLUSIVE);
    for (const r of item.reads) {
      const s = r.slot.toLowerCase();
      if (s !== '' && !written.has(s)) add(shardId, a, LockField.LOCK_FIELD_SLOT, s, LockMode.LOCK_MODE_SHARED);
    }
    const delta = BigInt(item.balanceDelta || '0');
    if (item.balanceRead || delta < 0n) add(shardId, a, LockField.LOCK_FIELD_BALANCE, '', delta === 0n ? LockMode.LOCK_MODE_SHARED : LockMode.LOCK_MODE_EXCLUSIVE);
    else if (delta > 0n) add(shardId, a, LockField.LOCK_FIELD_BALANCE, '', LockMode.LOCK_MODE_CREDIT);
    if (item.newNonce !== undefined) add(shardId, a, LockField.LOCK_FIELD_NONCE, '', LockMode.LOCK_MODE_EXCLUSIVE);
    if (item.createdCode) {
      add(shardId, a, LockField.LOCK_FIELD_CODE, '', LockMode.LOCK_MODE_EXCLUSIVE);
      add(shardId, a, LockField.LOCK_FIELD_NONCE, '', LockMode.LOCK_MODE_EXCLUSIVE);
    }
  }
  return [...byId.entries()].sort(([ia, a], [ib, b]) => a.shardId - b.shardId || (ia < ib ? -1 : ia > ib ? 1 : 0)).map(([, k]) => k);
}
