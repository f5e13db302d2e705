// Execution of a shard-led call receipt on the contract's shard: the sender's prepaid value and gas credited, the transaction run, what remains returned to the sender's shard
import { runTx, type VM } from '@ethereumjs/vm';
import { Account, createAddressFromString } from '@ethereumjs/util';
import type { Block } from '@ethereumjs/block';
import type { ReceiptCallStep, StepOutcome, SystemOp } from './block-steps';
import type { TrackingStateManager } from './tracking-state';
import { executedOutcome } from './run-outcome';

/** What {@link executeReceiptCall} needs of the block being executed. */
export interface ReceiptCallEnv {
  vm: VM;
  sm: TrackingStateManager;
  block: Block;
  /** Gas used by the block's earlier steps. */
  blockGasUsed: bigint;
  /** Whether an address (lowercase 0x hex) is placed on this shard. */
  isLocal: (address: string) => boolean;
  /** Whether a lock key (lock-keys.ts) is held by a cross-shard contract call of block-2PC [none]. */
  isLockedKey?: (key: string) => boolean;
}

/**
 * Executes a call receipt (see {@link ReceiptCallStep}, docs/ARCHITECTURE.md §3, shard-led commit) inside the
 * block's state and returns its outcomes — a `receipt-credit` of the prepaid amount to the sender,
 * the executed transaction (its receipt is this shard's), a `receipt-debit` of what returns to the
 * sender — and the gas it used; `step.result` is filled in. A call the EVM refuses, or one that
 * reads or writes an account placed on another shard (the sender's aside), is undone: the credit
 * and a debit of the whole prepaid amount are recorded and nothing else changes. A call that
 * writes a key held by block-2PC is undone and marked `deferred` (no outcome): it runs in a later
 * block.
 */
export async function executeReceiptCall(env: ReceiptCallEnv, step: ReceiptCallStep): Promise<{ outcomes: StepOutcome[]; gasUsed: bigint }> {
  const sm = env.sm;
  const d = step.tx;
  const sender = createAddressFromString(d.from);
  const credit: SystemOp = { kind: 'receipt-credit', txHash: d.hash, address: d.from, amount: step.prepaid };
  const giveBack = (error: string) => {
    step.result = { success: false, gasUsed: 0n, error, returned: step.prepaid };
    return { outcomes: [{ kind: 'system' as const, op: credit }, { kind: 'system' as const, op: { ...credit, kind: 'receipt-debit' as const } }], gasUsed: 0n };
  };
  const before = await sm.getAccount(sender);
  const reads = new Set<string>();
  sm.beginTx();
  sm.trackTxKeys = env.isLockedKey !== undefined;
  sm.reads = reads;
  await sm.checkpoint();
  let r: Awaited<ReturnType<typeof runTx>>;
  try {
    const funded = before ? new Account(before.nonce, before.balance + step.prepaid, before.storageRoot, before.codeHash) : new Account(0n, step.prepaid);
    await sm.putAccount(sender, funded);
    r = await runTx(env.vm, { tx: d.tx, block: env.block, blockGasUsed: env.blockGasUsed, skipHardForkValidation: true, skipNonce: true, skipBlockGasLimitValidation: true });
  } catch (e) {
    sm.reads = undefined;
    await sm.revert();
    return giveBack(`refused on the contract's shard: ${(e as Error).message}`);
  }
  sm.reads = undefined;
  const own = d.from.toLowerCase();
  const foreign = [...new Set([...reads, ...sm.txTouched])].find((a) => a !== own && !env.isLocal(a));
  if (foreign) {
    await sm.revert();
    return giveBack(`reaches ${foreign}, placed on another shard: the call needs block-2PC`);
  }
  const held = env.isLockedKey ? (await sm.txWrittenKeys()).find((k) => env.isLockedKey!(k)) : undefined;
  if (held) {
    await sm.revert();
    step.result = { success: false, gasUsed: 0n, returned: 0n, deferred: true };
    return { outcomes: [], gasUsed: 0n };
  }
  const after = (await sm.getAccount(sender)) ?? new Account(0n, 0n);
  const returned = after.balance - (before?.balance ?? 0n);
  // The sender's account lives on its own shard: restore what this shard held of it (nothing).
  if (before) await sm.putAccount(sender, before);
  else {
    await sm.deleteAccount(sender);
    sm.touched.delete(own);
  }
  await sm.commit();
  const err = r.execResult.exceptionError;
  step.result = { success: err === undefined, gasUsed: r.totalGasSpent, returned, ...(err ? { error: err.error } : {}) };
  const gasUsed = env.blockGasUsed + r.totalGasSpent;
  return {
    outcomes: [
      { kind: 'system', op: credit },
      executedOutcome(d, r, gasUsed),
      { kind: 'system', op: { kind: 'receipt-debit', txHash: d.hash, address: d.from, amount: returned } },
    ],
    gasUsed: r.totalGasSpent,
  };
}
