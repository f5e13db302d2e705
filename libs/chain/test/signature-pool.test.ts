import { privateToPublic } from '@ethereumjs/util';
import { SignaturePool, createChainCommon, decodeTransaction, devAccounts, signTransaction } from '../src';

describe('SignaturePool', () => {
  const common = createChainCommon();
  const accounts = devAccounts();
  let pool: SignaturePool;

  beforeAll(() => {
    pool = new SignaturePool(1337, 2);
  });
  afterAll(async () => {
    await pool.close();
  });

  it('recovers the sender keys of a batch submitted in one turn, each matching its own transaction', async () => {
    const raws = accounts.map((a, i) =>
      signTransaction(common, a, { to: accounts[(i + 1) % accounts.length]!.address, nonce: BigInt(i), ...(i % 2 ? { legacyGasPrice: 2n } : {}) }),
    );
    const keys = await Promise.all(raws.map((r) => pool.recover(r)));
    keys.forEach((k, i) => expect(k).toEqual(privateToPublic(accounts[i]!.privateKey)));
    // And decoding with the recovered key gives the same sender as decoding inline.
    raws.forEach((r, i) => expect(decodeTransaction(r, common, keys[i]).from).toBe(decodeTransaction(r, common).from));
  });

  it('answers undefined for bytes it cannot recover, without failing the rest of the batch', async () => {
    const good = signTransaction(common, accounts[0]!, { to: accounts[1]!.address, nonce: 0n });
    const [bad, ok, empty] = await Promise.all([pool.recover(Uint8Array.from([0xde, 0xad])), pool.recover(good), pool.recover(new Uint8Array())]);
    expect(bad).toBeUndefined();
    expect(empty).toBeUndefined();
    expect(ok).toEqual(privateToPublic(accounts[0]!.privateKey));
  });

  it('spreads batches across workers and keeps answers matched to requests', async () => {
    const batches = await Promise.all(
      [0, 1, 2, 3].map(async (b) => {
        await new Promise((r) => setImmediate(r)); // separate event-loop turns → separate batches
        const a = accounts[b]!;
        return { a, key: await pool.recover(signTransaction(common, a, { to: accounts[9]!.address, nonce: BigInt(b) })) };
      }),
    );
    for (const { a, key } of batches) expect(key).toEqual(privateToPublic(a.privateKey));
  });
});

describe('SignaturePool.close', () => {
  const common = createChainCommon();
  const [a, b] = devAccounts() as [ReturnType<typeof devAccounts>[number], ReturnType<typeof devAccounts>[number]];

  it('resolves a recovery requested in the same turn (not yet sent to a worker) to undefined', async () => {
    const pool = new SignaturePool(1337, 1);
    const pending = pool.recover(signTransaction(common, a, { to: b.address, nonce: 0n }));
    await pool.close();
    await expect(pending).resolves.toBeUndefined();
  }, 5000);

  it('resolves recoveries requested after close to undefined', async () => {
    const pool = new SignaturePool(1337, 1);
    await pool.close();
    await expect(pool.recover(signTransaction(common, a, { to: b.address, nonce: 0n }))).resolves.toBeUndefined();
  }, 5000);
});

describe('SignaturePool when a worker is lost', () => {
  const common = createChainCommon();
  const [a, b] = devAccounts() as [ReturnType<typeof devAccounts>[number], ReturnType<typeof devAccounts>[number]];

  it('resolves the batches sent to a worker that exits to undefined, and answers later ones without workers', async () => {
    const pool = new SignaturePool(1337, 1);
    const worker = (pool as unknown as { workers: import('node:worker_threads').Worker[] }).workers[0]!;
    const raw = signTransaction(common, a, { to: b.address, nonce: 0n });
    const pending = pool.recover(raw);
    // Sent to the worker at the next turn; the worker fails before its answer can arrive.
    await new Promise((r) => setImmediate(r));
    worker.emit('error', new Error('worker crashed'));
    await expect(pending).resolves.toBeUndefined();
    await worker.terminate();
    await expect(pool.recover(raw)).resolves.toBeUndefined();
    await pool.close();
  }, 5000);
});
