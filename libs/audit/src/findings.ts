// The audit's findings (problems) and the order in which the report lists them.

/**
 * Where a finding is listed in `AuditReport.problems`: a tuple of numbers, compared element by
 * element (a prefix before anything longer). Each invariant is checked on its own, but the report
 * lists problems in the order of one walk over the input: shard by shard in shard-id order (its
 * listing, then block by block, then account by account, then its balance), then the
 * orchestrator's blocks, then the cross-shard transactions in audit order, then the locks each
 * account holds, then the network's conservation total. Build places with {@link place}.
 */
export type Place = readonly number[];

/** One problem found by a check, with where the report lists it. */
export interface Finding {
  /** Where the problem is listed (see {@link Place}). */
  readonly place: Place;
  /** The problem, as reported. */
  readonly text: string;
}

/** Which part of a block or account a finding is about; the parts are listed in this order. */
export type BlockPart = 'links' | 'contents';
/** Which part of an account a finding is about: how it is listed, then what it has locked. */
export type AccountPart = 'listing' | 'locks';

/**
 * The places of the report, in listing order. `rank` is the position of a shard's listing in the
 * input sorted by shard id (a duplicate listing has its own rank); `i` is a position in a list of
 * the input (a block, an account, an orchestrator block).
 */
export const place = {
  /** How a shard is listed (twice; without blocks). */
  shardListing: (rank: number): Place => [0, rank, 0],
  /** A shard's block: its links to the chain, then its contents. */
  shardBlock: (rank: number, i: number, part: BlockPart): Place => [0, rank, 1, i, part === 'links' ? 0 : 1],
  /** A shard's account: how it is listed, then what it has locked. */
  account: (rank: number, i: number, part: AccountPart): Place => [0, rank, 2, i, part === 'listing' ? 0 : 1],
  /** A shard's balances against its own blocks. */
  shardBalance: (rank: number): Place => [0, rank, 3],
  /** An orchestrator block: its link to the previous one, then its contents. */
  orchestratorBlock: (i: number, part: BlockPart): Place => [1, i, part === 'links' ? 0 : 1],
  /** Cross-shard transactions (each lists its own problems in order). */
  transactions: [2] as Place,
  /** Cross-shard receipts of the shard-led protocol (after the transactions of block-2PC). */
  receipts: [2, 1] as Place,
  /** What accounts hold locked against their open LOCKs. */
  lockedAccounts: [3] as Place,
  /** The conservation total over all shards. */
  conservation: [4] as Place,
};

function comparePlaces(a: Place, b: Place): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * The texts of `findings` in report order: by place, and findings at the same place in the order
 * given (the sort is stable). Pure; does not modify `findings`.
 */
export function orderFindings(findings: readonly Finding[]): string[] {
  return [...findings].sort((a, b) => comparePlaces(a.place, b.place)).map((f) => f.text);
}

/** A function that records a finding at a fixed place; see {@link finder}. */
export type Found = (text: string) => void;

/** Returns a function that appends findings at `at` to `into`. */
export function finder(into: Finding[], at: Place): Found {
  return (text) => into.push({ place: at, text });
}
