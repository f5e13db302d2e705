// Development accounts and signing: the published devnet keys, their addresses and genesis balance, and signing of legacy or EIP-1559 transactions for SendRawTransaction
import { createTx, type TypedTxData } from '@ethereumjs/tx';
import type { Common } from '@ethereumjs/common';
import { privateToAddress, hexToBytes } from '@ethereumjs/util';
import { toHex } from '@shardlab/common';

/** A key pair of a test or development account. */
export interface DevAccount {
  /** Lowercase 0x hex address. */
  readonly address: string;
  /** 32-byte private key. Published: never use these keys on a real network. */
  readonly privateKey: Uint8Array;
}

/**
 * The private keys of the well-known development accounts derived from the public mnemonic
 * `test test test test test test test test test test test junk` (path m/44'/60'/0'/0/i), as used
 * by local Ethereum devnets (Hardhat, Anvil). They are published: anyone can spend from them.
 */
export const DEV_PRIVATE_KEYS: readonly string[] = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
];

/** An account from a private key. */
export function accountFromKey(privateKey: Uint8Array): DevAccount {
  return { address: toHex(privateToAddress(privateKey)), privateKey };
}

/** The ten well-known development accounts (see {@link DEV_PRIVATE_KEYS}). */
export function devAccounts(): DevAccount[] {
  return DEV_PRIVATE_KEYS.map((k) => accountFromKey(hexToBytes(k as `0x${string}`)));
}

/** Balance each development account receives at genesis: 1,000,000 ether, in wei. */
export const DEV_ACCOUNT_BALANCE = 10n ** 24n;

/** A transfer or call to sign. Amounts in wei. */
export interface TxRequest {
  to?: string;
  value?: bigint;
  nonce: bigint;
  gasLimit?: bigint;
  /** EIP-1559 fee cap; default 2 gwei. */
  maxFeePerGas?: bigint;
  /** EIP-1559 tip; default 1 wei. */
  maxPriorityFeePerGas?: bigint;
  data?: Uint8Array;
  /** Sign as a legacy EIP-155 transaction with this gas price instead of EIP-1559. */
  legacyGasPrice?: bigint;
}

/**
 * Signs a transaction with `account`'s key and returns the raw bytes for SendRawTransaction.
 * Signs with `common`'s signer: native libsecp256k1 (about 70 µs) with `createChainCommon()`, the
 * pure-JavaScript default (about 700 µs) with `createChainCommon({ native: false })` or a plain
 * ethereumjs `Common`. Deterministic (RFC 6979, no extra entropy): the same request gives the
 * same bytes with either signer.
 * @throws Error from ethereumjs for invalid fields (e.g. a malformed `to`, a fee cap below the tip)
 *   or a private key that is not 32 bytes of a valid secp256k1 scalar.
 */
export function signTransaction(common: Common, account: DevAccount, req: TxRequest): Uint8Array {
  const base: TypedTxData = {
    to: req.to as `0x${string}` | undefined,
    value: req.value ?? 0n,
    nonce: req.nonce,
    gasLimit: req.gasLimit ?? 21_000n,
    data: req.data ?? new Uint8Array(),
  };
  const data: TypedTxData =
    req.legacyGasPrice !== undefined
      ? { ...base, type: 0, gasPrice: req.legacyGasPrice }
      : {
          ...base,
          type: 2,
          maxFeePerGas: req.maxFeePerGas ?? 2_000_000_000n,
          maxPriorityFeePerGas: req.maxPriorityFeePerGas ?? 1n,
        };
  return createTx(data, { common }).sign(account.privateKey, false).serialize();
}

