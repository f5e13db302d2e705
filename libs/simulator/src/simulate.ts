// simulate: runs one cross-shard transaction with @ethereumjs/vm over remote shard state, checks fee, nonce, code and storage invariants, and builds its RwSet.
/**
 * Simulation of one cross-shard transaction (docs/ARCHITECTURE.md §3): run it with `@ethereumjs/vm`
 * over the shards' state at one reference block per shard, and describe what it read and wrote as
 * an RwSet.
 */
import type { Common } from '@ethereumjs/common';
import { createBlock } from '@ethereumjs/block';
import { createVM, runTx, type RunTxResult } from '@ethereumjs/vm';
import { KECCAK256_NULL, KECCAK256_RLP, createAddressFromString, equalsBytes } from '@ethereumjs/util';
import { MAX_GAS_LIMIT, decodeTransaction, nativeKeccak256, type DecodedTx } from '@shardlab/chain';
import { errors, toHex } from '@shardlab/common';
import { reasonMessage, reasons, type AddressRwSet, type Log, type Reason, type RwSet, type SimulateResponse, type Transaction } from '@shardlab/proto';
import { balanceObservingOpcodes } from './balance-observers';
import { toWord } from './proofs';
import { CodeCache, RemoteStateManager, type StateSource, type TouchedAccount } from './remote-state';

/** Base fee per gas of the network, in wei (1 gwei, as the state shards' executor). */
export const DEFAULT_BASE_FEE_PER_GAS = 1_000_000_000n;

/**
 * The coinbase of simulated blocks: a fee sink outside of every shard's state that collects the
 * priority fees (`keccak256("shardlab.simulator.fee-sink")[12:]`; nobody holds its key). It is
 * served locally, never read from a shard and never part of an RwSet; a transaction that sends
 * anything else to it fails the conservation check.
 */
export const FEE_SINK = toHex(nativeKeccak256(new TextEncoder().encode('shardlab.simulator.fee-sink')).subarray(12));

/** Options of {@link simulate}. */
export interface SimulateOpts {
  /** The chain's Common (`createChainCommon` of `@shardlab/chain` with the network's chain id). */
  common: Common;
  /** Code cache shared across simulations; default a private one. */
  codeCache?: CodeCache;
  /** Base fee per gas in wei; default {@link DEFAULT_BASE_FEE_PER_GAS}. */
  baseFeePerGas?: bigint;
  /** Block gas limit; default 30,000,000. */
  blockGasLimit?: bigint;
  /** Clock for the block timestamp, in ms; default `Date.now`. */
  now?: () => number;
  /** Given the run's state manager once it exists (e.g. to learn what a failed run read). */
  onState?: (state: RemoteStateManager) => void;
}

/** A transaction as the Simulate RPC takes it: the wire message, or just its raw signed bytes. */
export type SimulationInput = Transaction | Uint8Array;

/**
 * Decodes the transaction to simulate from its raw signed bytes (the decoded fields of the wire
 * message are redundant; the hash and sender, when given, must match the raw transaction).
 * @throws ShardLabError INVALID_ARGUMENT for a missing or malformed transaction, a wrong chain
 *   id, a bad signature, or decoded fields that contradict the raw bytes.
 */
export function decodeSimulationInput(input: SimulationInput | undefined, common: Common): DecodedTx {
  if (input === undefined) throw errors.invalidArgument('tx is required');
  const raw = input instanceof Uint8Array ? input : input.raw;
  if (!raw || raw.length === 0) throw errors.invalidArgument('tx.raw is required: the raw signed transaction');
  const d = decodeTransaction(new Uint8Array(raw), common);
  if (!(input instanceof Uint8Array)) {
    if (input.hash !== '' && input.hash.toLowerCase() !== d.hash) {
      throw errors.invalidArgument(`tx.hash ${input.hash} is not the hash ${d.hash} of tx.raw`);
    }
    if (input.from !== '' && input.from.toLowerCase() !== d.from) {
      throw errors.invalidArgument(`tx.from ${input.from} is not the sender ${d.from} recovered from tx.raw`);
    }
  }
  return d;
}

/** The price per gas a transaction pays at `baseFee`: min(maxFee, baseFee + tip), or its gas price. */
export function effectiveGasPrice(d: DecodedTx, baseFee: bigint): bigint {
  const tx = d.tx;
  if ('maxPriorityFeePerGas' in tx) {
    const viaTip = baseFee + tx.maxPriorityFeePerGas;
    return viaTip < tx.maxFeePerGas ? viaTip : tx.maxFeePerGas;
  }
  return d.maxFeePerGas;
}

/** A failed simulation for `cause` (its text is the response's `error`). */
const failed = (cause: Reason): SimulateResponse => ({ success: false, error: reasonMessage(cause), cause, rwSet: undefined });

/** Human-readable reason of an EVM failure: the revert reason when the contract gave one. */
export function failureReason(result: RunTxResult): string {
  const err = result.execResult.exceptionError;
  if (!err) return '';
  if (err.error !== 'revert') return `execution failed: ${err.error}`;
  const data = result.execResult.returnValue;
  if (data.length === 0) return 'execution reverted';
  const selector = toHex(data.subarray(0, 4));
  try {
    if (selector === '0x08c379a0' && data.length >= 68) {
      // Error(string): offset, length, bytes.
      const len = Number(BigInt(toHex(data.subarray(36, 68))));
      if (68 + len <= data.length) return `execution reverted: ${new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(68, 68 + len))}`;
    }
    if (selector === '0x4e487b71' && data.length >= 36) {
      return `execution reverted: panic 0x${BigInt(toHex(data.subarray(4, 36))).toString(16)}`;
    }
  } catch {
    // fall through to the raw data
  }
  return `execution reverted with data ${toHex(data)}`;
}

/** The message of an error thrown by runTx, without ethereumjs's trailing block/tx dump. */
function refusal(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\((vm hf|block)=.*$/s, '').trim();
}

/**
 * Nonce changes an RwSet cannot carry; see {@link simulate}. The sender's nonce must rise by one
 * (its home shard applies it); any other nonce may only rise (CREATE/CREATE2 by a contract, a
 * created account starting at 1: EIP-161), and must fit the RwSet's `new_nonce` (a safe integer).
 */
function checkNonces(d: DecodedTx, touched: TouchedAccount[]): string | undefined {
  for (const t of touched) {
    const before = t.before?.nonce ?? 0n;
    const after = t.after?.nonce ?? 0n;
    if (t.address === d.from) {
      if (after !== before + 1n) return `sender ${t.address} nonce went from ${before} to ${after}, expected ${before + 1n}`;
      continue;
    }
    if (after < before) return `nonce of ${t.address} goes down from ${before} to ${after} (the account is deleted)`;
    if (after > BigInt(Number.MAX_SAFE_INTEGER)) return `nonce of ${t.address} rises to ${after}, beyond what an RwSet carries (${Number.MAX_SAFE_INTEGER})`;
  }
  return undefined;
}

/** The nonce an RwSet item carries for `t`: its nonce after, when it changed (never the sender's). */
function newNonceOf(d: DecodedTx, t: TouchedAccount): number | undefined {
  if (t.address === d.from) return undefined;
  const before = t.before?.nonce ?? 0n;
  const after = t.after?.nonce ?? 0n;
  return after === before ? undefined : Number(after);
}

/**
 * Simulates `input` over `source` and returns the Simulate answer.
 *
 * Execution: the transaction runs with `runTx` in a block whose number is the next height of the
 * sender's shard (its reference height + 1), timestamp now, base fee `opts.baseFeePerGas`
 * (1 gwei) and coinbase {@link FEE_SINK}. The sender, the recipient and the access list are
 * fetched (in parallel) before execution; everything else on first use. Each shard is read at one
 * reference block (the source pins it), listed in `rwSet.referenceBlocks`.
 *
 * The RwSet names every address the execution read, in first-touch order (the sender first),
 * with its shard and:
 * - `reads`: first the account item (`slot` '', `value` the RLP account proven at the reference
 *   block, '0x' for an account that did not exist; `proof` the account proof), then each storage
 *   slot read (`value` a 32-byte word; `proof` the storage proof, empty when the account item
 *   proves the value: an absent account or one without storage). Slots of storage the
 *   transaction itself created are not reads.
 * - `writes`: each slot whose final value differs from its reference value (32-byte words).
 * - `balanceDelta`: final − reference balance, in wei (signed).
 * - `balanceRead`: whether the execution observed the balance (BALANCE on it, SELFBALANCE, a
 *   value transfer's sufficiency check or SELFDESTRUCT inside it, any debit of it, or it is the
 *   sender); false for an account that was only credited (value sent to it by a call or by the
 *   transaction, a SELFDESTRUCT beneficiary).
 * - `createdCode`: the code of a contract the transaction deployed (top level, CREATE or CREATE2).
 * - `newNonce`: the nonce after, when the transaction changed it: a contract that ran CREATE or
 *   CREATE2 (+1 each), an account created by the transaction (1, EIP-161; more if its constructor
 *   created contracts). Never set for the sender.
 * The sender's item is where the transaction's own effects on its sender show: its balance delta
 * includes the value sent and the whole fee (−value − gasUsed × effectiveGasPrice, plus anything
 * sent back to it), and executing the transaction increments its nonce by one (implied, as for
 * any transaction; not a field).
 *
 * Invariants checked (a violation answers `success: false` naming it): value only moves, so the
 * balance deltas sum to minus the fee, −gasUsed × effectiveGasPrice, where the base-fee part
 * (baseFee × gasUsed) is burned and the priority fee goes to {@link FEE_SINK}, outside the RwSet
 * (and the fee sink received exactly that priority fee); the sender's nonce rises by one and no
 * nonce goes down; code appears only at addresses that had none; storage is cleared only where
 * there was none.
 *
 * A transaction that reverts or fails in the EVM answers `success: false` with the revert reason
 * (`execution reverted: <reason>`) or the EVM error (`execution failed: out of gas`); one that
 * `runTx` refuses (nonce, balance, fee cap below the base fee) with why. `rwSet` is set only on
 * success.
 * @throws ShardLabError INVALID_ARGUMENT for a malformed transaction (see
 *   {@link decodeSimulationInput}); the source's error (UNAVAILABLE) when a shard could not be read
 *   or answered an invalid proof.
 */
export async function simulate(input: SimulationInput | undefined, source: StateSource, opts: SimulateOpts): Promise<SimulateResponse> {
  const d = decodeSimulationInput(input, opts.common);
  const baseFee = opts.baseFeePerGas ?? DEFAULT_BASE_FEE_PER_GAS;
  const state = new RemoteStateManager({ source, ...(opts.codeCache ? { codeCache: opts.codeCache } : {}), localAccounts: [FEE_SINK] });
  opts.onState?.(state);

  const accessList: [string, string[]][] =
    'accessList' in d.tx ? d.tx.accessList.map(([a, slots]) => [toHex(a), slots.map((s) => toWord(s))] as [string, string[]]) : [];
  const prefetches: Promise<void>[] = [state.prefetch(d.from, accessList.filter(([a]) => a === d.from).flatMap(([, s]) => s))];
  if (d.to && d.to !== d.from) prefetches.push(state.prefetch(d.to, accessList.filter(([a]) => a === d.to).flatMap(([, s]) => s)));
  for (const [a, slots] of accessList) if (a !== d.from && a !== d.to) prefetches.push(state.prefetch(a, slots));
  await Promise.all(prefetches);

  const home = state.referenceOf(d.from);
  const common = opts.common;
  const block = createBlock(
    {
      header: {
        number: BigInt((home?.height ?? 0) + 1),
        timestamp: BigInt(Math.floor((opts.now ?? Date.now)() / 1000)),
        gasLimit: opts.blockGasLimit ?? MAX_GAS_LIMIT,
        baseFeePerGas: baseFee,
        coinbase: createAddressFromString(FEE_SINK),
      },
    },
    { common, freeze: false },
  );
  // BALANCE, SELFBALANCE and the value opcodes report whose balance they observe (balanceRead).
  const customOpcodes = balanceObservingOpcodes(common, (a) => state.observeBalance(a));
  const vm = await createVM({ common, stateManager: state, evmOpts: { customOpcodes } });

  let result: RunTxResult;
  try {
    // The home shard checked the nonce against its own queue: earlier transactions of the sender
    // may not be in a block yet, so the simulated state's nonce is not the one to check.
    result = await runTx(vm, { tx: d.tx, block, skipHardForkValidation: true, skipNonce: true });
  } catch (err) {
    if (state.failure !== undefined) throw state.failure;
    return failed(reasons.invalidTransaction(`transaction refused: ${refusal(err)}`));
  }
  if (state.failure !== undefined) throw state.failure;
  if (result.execResult.exceptionError) return failed(reasons.reverted(failureReason(result)));

  const touched = await state.touched();
  const gasUsed = result.totalGasSpent;
  const price = effectiveGasPrice(d, baseFee);
  const fee = gasUsed * price;
  const tip = gasUsed * (price - baseFee);

  // Invariants.
  const delta = (t: TouchedAccount) => (t.after?.balance ?? 0n) - (t.before?.balance ?? 0n);
  const sum = touched.reduce((acc, t) => acc + delta(t), 0n);
  const sink = state.localAccount(FEE_SINK)?.balance ?? 0n;
  if (result.amountSpent !== fee) {
    return failed(reasons.invalidRwSet(`invariant violated: runTx charged ${result.amountSpent} wei, expected gas used ${gasUsed} × price ${price} = ${fee} wei`));
  }
  if (sink !== tip) {
    return failed(reasons.invalidRwSet(`invariant violated: the fee sink ${FEE_SINK} received ${sink} wei, expected the priority fee ${tip} wei (the transaction sends value to the simulator's coinbase)`));
  }
  if (sum !== -fee) {
    return failed(reasons.invalidRwSet(`invariant violated: balance deltas sum to ${sum} wei, expected minus the fee (${gasUsed} gas × ${price} wei = ${fee} wei; ${gasUsed * baseFee} burned, ${tip} priority fee)`));
  }
  const nonceProblem = checkNonces(d, touched);
  if (nonceProblem) return failed(reasons.invalidRwSet(`not representable as an RwSet: ${nonceProblem}`));
  for (const t of touched) {
    const codeBefore = t.before?.codeHash ?? KECCAK256_NULL;
    const codeAfter = t.after?.codeHash ?? KECCAK256_NULL;
    if (!equalsBytes(codeBefore, codeAfter) && !equalsBytes(codeBefore, KECCAK256_NULL)) {
      return failed(reasons.invalidRwSet(`not representable as an RwSet: the code of ${t.address} changes`));
    }
    if (!equalsBytes(codeAfter, KECCAK256_NULL) && t.createdCode === undefined && !equalsBytes(codeBefore, codeAfter)) {
      return failed(reasons.invalidRwSet(`not representable as an RwSet: code appears at ${t.address} without being deployed`));
    }
    if (t.storageCleared && t.before && !equalsBytes(t.before.storageRoot, KECCAK256_RLP)) {
      return failed(reasons.invalidRwSet(`not representable as an RwSet: the storage of ${t.address} is cleared`));
    }
  }

  const addresses: AddressRwSet[] = touched.map((t) => {
    const newNonce = newNonceOf(d, t);
    return {
      address: t.address,
      shardId: t.shardId,
      reads: [
        { slot: '', value: toHex(t.beforeRlp), proof: t.accountProof.map(toBuffer) },
        ...t.reads.map((r) => ({ slot: r.slot, value: toWord(r.value), proof: r.proof.map(toBuffer) })),
      ],
      writes: t.writes.map((w) => ({ slot: w.slot, oldValue: toWord(w.oldValue), newValue: toWord(w.newValue) })),
      balanceDelta: delta(t).toString(),
      createdCode: t.createdCode ? toHex(t.createdCode) : '',
      // The sender's balance is always read: runTx checks it covers value + gas limit × fee cap.
      balanceRead: t.balanceRead || t.address === d.from,
      ...(newNonce !== undefined ? { newNonce } : {}),
    };
  });
  const logs: Log[] = result.receipt.logs.map(([address, topics, data]) => ({
    address: toHex(address),
    topics: topics.map(toHex),
    data: toBuffer(data),
  }));
  const rwSet: RwSet = { referenceBlocks: state.referenceBlocks(), addresses, logs, gasUsed: Number(gasUsed) };
  return { success: true, error: '', rwSet };
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
