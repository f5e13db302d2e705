// Conservation of ether, exact in wei: per shard against its own blocks, and over the whole network.
import { place, type Finding } from './findings';
import type { ConservationReport, ShardSummary, SystemKindName } from './report';
import type { IndexedShard } from './shard-index';

/** One shard's books, in wei (the conservation fields of {@link ShardSummary}). */
export type ShardLedger = Pick<ShardSummary, 'genesisWei' | 'burnedWei' | 'creditedWei' | 'debitedWei' | 'expectedWei' | 'actualWei' | 'balanced'>;

/** The result of {@link checkConservation}. */
export interface ConservationResult {
  /** Shard id → its books. */
  ledgers: Map<number, ShardLedger>;
  /** The network's figures. */
  report: ConservationReport;
  /** Shards whose balances do not match their blocks, and a network total that does not add up. */
  findings: Finding[];
}

function sumOf(amounts: readonly { amount: bigint | undefined }[] | undefined): bigint {
  return (amounts ?? []).reduce((acc, x) => acc + (x.amount ?? 0n), 0n);
}

/**
 * A shard's books: balances = genesis − burn + CREDITs − DEBITs, receipt credits and debits of
 * the shard-led protocol included (local transfers and tips stay on the shard). Malformed amounts count as zero (they are reported by the indexing).
 */
function shardLedger(shard: IndexedShard): ShardLedger {
  const moved = (kind: SystemKindName) => sumOf(shard.effectsByKind.get(kind));
  const genesisWei = shard.genesisWei;
  const burnedWei = shard.receipts.reduce((acc, r) => acc + r.burnedWei, 0n);
  const creditedWei = moved('CREDIT') + moved('RECEIPT_CREDIT');
  const debitedWei = moved('DEBIT') + moved('RECEIPT_DEBIT');
  const expectedWei = genesisWei - burnedWei + creditedWei - debitedWei;
  const actualWei = shard.accounts.reduce((acc, a) => acc + (a.balance ?? 0n), 0n);
  return { genesisWei, burnedWei, creditedWei, debitedWei, expectedWei, actualWei, balanced: actualWei === expectedWei };
}

/**
 * Checks conservation (docs/ARCHITECTURE.md §5.1, pure): Σ balances + `inTransitWei` (value between
 * the DEBIT and the CREDIT of committed cross-shard transactions, from the atomicity check) =
 * Σ genesis credits − Σ burned, exactly; and each shard's balances against its own blocks, which
 * names the shard at fault.
 */
export function checkConservation(shards: readonly IndexedShard[], inTransitWei: bigint): ConservationResult {
  const findings: Finding[] = [];
  const ledgers = new Map<number, ShardLedger>();
  for (const shard of shards) {
    const l = shardLedger(shard);
    ledgers.set(shard.shardId, l);
    if (!l.balanced) {
      findings.push({
        place: place.shardBalance(shard.rank),
        text:
          `shard ${shard.shardId}: balances total ${l.actualWei} wei, but its blocks imply ${l.expectedWei} wei ` +
          `(genesis ${l.genesisWei} − burned ${l.burnedWei} + credited ${l.creditedWei} − debited ${l.debitedWei}); ` +
          `difference ${l.actualWei - l.expectedWei} wei`,
      });
    }
  }
  const all = [...ledgers.values()];
  const genesisWei = all.reduce((a, l) => a + l.genesisWei, 0n);
  const burnedWei = all.reduce((a, l) => a + l.burnedWei, 0n);
  const actualWei = all.reduce((a, l) => a + l.actualWei, 0n);
  const expectedWei = genesisWei - burnedWei;
  const differenceWei = actualWei + inTransitWei - expectedWei;
  const report: ConservationReport = {
    genesisWei,
    burnedWei,
    expectedWei,
    actualWei,
    inTransitWei,
    differenceWei,
    ok: differenceWei === 0n && all.every((l) => l.balanced),
  };
  if (differenceWei !== 0n) {
    findings.push({
      place: place.conservation,
      text:
        `conservation: balances total ${actualWei} wei` +
        (inTransitWei !== 0n ? ` (+ ${inTransitWei} wei in transit)` : '') +
        `, but genesis ${genesisWei} − burned ${burnedWei} = ${expectedWei} wei; difference ${differenceWei} wei`,
    });
  }
  return { ledgers, report, findings };
}
