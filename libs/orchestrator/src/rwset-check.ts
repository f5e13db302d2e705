// Pure checks the orchestrator applies to a simulated RwSet before it orders a cross-shard contract call.
import type { RwSet, Transaction } from '@shardlab/proto';

/** The price per gas of a transaction at `baseFee`: min(maxFee, baseFee + tip), or its gas price (wei). */
function priceOf(tx: Transaction, baseFee: bigint): bigint {
  if (tx.maxFeePerGas) {
    const viaTip = baseFee + BigInt(tx.maxPriorityFeePerGas || '0');
    const cap = BigInt(tx.maxFeePerGas);
    return viaTip < cap ? viaTip : cap;
  }
  return BigInt(tx.gasPrice || '0');
}

/**
 * Why an RwSet must not be ordered (undefined when it may): an address on the wrong shard, no
 * item for the sender on its home shard, a `new_nonce` on the sender's item (its home shard owns
 * its nonce: executing the transaction raises it by one), balance deltas that do not sum to minus
 * the fee (value conservation: Σ deltas = −gasUsed × effective gas price, in wei), or more gas used
 * than the gas limit. Other items may carry created code and a new nonce (docs/ARCHITECTURE.md §3).
 */
export function checkRwSet(tx: Transaction, homeShard: number, rwSet: RwSet, shardOf: (a: string) => number, baseFee: bigint): string | undefined {
  const from = tx.from.toLowerCase();
  if (!rwSet.addresses.some((a) => a.address.toLowerCase() === from && Number(a.shardId) === homeShard)) {
    return `the RwSet has no item for the sender ${from} on its home shard ${homeShard}`;
  }
  let sum = 0n;
  for (const a of rwSet.addresses) {
    const s = shardOf(a.address.toLowerCase());
    if (Number(a.shardId) !== s) return `the RwSet places ${a.address} on shard ${a.shardId}, but it is on shard ${s}`;
    if (a.newNonce !== undefined && a.address.toLowerCase() === from) return `the RwSet sets the nonce of the sender ${from}, which only its home shard changes`;
    try {
      sum += BigInt(a.balanceDelta || '0');
    } catch {
      return `malformed balance delta ${JSON.stringify(a.balanceDelta)} of ${a.address}`;
    }
  }
  const fee = BigInt(rwSet.gasUsed) * priceOf(tx, baseFee);
  if (sum !== -fee) return `value conservation violated: balance deltas sum to ${sum} wei, expected minus the fee ${fee} wei`;
  if (BigInt(rwSet.gasUsed) > BigInt(tx.gasLimit)) return `gas used ${rwSet.gasUsed} exceeds the gas limit ${tx.gasLimit}`;
  return undefined;
}
