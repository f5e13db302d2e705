// Pure ordering of a state shard's block steps under block-2PC (finalize first, acceptances in each sender's nonce order).
import type { BlockStep } from '@shardlab/chain';

/** The sender of a user step (a transaction or an acceptance), undefined for a system step. */
function txOf(st: BlockStep) {
  return 'kind' in st ? (st.kind === 'accept' ? st.tx : undefined) : st;
}

/**
 * Reorders block steps so that each sender's transactions come in nonce order, keeping the
 * positions at which senders first appear (other steps stay where they are).
 */
export function inNonceOrder(steps: BlockStep[]): BlockStep[] {
  const bySender = new Map<string, BlockStep[]>();
  for (const st of steps) {
    const tx = txOf(st);
    if (tx) bySender.set(tx.from, [...(bySender.get(tx.from) ?? []), st]);
  }
  for (const list of bySender.values()) list.sort((a, b) => Number(txOf(a)!.nonce - txOf(b)!.nonce));
  const next = new Map<string, number>();
  return steps.map((st) => {
    const tx = txOf(st);
    if (!tx) return st;
    const i = next.get(tx.from) ?? 0;
    next.set(tx.from, i + 1);
    return bySender.get(tx.from)![i]!;
  });
}

/**
 * The order of a block's steps (docs/ARCHITECTURE.md §3): `finalize` (commits, aborts, unlocks of
 * decided transactions) first; then the `acceptances` (ordered copies of cross-shard transactions,
 * reservations aborted before acceptance) in nonce order per sender, keeping the positions senders
 * first appear at — except that the acceptances of a sender with transactions among `entries` go
 * right after that sender's last entry (those have lower nonces: a reservation holds back its
 * sender's later ones), so that each sender's nonce order holds; then the mempool `entries` in
 * their order.
 */
export function orderBlockSteps(finalize: BlockStep[], acceptances: BlockStep[], entries: readonly { from: string; step: BlockStep }[]): BlockStep[] {
  const steps = [...finalize];
  const senders = new Set(entries.map((e) => e.from));
  const rest: BlockStep[] = [];
  const late = new Map<string, BlockStep[]>();
  for (const st of inNonceOrder(acceptances)) {
    const from = 'kind' in st && st.kind === 'accept' ? st.tx.from : undefined;
    if (from && senders.has(from)) late.set(from, [...(late.get(from) ?? []), st]);
    else rest.push(st);
  }
  steps.push(...rest);
  const lastOfSender = new Map(entries.map((e, i) => [e.from, i] as const));
  entries.forEach((e, i) => {
    steps.push(e.step);
    if (lastOfSender.get(e.from) === i) steps.push(...(late.get(e.from) ?? []));
  });
  return steps;
}
