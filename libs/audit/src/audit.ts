import { Decision, SystemTxKind, Vote } from '@shardlab/proto';
import {
  GENESIS_TX_HASH,
  type AtomicityReport,
  type AuditInput,
  type AuditReport,
  type ConservationReport,
  type InFlightTx,
  type Jsonified,
  type LocksReport,
  type OpenLock,
  type OrchestratorSummary,
  type ShardSummary,
  type SystemKindName,
  type TxAudit,
  type TxState,
} from './report';

export * from './report';

/** One system transaction seen in a shard block. */
interface SysOcc {
  shardId: number;
  height: number;
  address: string;
  /** Parsed amount; undefined when absent or malformed (reported). */
  amount: bigint | undefined;
  /** WRITE_SET only: its writes (slot '' deploys code), lower-case. */
  writes?: StorageWrite[];
}

/** One storage write (slot '' with the code as value: a deployment), lower-case hex. */
interface StorageWrite {
  slot: string;
  newValue: string;
}

/** One address of a cross-shard contract call's RwSet, as the audit reads it. */
interface CallItem {
  address: string;
  shardId: number;
  /** Signed balance change in wei (0 when malformed; reported). */
  delta: bigint;
  /** What a commit writes there: created code first (slot ''), then the storage writes; empty when nothing. */
  writes: StorageWrite[];
}

/** The RwSet of an ordered cross-shard contract call. */
interface CallSet {
  items: CallItem[];
  gasUsed: bigint;
}

/** A receipt of a user transaction, for the fee a cross-shard contract call paid at acceptance. */
interface ReceiptSeen {
  shardId: number;
  height: number;
  gasUsed: number;
  /** Undefined when malformed. */
  effectiveGasPrice: bigint | undefined;
}

interface Ordered {
  height: number;
  from: string;
  to: string;
  value: bigint | undefined;
  sourceShard: number;
  involvedShards: number[];
  /** Set for a cross-shard contract call (the ordered copy carries an RwSet). */
  call?: CallSet;
}

interface Decided {
  height: number;
  commit: boolean;
  involvedShards: number[];
}

interface VoteSeen {
  height: number;
  yes: boolean;
}

const KIND_NAME: Record<number, SystemKindName> = {
  [SystemTxKind.SYSTEM_TX_KIND_LOCK]: 'LOCK',
  [SystemTxKind.SYSTEM_TX_KIND_DEBIT]: 'DEBIT',
  [SystemTxKind.SYSTEM_TX_KIND_CREDIT]: 'CREDIT',
  [SystemTxKind.SYSTEM_TX_KIND_WRITE_SET]: 'WRITE_SET',
  [SystemTxKind.SYSTEM_TX_KIND_UNLOCK]: 'UNLOCK',
  [SystemTxKind.SYSTEM_TX_KIND_ABORT]: 'ABORT',
};

/** Kinds that carry an amount that must be present. */
const AMOUNT_KINDS = new Set<SystemKindName>(['LOCK', 'DEBIT', 'CREDIT', 'UNLOCK']);

function emptyKindCounts(): Record<SystemKindName, number> {
  return { LOCK: 0, DEBIT: 0, CREDIT: 0, WRITE_SET: 0, UNLOCK: 0, ABORT: 0, UNSPECIFIED: 0 };
}

/** Parses a signed decimal wei string (an RwSet balance delta); empty means zero. */
function parseSignedWei(s: string): bigint | undefined {
  if (s === '') return 0n;
  return /^-?\d+$/.test(s) ? BigInt(s) : undefined;
}

function sameWrites(a: readonly StorageWrite[], b: readonly StorageWrite[]): boolean {
  return a.length === b.length && a.every((w, i) => w.slot === b[i]!.slot && w.newValue === b[i]!.newValue);
}

function showWrites(ws: readonly StorageWrite[]): string {
  return '[' + ws.map((w) => (w.slot === '' ? `code ${w.newValue.length > 20 ? w.newValue.slice(0, 20) + '…' : w.newValue}` : `${w.slot}=${w.newValue}`)).join(', ') + ']';
}

/** Parses a decimal wei string; empty means zero when `emptyIsZero`. */
function parseWeiOrUndefined(s: string, emptyIsZero: boolean): bigint | undefined {
  if (s === '' && emptyIsZero) return 0n;
  return /^\d+$/.test(s) ? BigInt(s) : undefined;
}

function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function heightsOf(occs: readonly SysOcc[]): string {
  return occs.map((o) => o.height).join(', ');
}

function jsonify(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(jsonify);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x !== 'function') out[k] = jsonify(x);
    return out;
  }
  return v;
}

/**
 * Audits a sharded network from its blocks and accounts (pure: no I/O). Checks, over all shards:
 *
 * - **Conservation** (DESIGN.md section 5.1): Σ balances = Σ genesis credits − Σ over every
 *   receipt of `gasUsed × baseFeePerGas` of its block, exactly, counting value debited by a
 *   committed transaction whose destination has not yet processed the decision as in transit.
 *   Each shard is also checked on its own: its balances = its genesis − its burn + its CREDITs −
 *   its DEBITs (local transfers and tips stay on the shard), which names the shard at fault.
 * - **Atomicity** (5.2), per cross-shard transaction of the orchestrator's blocks: committed ⇒
 *   one LOCK, one DEBIT (sender, value) on the source shard and one CREDIT (recipient, value) on
 *   a destination shard, no UNLOCK or ABORT, a YES vote from every involved shard; aborted ⇒ no
 *   DEBIT, CREDIT or write set anywhere, an UNLOCK for a LOCK, an ABORT on every destination that
 *   voted YES. A system transaction the orchestrator never ordered, or a DEBIT/CREDIT without a
 *   commit decision, is a violation; so is any kind recorded twice for one transaction on one
 *   shard. An effect that is missing is pending (in flight) while the shard has not processed the
 *   decision's orchestrator block (its blocks' `orchestratorHeight` is lower), a violation after.
 *   Cross-shard contract calls (the ordered copy carries an RwSet) generalise the commit rule: on
 *   every involved shard, the DEBITs and CREDITs of each address net to its RwSet balance delta
 *   (the sender's, on the source shard: its delta + the fee its acceptance receipt paid, gas used
 *   × effective gas price, with exactly one DEBIT releasing its LOCK of −delta − fee, or 0), no
 *   DEBIT/CREDIT/WRITE_SET for an address the RwSet does not name on that shard, at most one DEBIT
 *   and one CREDIT per address, each write set (created code, then storage writes) applied
 *   exactly once with the RwSet's values, and Σ deltas + fee = Σ credits − Σ debits = 0 (value
 *   only moves); the abort rule is the same as for transfers (no DEBIT, CREDIT or WRITE_SET).
 *   A lone LOCK (home shards lock before the orchestrator orders) is in flight when the input
 *   has orchestrator blocks, a violation when it has none.
 * - **Locks** (5.3): every account's `locked`, and every LOCK with neither DEBIT nor UNLOCK,
 *   must be gone; what is locked on each account must equal its open LOCKs.
 *
 * Also checks that each shard's blocks run 0..head without gaps and chain by parent hash, and
 * that each block has one receipt per user transaction. The report is `ok` only when nothing is
 * violated and nothing is in flight; audit an idle network for a verdict.
 */
export function auditNetwork(input: AuditInput): AuditReport {
  const problems: string[] = [];
  const problem = (msg: string) => problems.push(msg);

  /** tx hash → shard → kind → occurrences. */
  const effects = new Map<string, Map<number, Map<SystemKindName, SysOcc[]>>>();
  /** tx hash → shard → votes. */
  const votes = new Map<string, Map<number, VoteSeen[]>>();
  /** tx hash → receipts (every shard). */
  const receipts = new Map<string, ReceiptSeen[]>();
  /** shard → highest orchestrator height it recorded. */
  const orchHeightOf = new Map<number, number>();
  /** shard → account address → locked wei. */
  const lockedByAccount = new Map<number, Map<string, bigint>>();
  const shards: ShardSummary[] = [];
  const accountsWithLocks: string[] = [];

  const sortedShards = [...input.shards].sort((a, b) => a.shardId - b.shardId);
  const seenShards = new Set<number>();
  for (const sh of sortedShards) {
    const s = sh.shardId;
    if (seenShards.has(s)) {
      problem(`shard ${s}: listed twice in the audit input; only the first listing is audited`);
      continue;
    }
    seenShards.add(s);
    const summary: ShardSummary = {
      shardId: s,
      blocks: sh.blocks.length,
      headHeight: sh.blocks.length > 0 ? sh.blocks[sh.blocks.length - 1]!.height : -1,
      orchestratorHeight: 0,
      userTxs: 0,
      systemTxs: emptyKindCounts(),
      accounts: sh.accounts.length,
      genesisWei: 0n,
      burnedWei: 0n,
      creditedWei: 0n,
      debitedWei: 0n,
      expectedWei: 0n,
      actualWei: 0n,
      lockedWei: 0n,
      balanced: false,
    };
    if (sh.blocks.length === 0) problem(`shard ${s}: no blocks (not even the genesis block)`);

    let prevHash: string | undefined;
    sh.blocks.forEach((b, i) => {
      if (b.height !== i) problem(`shard ${s}: block at position ${i} has height ${b.height}; blocks must run 0..head without gaps`);
      if (b.shardId !== s) problem(`shard ${s}: block ${b.height} says it belongs to shard ${b.shardId}`);
      if (i > 0 && prevHash && b.parentHash !== prevHash) {
        problem(`shard ${s}: block ${b.height} has parent hash ${b.parentHash}, but block ${b.height - 1} has hash ${prevHash}`);
      }
      prevHash = b.hash;
      summary.orchestratorHeight = Math.max(summary.orchestratorHeight, b.orchestratorHeight);

      const userTxs = b.transactions.filter((t) => t.kind?.$case === 'user').length;
      summary.userTxs += userTxs;
      if (b.receipts.length !== userTxs) {
        problem(`shard ${s}: block ${b.height} has ${userTxs} user transactions but ${b.receipts.length} receipts; its fees cannot be checked`);
      }
      if (b.receipts.length > 0) {
        const baseFee = parseWeiOrUndefined(b.baseFeePerGas, false);
        if (baseFee === undefined) {
          problem(`shard ${s}: block ${b.height} has receipts but a malformed base fee ${JSON.stringify(b.baseFeePerGas)}; its burn is not counted`);
        } else {
          for (const r of b.receipts) {
            if (!Number.isSafeInteger(r.gasUsed) || r.gasUsed < 0) {
              problem(`shard ${s}: block ${b.height}: receipt of tx ${r.txHash} has gas used ${r.gasUsed}`);
              continue;
            }
            summary.burnedWei += BigInt(r.gasUsed) * baseFee;
            pushTo(receipts, r.txHash.toLowerCase(), {
              shardId: s,
              height: b.height,
              gasUsed: r.gasUsed,
              effectiveGasPrice: parseWeiOrUndefined(r.effectiveGasPrice, false),
            });
          }
        }
      }

      for (const t of b.transactions) {
        if (t.kind?.$case !== 'system') continue;
        const sys = t.kind.value;
        const kind = KIND_NAME[sys.kind] ?? 'UNSPECIFIED';
        summary.systemTxs[kind]++;
        const txHash = sys.txHash.toLowerCase();
        const where = `shard ${s}: block ${b.height}`;
        if (kind === 'UNSPECIFIED') {
          problem(`${where}: system transaction of unknown kind ${sys.kind} for tx ${txHash || '(none)'}`);
          continue;
        }
        const amount = parseWeiOrUndefined(sys.amount, !AMOUNT_KINDS.has(kind));
        if (amount === undefined && AMOUNT_KINDS.has(kind)) {
          problem(`${where}: ${kind} for tx ${txHash} has a malformed amount ${JSON.stringify(sys.amount)}`);
        }
        if (txHash === GENESIS_TX_HASH) {
          if (kind === 'CREDIT' && b.height === 0) {
            summary.genesisWei += amount ?? 0n;
            continue;
          }
          problem(`${where}: ${kind} with the genesis transaction hash outside the genesis allocation (only CREDITs in block 0 may carry it)`);
        }
        if (!txHash) problem(`${where}: ${kind} without a transaction hash`);
        if (kind === 'CREDIT') summary.creditedWei += amount ?? 0n;
        if (kind === 'DEBIT') summary.debitedWei += amount ?? 0n;
        let byShard = effects.get(txHash);
        if (!byShard) effects.set(txHash, (byShard = new Map()));
        let byKind = byShard.get(s);
        if (!byKind) byShard.set(s, (byKind = new Map()));
        pushTo(byKind, kind, {
          shardId: s,
          height: b.height,
          address: sys.address.toLowerCase(),
          amount,
          ...(kind === 'WRITE_SET' ? { writes: sys.writes.map((w) => ({ slot: w.slot.toLowerCase(), newValue: w.newValue.toLowerCase() })) } : {}),
        });
      }

      for (const v of b.tpcPrepare) {
        const txHash = v.txHash.toLowerCase();
        let byShard = votes.get(txHash);
        if (!byShard) votes.set(txHash, (byShard = new Map()));
        pushTo(byShard, s, { height: b.height, yes: v.vote === Vote.VOTE_YES });
      }
    });
    orchHeightOf.set(s, summary.orchestratorHeight);

    const locked = new Map<string, bigint>();
    lockedByAccount.set(s, locked);
    const seenAddresses = new Set<string>();
    for (const a of sh.accounts) {
      const address = a.address.toLowerCase();
      if (seenAddresses.has(address)) {
        problem(`shard ${s}: account ${address} listed twice; counted once`);
        continue;
      }
      seenAddresses.add(address);
      if (a.shardId !== s) problem(`shard ${s}: account ${address} is reported as held by shard ${a.shardId}`);
      const balance = parseWeiOrUndefined(a.balance, true);
      const lockedWei = parseWeiOrUndefined(a.locked, true);
      if (balance === undefined) problem(`shard ${s}: account ${address} has a malformed balance ${JSON.stringify(a.balance)}`);
      if (lockedWei === undefined) problem(`shard ${s}: account ${address} has a malformed locked amount ${JSON.stringify(a.locked)}`);
      summary.actualWei += balance ?? 0n;
      if (lockedWei !== undefined && lockedWei > 0n) {
        summary.lockedWei += lockedWei;
        locked.set(address, lockedWei);
        accountsWithLocks.push(address);
        if (balance !== undefined && lockedWei > balance) {
          problem(`shard ${s}: account ${address} has ${lockedWei} wei locked but a balance of only ${balance} wei`);
        }
      }
    }

    summary.expectedWei = summary.genesisWei - summary.burnedWei + summary.creditedWei - summary.debitedWei;
    summary.balanced = summary.actualWei === summary.expectedWei;
    if (!summary.balanced) {
      problem(
        `shard ${s}: balances total ${summary.actualWei} wei, but its blocks imply ${summary.expectedWei} wei ` +
          `(genesis ${summary.genesisWei} − burned ${summary.burnedWei} + credited ${summary.creditedWei} − debited ${summary.debitedWei}); ` +
          `difference ${summary.actualWei - summary.expectedWei} wei`,
      );
    }
    shards.push(summary);
  }

  // The orchestrator's blocks: what was ordered and decided, at which heights.
  const ordered = new Map<string, Ordered>();
  const orderPosition = new Map<string, number>();
  const decisions = new Map<string, Decided[]>();
  let orchOrdered = 0;
  let orchDecided = 0;
  let prevOrchHeight: number | undefined;
  for (const ob of input.orchestratorBlocks) {
    if (prevOrchHeight !== undefined && ob.height !== prevOrchHeight + 1) {
      problem(`orchestrator: block ${ob.height} follows block ${prevOrchHeight}; blocks must be consecutive`);
    }
    prevOrchHeight = ob.height;
    for (const ct of ob.ctToOrder) {
      orchOrdered++;
      if (!ct.tx) {
        problem(`orchestrator: block ${ob.height} orders a cross-shard transaction without its transaction`);
        continue;
      }
      const h = ct.tx.hash.toLowerCase();
      if (ordered.has(h)) {
        problem(`tx ${h}: ordered twice by the orchestrator (blocks ${ordered.get(h)!.height} and ${ob.height})`);
        continue;
      }
      const value = parseWeiOrUndefined(ct.tx.value, true);
      if (value === undefined) problem(`tx ${h}: the orchestrator's copy has a malformed value ${JSON.stringify(ct.tx.value)}`);
      let call: CallSet | undefined;
      if (ct.rwSet) {
        call = { items: [], gasUsed: BigInt(ct.rwSet.gasUsed) };
        for (const item of ct.rwSet.addresses) {
          const address = item.address.toLowerCase();
          const delta = parseSignedWei(item.balanceDelta);
          if (delta === undefined) problem(`tx ${h}: the RwSet has a malformed balance delta ${JSON.stringify(item.balanceDelta)} for ${address}`);
          const writes = item.writes.map((w) => ({ slot: w.slot.toLowerCase(), newValue: w.newValue.toLowerCase() }));
          if (item.createdCode) writes.unshift({ slot: '', newValue: item.createdCode.toLowerCase() });
          call.items.push({ address, shardId: Number(item.shardId), delta: delta ?? 0n, writes });
        }
      }
      ordered.set(h, {
        height: ob.height,
        from: ct.tx.from.toLowerCase(),
        to: ct.tx.to.toLowerCase(),
        value,
        sourceShard: ct.sourceShard,
        involvedShards: [...ct.involvedShards],
        ...(call ? { call } : {}),
      });
      orderPosition.set(h, orderPosition.size);
    }
    for (const r of ob.tpcResult) {
      orchDecided++;
      const h = r.txHash.toLowerCase();
      if (r.decision !== Decision.DECISION_COMMIT && r.decision !== Decision.DECISION_ABORT) {
        problem(`tx ${h}: orchestrator block ${ob.height} records a decision that is neither commit nor abort (${r.decision})`);
        continue;
      }
      pushTo(decisions, h, { height: ob.height, commit: r.decision === Decision.DECISION_COMMIT, involvedShards: [...r.involvedShards] });
    }
  }
  const orchestrator: OrchestratorSummary = {
    blocks: input.orchestratorBlocks.length,
    headHeight: prevOrchHeight ?? -1,
    ordered: orchOrdered,
    decided: orchDecided,
  };

  // Every cross-shard transaction: ordered ones in orchestrator order, then the others by hash.
  const all = new Set<string>([...ordered.keys(), ...decisions.keys(), ...effects.keys(), ...votes.keys()]);
  const txHashes = [...all].sort((a, b) => {
    const pa = orderPosition.get(a);
    const pb = orderPosition.get(b);
    if (pa !== undefined && pb !== undefined) return pa - pb;
    if (pa !== undefined) return -1;
    if (pb !== undefined) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });

  let inTransitWei = 0n;
  const transactions: TxAudit[] = [];
  const inFlightTxs: InFlightTx[] = [];
  const openLocks: OpenLock[] = [];
  for (const h of txHashes) {
    const r = auditTx(h, {
      ordered: ordered.get(h),
      decisions: decisions.get(h) ?? [],
      effects: effects.get(h) ?? new Map(),
      votes: votes.get(h) ?? new Map(),
      receipts: receipts.get(h) ?? [],
      orchHeightOf,
      haveOrchestrator: input.orchestratorBlocks.length > 0,
    });
    inTransitWei += r.inTransitWei;
    transactions.push(r.audit);
    problems.push(...r.audit.problems);
    if (r.audit.state === 'in-flight') {
      inFlightTxs.push({
        txHash: h,
        stage:
          r.audit.decision === 'commit'
            ? 'committing'
            : r.audit.decision === 'abort'
              ? 'aborting'
              : r.audit.orderedAt === undefined
                ? 'awaiting-order'
                : 'awaiting-decision',
        detail: r.audit.pending.join('; '),
      });
    }
    for (const [s, byKind] of effects.get(h) ?? []) {
      if ((byKind.get('DEBIT')?.length ?? 0) > 0 || (byKind.get('UNLOCK')?.length ?? 0) > 0) continue;
      for (const l of byKind.get('LOCK') ?? []) {
        openLocks.push({ txHash: h, shardId: s, height: l.height, address: l.address, amountWei: l.amount ?? 0n });
      }
    }
  }

  // What each account has locked must equal its open LOCKs.
  for (const [s, locked] of lockedByAccount) {
    const open = new Map<string, bigint>();
    for (const l of openLocks) if (l.shardId === s) open.set(l.address, (open.get(l.address) ?? 0n) + l.amountWei);
    for (const address of new Set([...locked.keys(), ...open.keys()])) {
      const has = locked.get(address) ?? 0n;
      const want = open.get(address) ?? 0n;
      if (has === want) continue;
      const txs = openLocks.filter((l) => l.shardId === s && l.address === address).map((l) => l.txHash);
      problem(
        `shard ${s}: account ${address} has ${has} wei locked, but its open LOCKs total ${want} wei` +
          (txs.length > 0 ? ` (txs ${txs.join(', ')})` : ' (no open LOCK)'),
      );
    }
  }

  const genesisWei = shards.reduce((a, s) => a + s.genesisWei, 0n);
  const burnedWei = shards.reduce((a, s) => a + s.burnedWei, 0n);
  const actualWei = shards.reduce((a, s) => a + s.actualWei, 0n);
  const expectedWei = genesisWei - burnedWei;
  const differenceWei = actualWei + inTransitWei - expectedWei;
  const conservation: ConservationReport = {
    genesisWei,
    burnedWei,
    expectedWei,
    actualWei,
    inTransitWei,
    differenceWei,
    ok: differenceWei === 0n && shards.every((s) => s.balanced),
  };
  if (differenceWei !== 0n) {
    problem(
      `conservation: balances total ${actualWei} wei` +
        (inTransitWei !== 0n ? ` (+ ${inTransitWei} wei in transit)` : '') +
        `, but genesis ${genesisWei} − burned ${burnedWei} = ${expectedWei} wei; difference ${differenceWei} wei`,
    );
  }

  const lockedWei = shards.reduce((a, s) => a + s.lockedWei, 0n);
  const locks: LocksReport = { lockedWei, accountsWithLocks, openLocks, ok: lockedWei === 0n && openLocks.length === 0 };
  const atomicity: AtomicityReport = {
    committed: transactions.filter((t) => t.decision === 'commit').length,
    aborted: transactions.filter((t) => t.decision === 'abort').length,
    inFlight: inFlightTxs.length,
    inFlightTxs,
    transactions,
    ok: transactions.every((t) => t.state === 'settled'),
  };
  const report: AuditReport = {
    ok: problems.length === 0 && conservation.ok && atomicity.ok && locks.ok,
    problems,
    notes: [...(input.notes ?? [])],
    conservation,
    atomicity,
    locks,
    shards,
    orchestrator,
    toJSON: () => jsonify(report) as Jsonified<AuditReport>,
  };
  return report;
}

interface TxFacts {
  ordered: Ordered | undefined;
  decisions: Decided[];
  effects: Map<number, Map<SystemKindName, SysOcc[]>>;
  votes: Map<number, VoteSeen[]>;
  /** Receipts of the transaction on every shard (a call's acceptance receipt is on its source). */
  receipts: ReceiptSeen[];
  orchHeightOf: ReadonlyMap<number, number>;
  /** Whether the input has orchestrator blocks at all. */
  haveOrchestrator: boolean;
}

/** Audits one cross-shard transaction; returns its audit and its contribution to the in-transit value. */
function auditTx(h: string, f: TxFacts): { audit: TxAudit; inTransitWei: bigint } {
  const problems: string[] = [];
  const pending: string[] = [];
  const P = (msg: string) => problems.push(`tx ${h}: ${msg}`);
  const o = f.ordered;
  const d = f.decisions[0];
  const on = (s: number | undefined, kind: SystemKindName): SysOcc[] => (s === undefined ? [] : (f.effects.get(s)?.get(kind) ?? []));
  const everywhere = (kind: SystemKindName): SysOcc[] => [...f.effects.keys()].flatMap((s) => on(s, kind));
  const audit = (state: TxState, extra: Partial<TxAudit> = {}): TxAudit => ({
    txHash: h,
    decision: d ? (d.commit ? 'commit' : 'abort') : 'none',
    sourceShard: undefined,
    involvedShards: [],
    valueWei: o?.value,
    orderedAt: o?.height,
    decidedAt: d?.height,
    state,
    pending,
    problems,
    ...extra,
  });

  if (!o && !d) {
    // A home shard locks a transaction it forwarded while the orchestrator is still to order it:
    // with orchestrator blocks to compare against, a lone LOCK (and its vote) is in flight.
    const shardsSeen = new Set([...f.effects.keys(), ...f.votes.keys()]);
    const [only] = shardsSeen;
    const byKind = only === undefined ? undefined : f.effects.get(only);
    if (f.haveOrchestrator && shardsSeen.size === 1 && byKind && byKind.size === 1 && byKind.get('LOCK')?.length === 1) {
      const l = byKind.get('LOCK')![0]!;
      pending.push(`ordering by the orchestrator (${l.amount ?? 0n} wei locked on shard ${only} at block ${l.height})`);
      return { audit: audit('in-flight', { sourceShard: only }), inTransitWei: 0n };
    }
    for (const [s, byKind] of f.effects) {
      for (const [kind, occs] of byKind) {
        P(`${kind} on shard ${s} (block ${heightsOf(occs)}), but the orchestrator never ordered or decided this transaction`);
      }
    }
    for (const s of f.votes.keys()) P(`shard ${s} voted on it, but the orchestrator never ordered it`);
    return { audit: audit('violated'), inTransitWei: 0n };
  }

  if (!o) P(`decided at orchestrator block ${d!.height}, but never ordered (no ct_to_order entry)`);
  if (f.decisions.length > 1) {
    const kinds = new Set(f.decisions.map((x) => x.commit));
    const at = f.decisions.map((x) => `${x.commit ? 'commit' : 'abort'} at ${x.height}`).join(', ');
    P(kinds.size > 1 ? `decided both commit and abort (${at})` : `decided ${f.decisions.length} times (${at})`);
  }

  const involved = o?.involvedShards ?? d?.involvedShards ?? [];
  let source = o?.sourceShard;
  if (source === undefined) {
    const sourceLike = [...f.effects.keys()].filter((s) => on(s, 'LOCK').length + on(s, 'DEBIT').length + on(s, 'UNLOCK').length > 0);
    if (sourceLike.length === 1) source = sourceLike[0];
  }
  const destinations = involved.filter((s) => s !== source);
  const value = o?.value;
  const sender = o?.from;
  const recipient = o?.to || undefined;

  for (const s of involved) {
    if (!f.orchHeightOf.has(s)) P(`involves shard ${s}, which the audit did not read`);
  }
  const processed = (s: number, orchHeight: number) => (f.orchHeightOf.get(s) ?? -1) >= orchHeight;

  const call = o?.call;
  if (call) {
    for (const item of call.items) {
      if (involved.length > 0 && !involved.includes(item.shardId)) {
        P(`its RwSet names ${item.address} on shard ${item.shardId}, which is not one of its involved shards [${involved.join(', ')}]`);
      }
    }
  }

  // Where each kind may appear, and at most once per shard (write sets may be several). A
  // contract call may debit, credit and write any account of its RwSet on any involved shard:
  // those are checked per account below.
  for (const [s, byKind] of f.effects) {
    for (const [kind, occs] of byKind) {
      if ((kind === 'LOCK' || kind === 'UNLOCK' || (kind === 'DEBIT' && !call)) && source !== undefined && s !== source) {
        P(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not its source shard ${source}`);
      }
      if ((kind === 'ABORT' || (!call && (kind === 'CREDIT' || kind === 'WRITE_SET'))) && involved.length > 0 && !destinations.includes(s)) {
        P(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not one of its destination shards [${destinations.join(', ')}]`);
      }
      if (call && (kind === 'DEBIT' || kind === 'CREDIT' || kind === 'WRITE_SET') && involved.length > 0 && !involved.includes(s)) {
        P(`${kind} on shard ${s} (block ${heightsOf(occs)}), which is not one of its involved shards [${involved.join(', ')}]`);
      }
      if (kind !== 'WRITE_SET' && !(call && (kind === 'DEBIT' || kind === 'CREDIT')) && occs.length > 1) {
        P(`duplicate ${kind} on shard ${s}: ${occs.length} times (blocks ${heightsOf(occs)})`);
      }
    }
  }

  /** Checks amount and account of an occurrence against what the transaction says. */
  const check = (occ: SysOcc, kind: SystemKindName, wantAmount: bigint | undefined, wantAddress: string | undefined, role: string) => {
    if (wantAmount !== undefined && occ.amount !== undefined && occ.amount !== wantAmount) {
      P(`${kind} on shard ${occ.shardId} (block ${occ.height}) moves ${occ.amount} wei, expected ${wantAmount} wei`);
    }
    if (wantAddress && occ.address !== wantAddress) {
      P(`${kind} on shard ${occ.shardId} (block ${occ.height}) is for ${occ.address}, expected the ${role} ${wantAddress}`);
    }
  };

  const locks = on(source, 'LOCK');
  const unlocks = on(source, 'UNLOCK');
  const debits = everywhere('DEBIT');
  const credits = everywhere('CREDIT');

  // A contract call pays its fee at acceptance on the source shard (its receipt: gas used ×
  // effective gas price) and locks the sender's outgoing amount: −(its balance delta) − fee, or
  // nothing when the call sends more back to it than the fee.
  let fee: bigint | undefined;
  let feeIssue: string | undefined;
  let senderDelta = 0n;
  let callLock: bigint | undefined;
  if (call) {
    senderDelta = call.items.find((i) => i.address === sender)?.delta ?? 0n;
    const rs = f.receipts.filter((r) => r.shardId === source);
    if (rs.length === 0) feeIssue = `no acceptance receipt on its source shard ${source}, so the fee it paid cannot be told`;
    else if (rs.length > 1) feeIssue = `${rs.length} receipts on its source shard ${source} (blocks ${rs.map((r) => r.height).join(', ')}); exactly one acceptance is expected`;
    else if (rs[0]!.effectiveGasPrice === undefined) feeIssue = `its receipt on source shard ${source} (block ${rs[0]!.height}) has a malformed effective gas price`;
    else fee = BigInt(rs[0]!.gasUsed) * rs[0]!.effectiveGasPrice!;
    if (fee !== undefined) {
      const out = -senderDelta - fee;
      callLock = out > 0n ? out : 0n;
    }
    if (feeIssue && (locks.length > 0 || d?.commit)) P(feeIssue);
  }
  for (const l of locks) check(l, 'LOCK', call ? callLock : value, sender, 'sender');
  let inTransitWei = 0n;

  /**
   * The commit of a contract call: on every involved shard, the DEBITs and CREDITs of each
   * address net to its RwSet balance delta (the sender's, on the source: its delta + the fee it
   * paid at acceptance, with one DEBIT releasing its lock), each write set applied exactly once,
   * and Σ credits − Σ debits = Σ deltas + fee = 0 (value only moves). A shard that recorded none
   * of its effects and has not processed the decision is pending. Returns the in-transit value.
   */
  function auditCallCommit(c: CallSet, decidedAt: number): bigint {
    interface Want {
      net: bigint;
      writes: StorageWrite[][];
      inRwSet: boolean;
    }
    const want = new Map<number, Map<string, Want>>();
    const wantOf = (s: number, a: string): Want => {
      let m = want.get(s);
      if (!m) want.set(s, (m = new Map()));
      let w = m.get(a);
      if (!w) m.set(a, (w = { net: 0n, writes: [], inRwSet: false }));
      return w;
    };
    const isSender = (s: number, a: string) => s === source && a === sender;
    if (source !== undefined && sender !== undefined) {
      const w = wantOf(source, sender);
      w.net += senderDelta + (fee ?? 0n);
      w.inRwSet = true;
    }
    for (const item of c.items) {
      if (isSender(item.shardId, item.address)) continue; // its writes are not applied; its delta is counted above
      const w = wantOf(item.shardId, item.address);
      w.inRwSet = true;
      w.net += item.delta;
      if (item.writes.length > 0) w.writes.push(item.writes);
    }

    const shardsToCheck = [...new Set([...involved, ...want.keys(), ...f.effects.keys()])].sort((a, b) => a - b);
    let applied = 0n;
    let anyPending = false;
    for (const s of shardsToCheck) {
      const debitsHere = on(s, 'DEBIT');
      const creditsHere = on(s, 'CREDIT');
      const writesHere = on(s, 'WRITE_SET');
      for (const x of creditsHere) applied += x.amount ?? 0n;
      for (const x of debitsHere) applied -= x.amount ?? 0n;
      const wantHere = want.get(s) ?? new Map<string, Want>();
      const expectsSomething = s === source || [...wantHere.values()].some((w) => w.net !== 0n || w.writes.length > 0);
      if (debitsHere.length + creditsHere.length + writesHere.length === 0) {
        if (!expectsSomething) continue;
        if (!processed(s, decidedAt)) {
          anyPending = true;
          pending.push(`commit effects on shard ${s}`);
          continue;
        }
      }
      const upTo = `(it processed orchestrator blocks up to ${f.orchHeightOf.get(s) ?? -1})`;
      const addresses = new Set<string>([...wantHere.keys(), ...debitsHere.map((x) => x.address), ...creditsHere.map((x) => x.address), ...writesHere.map((x) => x.address)]);
      for (const a of [...addresses].sort()) {
        const w = wantHere.get(a);
        const ds = debitsHere.filter((x) => x.address === a);
        const cs = creditsHere.filter((x) => x.address === a);
        const ws = writesHere.filter((x) => x.address === a);
        if (ds.length > 1) P(`duplicate DEBIT of ${a} on shard ${s}: ${ds.length} times (blocks ${heightsOf(ds)})`);
        if (cs.length > 1) P(`duplicate CREDIT of ${a} on shard ${s}: ${cs.length} times (blocks ${heightsOf(cs)})`);
        const debited = ds.reduce((acc, x) => acc + (x.amount ?? 0n), 0n);
        const credited = cs.reduce((acc, x) => acc + (x.amount ?? 0n), 0n);
        if (!w?.inRwSet) {
          for (const [kind, occs] of [['DEBIT', ds], ['CREDIT', cs], ['WRITE_SET', ws]] as const) {
            if (occs.length > 0) P(`${kind} of ${a} on shard ${s} (block ${heightsOf(occs)}), but its RwSet names no ${a} on shard ${s}`);
          }
          continue;
        }
        if (credited - debited !== w.net) {
          const expected = isSender(s, a) ? `its balance delta ${senderDelta} + the fee ${fee ?? '?'} paid at acceptance = ${w.net} wei` : `its RwSet balance delta ${w.net} wei`;
          P(`on shard ${s}, ${a} was credited ${credited} and debited ${debited} wei (net ${credited - debited}), expected ${expected}`);
        }
        if (isSender(s, a)) {
          if (ds.length === 0) P(`committed at orchestrator block ${decidedAt}, but its source shard ${s} recorded no DEBIT of the sender's lock ${upTo}`);
          else if (callLock !== undefined && locks.length > 0 && ds.length === 1 && ds[0]!.amount !== undefined && ds[0]!.amount !== (locks[0]!.amount ?? callLock)) {
            P(`DEBIT of the sender on shard ${s} (block ${ds[0]!.height}) moves ${ds[0]!.amount} wei, but ${locks[0]!.amount ?? callLock} wei were locked`);
          }
        }
        if (w.writes.length === 0) {
          if (ws.length > 0) P(`WRITE_SET of ${a} on shard ${s} (block ${heightsOf(ws)}), but its RwSet writes nothing there`);
        } else if (ws.length === 0) {
          P(`committed at orchestrator block ${decidedAt}, but shard ${s} recorded no WRITE_SET for ${a} ${upTo}`);
        } else if (ws.length > w.writes.length) {
          P(`write set of ${a} applied ${ws.length} times on shard ${s} (blocks ${heightsOf(ws)}); exactly once is expected`);
        } else {
          const left = [...w.writes];
          for (const x of ws) {
            const i = left.findIndex((ww) => sameWrites(ww, x.writes ?? []));
            if (i >= 0) left.splice(i, 1);
            else P(`WRITE_SET of ${a} on shard ${s} (block ${x.height}) writes ${showWrites(x.writes ?? [])}, but its RwSet writes ${showWrites(w.writes[0]!)}`);
          }
          if (left.length > 0 && ws.length < w.writes.length) {
            P(`committed at orchestrator block ${decidedAt}, but shard ${s} applied ${ws.length} of the ${w.writes.length} write sets for ${a} ${upTo}`);
          }
        }
      }
    }

    // Value only moves: the deltas sum to minus the fee, and so do the commits' net transfers.
    const sumDeltas = c.items.reduce((acc, i) => acc + i.delta, 0n);
    if (fee !== undefined && sumDeltas + fee !== 0n) {
      P(`its RwSet's balance deltas sum to ${sumDeltas} wei, but the fee paid at acceptance is ${fee} wei: value would not be conserved (Σ deltas + fee = ${sumDeltas + fee})`);
    }
    if (anyPending) return -applied;
    if (fee !== undefined && applied !== sumDeltas + fee) {
      P(`its commit credits − debits total ${applied} wei over all shards, but Σ balance deltas + fee = ${sumDeltas + fee} wei`);
    }
    return 0n;
  }

  if (!d) {
    for (const kind of ['DEBIT', 'CREDIT', 'UNLOCK', 'ABORT', 'WRITE_SET'] as const) {
      for (const occ of everywhere(kind)) {
        P(`${kind} on shard ${occ.shardId} (block ${occ.height}), but the orchestrator has not decided it (no ${kind === 'DEBIT' || kind === 'CREDIT' || kind === 'WRITE_SET' ? 'commit ' : ''}decision)`);
      }
    }
    pending.push(
      `decision of the orchestrator (ordered at orchestrator block ${o!.height}` +
        (locks.length > 0 ? `, ${locks[0]!.amount ?? 0n} wei locked on shard ${source})` : ')'),
    );
  } else if (d.commit) {
    for (const kind of ['UNLOCK', 'ABORT'] as const) {
      for (const occ of everywhere(kind)) P(`${kind} on shard ${occ.shardId} (block ${occ.height}), although it was committed`);
    }
    if (source !== undefined && locks.length === 0) P(`committed, but its source shard ${source} recorded no LOCK`);
    for (const s of involved) {
      const vs = f.votes.get(s) ?? [];
      if (vs.some((v) => !v.yes)) P(`committed although shard ${s} voted NO (block ${vs.filter((v) => !v.yes).map((v) => v.height).join(', ')})`);
      else if (!vs.some((v) => v.yes)) P(`committed without a YES vote from shard ${s}`);
    }
    if (call) {
      inTransitWei = auditCallCommit(call, d.height);
    } else {
      for (const x of debits) check(x, 'DEBIT', value, sender, 'sender');
      for (const x of credits) check(x, 'CREDIT', value, recipient, 'recipient');

      let debitPending = false;
      if (debits.length === 0 && source !== undefined) {
        if (processed(source, d.height)) {
          P(`committed at orchestrator block ${d.height}, but its source shard ${source} recorded no DEBIT (it processed orchestrator blocks up to ${f.orchHeightOf.get(source)})`);
        } else {
          debitPending = true;
          pending.push(`DEBIT on source shard ${source}`);
        }
      }
      let creditPending = false;
      if (credits.length === 0) {
        const late = destinations.filter((s) => !processed(s, d.height));
        if (destinations.length === 0) P('committed, but it has no destination shard to credit');
        else if (late.length === 0) {
          P(`committed at orchestrator block ${d.height}, but no CREDIT on its destination shard${destinations.length > 1 ? 's' : ''} ${destinations.join(', ')}`);
        } else {
          creditPending = true;
          pending.push(`CREDIT on shard ${late.join(' or ')}`);
        }
      } else if (new Set(credits.map((c) => c.shardId)).size > 1) {
        P(`CREDITs on several shards (${[...new Set(credits.map((c) => c.shardId))].join(', ')}); exactly one is expected`);
      }
      // Value between the two halves of a commit is in transit, not lost.
      if (creditPending && debits.length === 1) inTransitWei += debits[0]!.amount ?? 0n;
      if (debitPending && credits.length === 1) inTransitWei -= credits[0]!.amount ?? 0n;
    }
  } else {
    for (const kind of ['DEBIT', 'CREDIT', 'WRITE_SET'] as const) {
      for (const occ of everywhere(kind)) {
        P(`${kind} on shard ${occ.shardId} (block ${occ.height})${occ.amount ? ` of ${occ.amount} wei` : ''}, although it was aborted`);
      }
    }
    if (locks.length === 0) {
      for (const u of unlocks) P(`UNLOCK on shard ${u.shardId} (block ${u.height}) without a LOCK`);
    } else if (unlocks.length === 0) {
      if (processed(source!, d.height)) {
        P(`aborted at orchestrator block ${d.height}, but the ${locks[0]!.amount ?? 0n} wei locked on source shard ${source} for ${locks[0]!.address} was never unlocked (no UNLOCK)`);
      } else {
        pending.push(`UNLOCK on source shard ${source}`);
      }
    } else {
      for (const u of unlocks) check(u, 'UNLOCK', locks[0]!.amount, locks[0]!.address, 'locked account');
    }
    for (const s of destinations) {
      if (!(f.votes.get(s) ?? []).some((v) => v.yes)) continue;
      if (on(s, 'ABORT').length > 0) continue;
      if (processed(s, d.height)) P(`aborted at orchestrator block ${d.height}, but shard ${s}, which voted YES, recorded no ABORT`);
      else pending.push(`ABORT on shard ${s}`);
    }
  }

  const state: TxState = problems.length > 0 ? 'violated' : pending.length > 0 ? 'in-flight' : 'settled';
  return {
    audit: audit(state, { sourceShard: source, involvedShards: [...involved] }),
    inTransitWei,
  };
}
