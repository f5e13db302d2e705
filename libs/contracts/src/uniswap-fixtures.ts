// Uniswap V2 fixtures: published creation bytecodes, swap calldata, storage slots and reserve math, a pair's CREATE2 address, an unsharded reference chain on @ethereumjs/vm
/**
 * Fixtures of the Uniswap V2 test: the published builds of @uniswap/v2-core and
 * @uniswap/v2-periphery (creation bytecode as shipped), the calldata of a swap (other calls: ./abi),
 * the storage layout of UniswapV2Pair and of the v2-core test ERC20, the CREATE2 address of a pair,
 * and a reference chain: a single unsharded @ethereumjs/vm that runs the same transactions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBlock } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createTxFromRLP } from '@ethereumjs/tx';
import { Account, createAddressFromString, setLengthLeft } from '@ethereumjs/util';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { DEV_ACCOUNT_BALANCE, signTransaction, type DevAccount } from '@shardlab/chain';
import { keccakHex, selector, word } from './abi';

const ROOT = join(__dirname, '..', '..', '..', 'node_modules', '@uniswap');

interface Build {
  bytecode?: string;
  evm?: { bytecode?: { object?: string } };
}

/** Creation bytecode (hex, no 0x) of a build JSON: `bytecode`, else `evm.bytecode.object`. */
function creationCode(pkg: string, name: string): string {
  const j = JSON.parse(readFileSync(join(ROOT, pkg, 'build', `${name}.json`), 'utf8')) as Build;
  const code = (j.bytecode ?? j.evm?.bytecode?.object ?? '').replace(/^0x/, '');
  if (code === '') throw new Error(`no bytecode in @uniswap/${pkg}/build/${name}.json`);
  return code;
}

export const BUILDS = {
  UniswapV2Factory: creationCode('v2-core', 'UniswapV2Factory'),
  UniswapV2Pair: creationCode('v2-core', 'UniswapV2Pair'),
  ERC20: creationCode('v2-core', 'ERC20'),
  UniswapV2Router02: creationCode('v2-periphery', 'UniswapV2Router02'),
  WETH9: creationCode('v2-periphery', 'WETH9'),
};

/** The init code hash hard-coded in UniswapV2Library.pairFor (v2-periphery). */
export const ROUTER_INIT_CODE_HASH = '96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f';

/** Calldata of swapExactTokensForTokens(amountIn, amountOutMin, path, to, deadline). */
export function swapExactTokensForTokens(amountIn: bigint, amountOutMin: bigint, path: string[], to: string, deadline: bigint): string {
  return (
    selector('swapExactTokensForTokens(uint256,uint256,address[],address,uint256)') +
    [amountIn, amountOutMin, 0xa0n, to, deadline, BigInt(path.length), ...path].map(word).join('')
  );
}

/** token0, token1 of a pair (sorted as UniswapV2Factory does). */
export const sortTokens = (a: string, b: string): [string, string] => (BigInt(a) < BigInt(b) ? [a, b] : [b, a]);

/** CREATE2 address of the pair of `tokenA`/`tokenB` made by `factory`, with `initCodeHash` (hex, no 0x). */
export function pairAddress(factory: string, tokenA: string, tokenB: string, initCodeHash: string): string {
  const [t0, t1] = sortTokens(tokenA, tokenB);
  const salt = keccakHex(t0.slice(2) + t1.slice(2));
  return '0x' + keccakHex('ff' + factory.slice(2) + salt + initCodeHash).slice(24);
}

/** Storage: UniswapV2ERC20 and the test ERC20 keep balanceOf at slot 1, allowance at slot 2; the pair packs its reserves at slot 8. */
export const SLOT_BALANCE_OF = 1n;
export const SLOT_ALLOWANCE = 2n;
export const SLOT_TOTAL_SUPPLY = 0n;
export const SLOT_RESERVES = 8n;

const MASK112 = (1n << 112n) - 1n;
/** reserve0, reserve1 of the packed slot 8 (blockTimestampLast left out: it depends on time). */
export const unpackReserves = (v: bigint): [bigint, bigint] => [v & MASK112, (v >> 112n) & MASK112];

/** UniswapV2Library.getAmountOut. */
export const getAmountOut = (amountIn: bigint, reserveIn: bigint, reserveOut: bigint): bigint =>
  (amountIn * 997n * reserveOut) / (reserveIn * 1000n + amountIn * 997n);

/** A log normalised for comparison: lowercase 0x hex everywhere. */
export interface NormLog {
  address: string;
  topics: string[];
  data: string;
}

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex');

/**
 * The reference: one unsharded @ethereumjs/vm with the development accounts funded as at genesis,
 * each transaction in its own block (12 s apart).
 */
export class RefChain {
  private height = 0n;
  private constructor(
    private readonly common: Common,
    readonly vm: VM,
  ) {}

  static async create(common: Common, accounts: DevAccount[]): Promise<RefChain> {
    const vm = await createVM({ common });
    for (const a of accounts) await vm.stateManager.putAccount(createAddressFromString(a.address), new Account(0n, DEV_ACCOUNT_BALANCE));
    return new RefChain(common, vm);
  }

  async nonce(address: string): Promise<bigint> {
    return (await this.vm.stateManager.getAccount(createAddressFromString(address)))?.nonce ?? 0n;
  }

  /** Signs `req` with `from`'s next nonce here and runs it in a new block. */
  async run(from: DevAccount, req: { to?: string; data: string; gasLimit?: bigint }): Promise<{ success: boolean; error?: string; logs: NormLog[]; created?: string }> {
    const nonce = await this.nonce(from.address);
    const raw = signTransaction(this.common, from, { to: req.to, nonce, gasLimit: req.gasLimit ?? 1_000_000n, data: Buffer.from(req.data, 'hex') });
    const tx = createTxFromRLP(raw, { common: this.common });
    this.height += 1n;
    const block = createBlock(
      { header: { number: this.height, timestamp: 1_700_000_000n + 12n * this.height, gasLimit: 30_000_000n, baseFeePerGas: 1_000_000_000n } },
      { common: this.common, freeze: false },
    );
    const r = await runTx(this.vm, { tx, block, skipHardForkValidation: true });
    const err = r.execResult.exceptionError;
    return {
      success: err === undefined,
      ...(err ? { error: String(err.error) } : {}),
      logs: (r.receipt.logs ?? []).map(([a, topics, data]) => ({ address: hex(a), topics: topics.map(hex), data: hex(data) })),
      ...(r.createdAddress ? { created: r.createdAddress.toString() } : {}),
    };
  }

  async storage(address: string, slot: string): Promise<bigint> {
    const v = await this.vm.stateManager.getStorage(createAddressFromString(address), setLengthLeft(Buffer.from(slot.slice(2), 'hex'), 32));
    return v.length === 0 ? 0n : BigInt(hex(v));
  }
}
