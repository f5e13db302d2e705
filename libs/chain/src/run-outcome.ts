// The executed outcome of a transaction that runTx ran: success, gas, effective price, created contract, logs
import type { runTx } from '@ethereumjs/vm';
import { toHex } from '@shardlab/common';
import type { TxOutcome } from './block-steps';
import type { DecodedTx } from './tx';

/**
 * The `executed` outcome of `d` from `runTx`'s result `r`: success unless the EVM stopped with an
 * exception (revert, out of gas), gas used, the effective price paid per gas (wei), the created
 * contract's address, the logs; `cumulativeGasUsed` is the block's gas up to and including it.
 */
export function executedOutcome(d: DecodedTx, r: Awaited<ReturnType<typeof runTx>>, cumulativeGasUsed: bigint): Extract<TxOutcome, { kind: 'executed' }> {
  const err = r.execResult.exceptionError;
  return {
    kind: 'executed',
    tx: d,
    success: err === undefined,
    gasUsed: r.totalGasSpent,
    cumulativeGasUsed,
    effectiveGasPrice: r.totalGasSpent === 0n ? 0n : r.amountSpent / r.totalGasSpent,
    ...(r.createdAddress ? { contractAddress: r.createdAddress.toString() } : {}),
    logs: r.receipt.logs.map(([address, topics, data]) => ({ address: toHex(address), topics: topics.map(toHex), data })),
    ...(err ? { error: err.error } : {}),
  };
}
