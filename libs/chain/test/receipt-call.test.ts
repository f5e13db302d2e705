// Tests of shard-led call receipts executed on the contract's shard: prepaid credit, the call as an ordinary transaction, what returns to the sender, foreign reach undone, lock waits in sender order
import { MapDB, createContractAddress, createAddressFromString } from '@ethereumjs/util';
import { LockField } from '@shardlab/proto';
import { createBlockExecutor, createChainCommon, decodeTransaction, devAccounts, lockKeyId, signTransaction, type BlockExecutor, type DecodedTx, type ReceiptCallStep, type TxRequest } from '../src';

const common = createChainCommon();
const [deployer, sender] = devAccounts();
const BASE_FEE = 1_000_000_000n;
const ETHER = 10n ** 18n;
const TS = 1_700_000_000_000;

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Till {
  mapping(address => uint256) public paid;
  function pay() external payable { paid[msg.sender] += msg.value; }
  function fail() external payable { paid[msg.sender] += 1; revert("no"); }
  function halfBack() external payable { paid[msg.sender] += msg.value; payable(msg.sender).transfer(msg.value / 2); }
  function peek(address a) external payable returns (uint256) { paid[msg.sender] += 1; return a.balance; }
}`;

/** Creation bytecode of Till, compiled with solc (wasm). */
function compileTill(): Uint8Array {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require('solc') as { compile(input: string): string };
  const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'Till.sol': { content: SOURCE } }, settings: { outputSelection: { '*': { '*': ['evm.bytecode.object'] } } } })));
  return Uint8Array.from(Buffer.from(out.contracts['Till.sol'].Till.evm.bytecode.object as string, 'hex'));
}

const selector = (sig: string) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { keccak256 } = require('ethereum-cryptography/keccak.js') as { keccak256: (b: Uint8Array) => Uint8Array };
  return Buffer.from(keccak256(Buffer.from(sig))).subarray(0, 4);
};
const word = (hex: string) => Buffer.from(hex.replace(/^0x/, '').padStart(64, '0'), 'hex');

const tx = (from: typeof sender, req: TxRequest): DecodedTx => decodeTransaction(signTransaction(common, from!, req), common);

/** An executor at genesis with Till deployed by `deployer`; `sender` has no account on it (it lives on another shard). */
async function withTill(): Promise<{ ex: BlockExecutor; till: string }> {
  const ex = await createBlockExecutor({ common, db: new MapDB<string, Uint8Array>(), baseFeePerGas: BASE_FEE });
  await ex.applyGenesis(new Map([[deployer!.address, 10n * ETHER]]));
  const deploy = tx(deployer, { nonce: 0n, gasLimit: 1_000_000n, data: compileTill() });
  price = ex.effectiveGasPrice(deploy);
  const r = await ex.executeBlock(1, TS, [deploy]);
  expect(r.outcomes[0]).toMatchObject({ kind: 'executed', success: true });
  return { ex, till: createContractAddress(createAddressFromString(deployer!.address), 0n).toString() };
}

/** Wei per gas the test's transactions pay (what the sender's shard prepaid them at). */
let price = 0n;

const call = (till: string, data: Uint8Array, value: bigint, nonce = 7n): ReceiptCallStep => {
  const d = tx(sender, { to: till, data, value, nonce, gasLimit: 200_000n });
  return { kind: 'receipt-call', tx: d, prepaid: d.maxCost };
};

describe('call receipts on the contract shard', () => {
  it('runs the call as its sender (msg.sender, msg.value), charges the gas used and returns the rest; the sender keeps no account here', async () => {
    const { ex, till } = await withTill();
    const step = call(till, selector('pay()'), 5n * ETHER);
    const r = await ex.executeBlock(2, TS, [step]);
    expect(r.outcomes.map((o) => (o.kind === 'system' ? o.op.kind : o.kind))).toEqual(['receipt-credit', 'executed', 'receipt-debit']);
    const res = step.result!;
    expect(res.success).toBe(true);
    expect(res.gasUsed).toBeGreaterThan(21_000n);
    expect(res.returned).toBe(step.prepaid - 5n * ETHER - res.gasUsed * price);
    expect(r.outcomes[2]).toMatchObject({ kind: 'system', op: { kind: 'receipt-debit', address: sender!.address, amount: res.returned } });
    expect((await ex.getAccount(till)).balance).toBe(5n * ETHER);
    expect(BigInt(await ex.getStorage(till, slotHex(sender!.address)))).toBe(5n * ETHER);
    expect(await ex.getAccount(sender!.address)).toMatchObject({ balance: 0n, nonce: 0n });
    expect(r.touched).not.toContain(sender!.address.toLowerCase());
  });

  it('a revert returns the value with the unused gas and keeps no state change', async () => {
    const { ex, till } = await withTill();
    const step = call(till, selector('fail()'), ETHER);
    await ex.executeBlock(2, TS, [step]);
    const res = step.result!;
    expect(res.success).toBe(false);
    expect(res.returned).toBe(step.prepaid - res.gasUsed * price);
    expect((await ex.getAccount(till)).balance).toBe(0n);
    expect(BigInt(await ex.getStorage(till, slotHex(sender!.address)))).toBe(0n);
  });

  it('ether the call sends to its sender returns with the result', async () => {
    const { ex, till } = await withTill();
    const step = call(till, selector('halfBack()'), 4n * ETHER);
    await ex.executeBlock(2, TS, [step]);
    const res = step.result!;
    expect(res.success).toBe(true);
    expect(res.returned).toBe(step.prepaid - 4n * ETHER + 2n * ETHER - res.gasUsed * price);
    expect((await ex.getAccount(till)).balance).toBe(2n * ETHER);
  });

  it('a call that reads an account placed elsewhere is undone entirely and everything prepaid goes back', async () => {
    const { ex, till } = await withTill();
    const elsewhere = '0x' + '77'.repeat(20);
    const step = call(till, Buffer.concat([selector('peek(address)'), word(elsewhere)]), ETHER);
    const r = await ex.executeBlock(2, TS, [step], () => 0n, (a) => a.toLowerCase() !== elsewhere);
    expect(step.result).toMatchObject({ success: false, returned: step.prepaid, gasUsed: 0n });
    expect(step.result!.error).toContain(elsewhere);
    expect(r.outcomes.map((o) => (o.kind === 'system' ? `${o.op.kind}:${o.op.amount}` : o.kind))).toEqual([`receipt-credit:${step.prepaid}`, `receipt-debit:${step.prepaid}`]);
    expect(BigInt(await ex.getStorage(till, slotHex(sender!.address)))).toBe(0n);
    expect((await ex.getAccount(till)).balance).toBe(0n);
  });

  it('a call writing a slot held by block-2PC waits, and the same sender\'s later call waits behind it', async () => {
    const { ex, till } = await withTill();
    const first = call(till, selector('pay()'), ETHER, 7n);
    const second = call(till, selector('pay()'), ETHER, 8n);
    const held = lockKeyId({ address: till, field: LockField.LOCK_FIELD_SLOT, slot: slotHex(sender!.address) });
    const r = await ex.executeBlock(2, TS, [first, second], () => 0n, () => true, (k) => k === held);
    expect(first.result).toMatchObject({ deferred: true });
    expect(second.result).toMatchObject({ deferred: true });
    expect(r.outcomes).toEqual([]);
    expect((await ex.getAccount(till)).balance).toBe(0n);
  });
});

/** Storage slot of `paid[a]` (mapping at slot 0), 0x hex of 32 bytes. */
const slotHex = (a: string) => '0x' + paidSlot(a).toString(16).padStart(64, '0');

/** Storage slot of `paid[a]` (mapping at slot 0): keccak256(a ‖ 0). */
function paidSlot(a: string): bigint {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { keccak256 } = require('ethereum-cryptography/keccak.js') as { keccak256: (b: Uint8Array) => Uint8Array };
  return BigInt('0x' + Buffer.from(keccak256(Buffer.concat([word(a), word('0')]))).toString('hex'));
}
