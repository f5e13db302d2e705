// balanceObservingOpcodes: the EVM opcodes whose outcome depends on an account's balance, wrapped (same gas, same logic) to report whose balance they observed.
/**
 * Which balances a simulated execution observed (the RwSet's `balanceRead`, docs/ARCHITECTURE.md
 * §3). The opcodes that look at a balance are wrapped through `@ethereumjs/evm`'s `customOpcodes`:
 * each wrapper reports the account, then runs the original handler with the original static fee
 * and dynamic gas handler, so gas and behaviour are unchanged. Every other opcode runs untouched,
 * which is why this is used rather than the EVM's `step` event (that event builds an object with a
 * copy of the stack and of memory before every opcode of every frame once anyone listens).
 *
 * Debits (an account's balance going down) are observed by the state manager instead
 * ({@link RemoteStateManager}); the wrappers cover what leaves no write: BALANCE, SELFBALANCE, the
 * sufficiency check of a value transfer that fails (CALL, CALLCODE, CREATE, CREATE2 with value),
 * and SELFDESTRUCT, which moves the whole balance.
 */
import type { Common } from '@ethereumjs/common';
import { getOpcodesForHF, paramsEVM, type EVMOpts } from '@ethereumjs/evm';
import { toHex } from '@shardlab/common';

type OpcodeTable = ReturnType<typeof getOpcodesForHF>;
type CustomOpcode = NonNullable<EVMOpts['customOpcodes']>[number];
type RunState = Parameters<NonNullable<ReturnType<OpcodeTable['handlers']['get']>>>[0];

/** Opcode numbers (Cancun). */
const BALANCE = 0x31;
const SELFBALANCE = 0x47;
const CREATE = 0xf0;
const CALL = 0xf1;
const CALLCODE = 0xf2;
const CREATE2 = 0xf5;
const SELFDESTRUCT = 0xff;

const ADDRESS_MASK = (1n << 160n) - 1n;
const stackAddress = (v: bigint): string => '0x' + (v & ADDRESS_MASK).toString(16).padStart(40, '0');
const self = (rs: RunState): string => toHex(rs.interpreter.getAddress().bytes);

/**
 * Per opcode: whose balance it observes, read from the stack before the original handler pops it
 * (undefined: none this time).
 */
const OBSERVERS: [number, (rs: RunState) => string | undefined][] = [
  // BALANCE(address)
  [BALANCE, (rs) => stackAddress(rs.stack.peek(1)[0]!)],
  [SELFBALANCE, self],
  // CALL / CALLCODE(gas, to, value, ...): the caller's balance is checked against a non-zero value.
  [CALL, (rs) => (rs.stack.peek(3)[2]! > 0n ? self(rs) : undefined)],
  [CALLCODE, (rs) => (rs.stack.peek(3)[2]! > 0n ? self(rs) : undefined)],
  // CREATE / CREATE2(value, ...): the creator's balance is checked against a non-zero value.
  [CREATE, (rs) => (rs.stack.peek(1)[0]! > 0n ? self(rs) : undefined)],
  [CREATE2, (rs) => (rs.stack.peek(1)[0]! > 0n ? self(rs) : undefined)],
  // SELFDESTRUCT(beneficiary) moves the contract's whole balance: the amount is its balance.
  [SELFDESTRUCT, self],
];

/** The original opcode table of each Common's hardfork (with the EVM's parameters), computed once. */
const tables = new WeakMap<Common, OpcodeTable>();

function originals(common: Common): OpcodeTable {
  let t = tables.get(common);
  if (!t) {
    // The EVM adds its parameters (gas costs) to the Common it is given; do it on a copy here.
    const withParams = common.copy();
    withParams.updateParams(paramsEVM);
    t = getOpcodesForHF(withParams);
    tables.set(common, t);
  }
  return t;
}

/**
 * The `customOpcodes` (`EVMOpts`) of a simulation: BALANCE, SELFBALANCE, CALL, CALLCODE, CREATE,
 * CREATE2 and SELFDESTRUCT, each calling `observe(address)` (lowercase 0x hex) with the account
 * whose balance it is about to observe, then doing exactly what the original opcode of `common`'s
 * hardfork does (same static fee, same dynamic gas, same logic). An opcode that fails its gas
 * charge observes nothing; one in a frame that later reverts still counts (execution depended on
 * it).
 * @throws Error when `common`'s hardfork lacks one of these opcodes (before Istanbul: SELFBALANCE).
 */
export function balanceObservingOpcodes(common: Common, observe: (address: string) => void): CustomOpcode[] {
  const t = originals(common);
  return OBSERVERS.map(([code, whose]) => {
    const info = t.opcodes.get(code);
    const logic = t.handlers.get(code);
    if (!info || !logic) throw new Error(`opcode 0x${code.toString(16)} is not in hardfork ${common.hardfork()}`);
    const gasFunction = t.dynamicGasHandlers.get(code);
    return {
      opcode: code,
      opcodeName: info.name,
      baseFee: info.fee,
      ...(gasFunction ? { gasFunction } : {}),
      logicFunction: (rs: RunState, c: Common) => {
        const a = whose(rs);
        if (a !== undefined) observe(a);
        return logic(rs, c);
      },
    };
  });
}
