// Atomicity of cross-shard transactions over the network: every transaction audited in order, what is in flight, and the value in transit.
import type { TxFacts } from './atomicity-context';
import { auditTx } from './atomicity-tx';
import { place, type Finding } from './findings';
import type { NetworkIndex } from './network-index';
import type { AtomicityReport, InFlightTx, TxAudit } from './report';

/** The result of {@link checkAtomicity}. */
export interface AtomicityResult {
  /** The network's cross-shard transactions. */
  report: AtomicityReport;
  /** Σ value between the DEBIT and CREDIT of committed transactions, in wei (for conservation). */
  inTransitWei: bigint;
  /** Every transaction's problems, in transaction order. */
  findings: Finding[];
}

/**
 * Audits every cross-shard transaction of the index in `index.txHashes` order (docs/ARCHITECTURE.md
 * §5.2, pure; see `auditNetwork` for the rules), given each shard's orchestrator cursor; a
 * client-led one against its shards' decision records instead of orchestrator blocks.
 */
export function checkAtomicity(index: NetworkIndex, orchHeightOf: ReadonlyMap<number, number>): AtomicityResult {
  let inTransitWei = 0n;
  const transactions: TxAudit[] = [];
  const inFlightTxs: InFlightTx[] = [];
  const findings: Finding[] = [];
  for (const h of index.txHashes) {
    const r = auditTx(h, txFacts(index, h, orchHeightOf));
    inTransitWei += r.inTransitWei;
    transactions.push(r.audit);
    for (const text of r.audit.problems) findings.push({ place: place.transactions, text });
    if (r.audit.state === 'in-flight') inFlightTxs.push({ txHash: h, stage: stageOf(r.audit), detail: r.audit.pending.join('; ') });
  }
  const report: AtomicityReport = {
    committed: transactions.filter((t) => t.decision === 'commit').length,
    aborted: transactions.filter((t) => t.decision === 'abort').length,
    inFlight: inFlightTxs.length,
    inFlightTxs,
    transactions,
    ok: transactions.every((t) => t.state === 'settled'),
  };
  return { report, inTransitWei, findings };
}

/** What the index knows of transaction `h`: a client-led one's order and decisions come from its shards' blocks. */
function txFacts(index: NetworkIndex, h: string, orchHeightOf: ReadonlyMap<number, number>): TxFacts {
  const cl = index.clientLed.txs.get(h);
  return {
    ordered: cl ? cl.ordered : index.orchestrator.ordered.get(h),
    decisions: cl ? cl.decisions : (index.orchestrator.decisions.get(h) ?? []),
    effects: index.effects.get(h) ?? new Map(),
    votes: index.votes.get(h) ?? new Map(),
    receipts: index.receipts.get(h) ?? [],
    orchHeightOf,
    haveOrchestrator: index.haveOrchestrator,
    ...(cl ? { clientLed: cl.facts } : {}),
  };
}

/** Where an in-flight transaction stands. */
function stageOf(t: TxAudit): InFlightTx['stage'] {
  if (t.decision === 'commit') return 'committing';
  if (t.decision === 'abort') return 'aborting';
  return t.orderedAt === undefined && !t.clientLed ? 'awaiting-order' : 'awaiting-decision';
}
