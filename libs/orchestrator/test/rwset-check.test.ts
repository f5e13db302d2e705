import type { AddressRwSet, RwSet, Transaction } from '@shardlab/proto';
import { checkRwSet } from '../src';

const BASE_FEE = 1_000_000_000n;
const sender = '0x' + '11'.repeat(19) + '00'; // shard 0
const factory = '0x' + '22'.repeat(19) + '01'; // shard 1
const pair = '0x' + '33'.repeat(19) + '02'; // shard 2
const shardOf = (a: string) => parseInt(a.slice(-2), 16) % 3;

const tx: Transaction = {
  raw: Buffer.alloc(0),
  hash: '0x' + 'ab'.repeat(32),
  type: 2,
  from: sender,
  to: factory,
  nonce: 0,
  value: '0',
  gasLimit: 100_000,
  gasPrice: '',
  maxFeePerGas: String(2n * BASE_FEE),
  maxPriorityFeePerGas: '1',
  data: Buffer.alloc(0),
  chainId: 1337,
};
const fee = 50_000n * (BASE_FEE + 1n);
const item = (address: string, extra: Partial<AddressRwSet> = {}): AddressRwSet => ({
  address,
  shardId: shardOf(address),
  reads: [],
  writes: [],
  balanceDelta: '0',
  createdCode: '',
  balanceRead: false,
  ...extra,
});
/** createPair-like: the factory's nonce rises, the pair is created with code and nonce 1. */
const rwSet = (sent: Partial<AddressRwSet> = {}): RwSet => ({
  referenceBlocks: [],
  addresses: [item(sender, { balanceDelta: (-fee).toString(), balanceRead: true, ...sent }), item(factory, { newNonce: 2 }), item(pair, { newNonce: 1, createdCode: '0x6000' })],
  logs: [],
  gasUsed: 50_000,
});

describe('checkRwSet', () => {
  it('accepts created code and new nonces on items other than the sender', () => {
    expect(checkRwSet(tx, 0, rwSet(), shardOf, BASE_FEE)).toBeUndefined();
  });

  it('refuses a new nonce for the sender: its home shard owns it', () => {
    expect(checkRwSet(tx, 0, rwSet({ newNonce: 7 }), shardOf, BASE_FEE)).toBe(`the RwSet sets the nonce of the sender ${sender}, which only its home shard changes`);
  });

  it('still refuses a wrong shard, a missing sender item, an imbalance and too much gas', () => {
    const wrongShard = rwSet();
    wrongShard.addresses[2] = { ...wrongShard.addresses[2]!, shardId: 1 };
    expect(checkRwSet(tx, 0, wrongShard, shardOf, BASE_FEE)).toMatch(/places .* on shard 1, but it is on shard 2/);
    expect(checkRwSet(tx, 1, rwSet(), shardOf, BASE_FEE)).toMatch(/no item for the sender/);
    expect(checkRwSet(tx, 0, rwSet({ balanceDelta: '0' }), shardOf, BASE_FEE)).toMatch(/value conservation violated/);
    const overGas = { ...rwSet({ balanceDelta: (-200_000n * (BASE_FEE + 1n)).toString() }), gasUsed: 200_000 };
    expect(checkRwSet(tx, 0, overGas, shardOf, BASE_FEE)).toBe('gas used 200000 exceeds the gas limit 100000');
  });
});
