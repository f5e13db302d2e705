// What the atomicity steps share while auditing one cross-shard transaction: its facts, its parties, its findings.
import type { ClientLedFacts } from './client-led-index';
import type { CallSet, Decided, Ordered } from './orchestrator-index';
import type { SystemKindName, TxAudit, TxState } from './report';
import type { ReceiptSeen, SysOcc, TxEffects, VoteSeen } from './shard-index';

/**
 * Everything the audit read about one cross-shard transaction. For a client-led one (`clientLed`
 * set) the order is its source shard's acceptance and the decisions are the shards' records.
 */
export interface TxFacts {
  /** Its `ct_to_order` entry (client-led: its acceptance); undefined when the orchestrator never ordered it. */
  ordered: Ordered | undefined;
  /** Its decisions, in orchestrator order (the first one counts); client-led: every shard's record, the coordinator's first. */
  decisions: Decided[];
  /** Its system transactions, shard → kind → occurrences. */
  effects: TxEffects;
  /** Its votes, shard → votes. */
  votes: Map<number, VoteSeen[]>;
  /** Receipts of the transaction on every shard (a call's acceptance receipt is on its source). */
  receipts: ReceiptSeen[];
  /** Shard → highest orchestrator height it processed (every shard the audit read). */
  orchHeightOf: ReadonlyMap<number, number>;
  /** Whether the input has orchestrator blocks at all. */
  haveOrchestrator: boolean;
  /** Set for a client-led transaction: decided in shard blocks, with no orchestrator round. */
  clientLed?: ClientLedFacts;
}

/** Who takes part in a decided or ordered transaction. */
export interface TxParties {
  /** Every shard that had to vote. */
  involved: number[];
  /** The sender's shard (ordered, else the one shard with a LOCK, DEBIT or UNLOCK); undefined when it cannot be told. */
  source: number | undefined;
  /** The involved shards other than the source. */
  destinations: number[];
  /** The ordered value in wei. */
  value: bigint | undefined;
  /** The ordered sender, lower-case. */
  sender: string | undefined;
  /** The ordered recipient, lower-case; undefined when empty (a deployment). */
  recipient: string | undefined;
  /** The RwSet of a contract call; undefined for a transfer. */
  call: CallSet | undefined;
  /** A client-led contract call, whose RwSet no block carries. */
  opaqueCall: boolean;
}

/** Heights of occurrences, for messages: `3, 5`. */
export function heightsOf(occs: readonly SysOcc[]): string {
  return occs.map((o) => o.height).join(', ');
}

/**
 * One cross-shard transaction under audit: its facts, lookups over them, and the problems
 * (each prefixed `tx <hash>: `) and pending steps found so far, in the order found.
 */
export class TxBook {
  /** Violations found, each prefixed with the transaction. */
  readonly problems: string[] = [];
  /** What still has to happen while it is in flight. */
  readonly pending: string[] = [];

  constructor(
    readonly txHash: string,
    readonly facts: TxFacts,
  ) {}

  /** Its `ct_to_order` entry. */
  get ordered(): Ordered | undefined {
    return this.facts.ordered;
  }

  /** Its (first) decision. */
  get decision(): Decided | undefined {
    return this.facts.decisions[0];
  }

  /** Records a violation. */
  problem(msg: string): void {
    this.problems.push(`tx ${this.txHash}: ${msg}`);
  }

  /** Its occurrences of `kind` on shard `s` (none when `s` is undefined). */
  on(s: number | undefined, kind: SystemKindName): SysOcc[] {
    return s === undefined ? [] : (this.facts.effects.get(s)?.get(kind) ?? []);
  }

  /** Its occurrences of `kind` on every shard. */
  everywhere(kind: SystemKindName): SysOcc[] {
    return [...this.facts.effects.keys()].flatMap((s) => this.on(s, kind));
  }

  /**
   * Whether shard `s` has processed the orchestrator block at `orchHeight`; client-led, whether
   * it recorded a decision on the transaction (it applies a decision in the block that records it).
   */
  processed(s: number, orchHeight: number): boolean {
    const cl = this.facts.clientLed;
    if (cl) return cl.recordedAt.has(s);
    return (this.facts.orchHeightOf.get(s) ?? -1) >= orchHeight;
  }

  /** `(it processed orchestrator blocks up to N)` for shard `s`; client-led, where it recorded the decision, if it did. */
  upTo(s: number): string {
    const cl = this.facts.clientLed;
    if (cl) {
      const at = cl.recordedAt.get(s);
      return at === undefined ? '(it recorded no decision)' : `(it recorded the decision at block ${at})`;
    }
    return `(it processed orchestrator blocks up to ${this.facts.orchHeightOf.get(s) ?? -1})`;
  }

  /** Who took decision `d`, for messages: `at orchestrator block N`; client-led `by its coordinator` or `by the lock timeout of shard S (block N)`. */
  at(d: Decided): string {
    if (!this.facts.clientLed) return `at orchestrator block ${d.height}`;
    return d.lockTimeout ? `by the lock timeout of shard ${d.shardId} (block ${d.height})` : 'by its coordinator';
  }

  /** The audit of the transaction in `state`; `extra` overrides its (unknown) source and involved shards. */
  audit(state: TxState, extra: Partial<TxAudit> = {}): TxAudit {
    const o = this.ordered;
    const d = this.decision;
    return {
      txHash: this.txHash,
      decision: d ? (d.commit ? 'commit' : 'abort') : 'none',
      sourceShard: undefined,
      involvedShards: [],
      ...(this.facts.clientLed ? { clientLed: true } : {}),
      valueWei: o?.value,
      orderedAt: this.facts.clientLed ? undefined : o?.height,
      decidedAt: d?.height,
      state,
      pending: this.pending,
      problems: this.problems,
      ...extra,
    };
  }
}
