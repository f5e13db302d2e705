import { HDKey } from 'ethereum-cryptography/hdkey.js';
import { mnemonicToSeedSync } from 'ethereum-cryptography/bip39/index.js';
import { bytesToHex } from '@ethereumjs/util';
import { DEV_ACCOUNT_BALANCE, DEV_PRIVATE_KEYS, accountFromKey, createChainCommon, decodeTransaction, devAccounts, signTransaction } from '../src';

const MNEMONIC = 'test test test test test test test test test test test junk';

describe('development accounts', () => {
  it('derive from the public mnemonic at m/44\'/60\'/0\'/0/i', () => {
    const root = HDKey.fromMasterSeed(mnemonicToSeedSync(MNEMONIC));
    expect(DEV_PRIVATE_KEYS).toHaveLength(10);
    DEV_PRIVATE_KEYS.forEach((key, i) => {
      const child = root.derive(`m/44'/60'/0'/0/${i}`);
      expect(child.privateKey).not.toBeNull();
      expect(key).toBe(bytesToHex(child.privateKey!));
    });
  });

  it('has the well-known first address and ten distinct lowercase addresses', () => {
    const accounts = devAccounts();
    expect(accounts).toHaveLength(10);
    expect(accounts[0]!.address).toBe('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266');
    expect(accounts[1]!.address).toBe('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
    expect(new Set(accounts.map((a) => a.address)).size).toBe(10);
    for (const a of accounts) {
      expect(a.address).toMatch(/^0x[0-9a-f]{40}$/);
      expect(a.privateKey).toHaveLength(32);
      expect(accountFromKey(a.privateKey).address).toBe(a.address);
    }
  });

  it('grants one million ether each', () => {
    expect(DEV_ACCOUNT_BALANCE).toBe(1_000_000n * 10n ** 18n);
  });

  it('signs EIP-1559 by default and legacy EIP-155 on request, recovering the signer', () => {
    const common = createChainCommon();
    const [a, b] = devAccounts();
    const d1559 = decodeTransaction(signTransaction(common, a!, { to: b!.address, value: 5n, nonce: 3n }), common);
    expect(d1559.tx.type).toBe(2);
    expect(d1559).toMatchObject({ from: a!.address, to: b!.address, value: 5n, nonce: 3n, gasLimit: 21_000n, maxFeePerGas: 2_000_000_000n });
    const legacy = decodeTransaction(signTransaction(common, b!, { to: a!.address, nonce: 0n, legacyGasPrice: 7n, gasLimit: 50_000n }), common);
    expect(legacy.tx.type).toBe(0);
    expect(legacy).toMatchObject({ from: b!.address, to: a!.address, value: 0n, maxFeePerGas: 7n, gasLimit: 50_000n });
  });
});
