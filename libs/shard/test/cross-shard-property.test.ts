// Property test of cross-shard value transfers (in-memory protocol harness): random batches of local and cross-shard transfers conserve ether, leave no lock and pass the audit.
import { auditNetwork } from '@shardlab/audit';
import fc from 'fast-check';
import type { DevAccount } from '@shardlab/chain';
import { ErrorCode, ShardLabError } from '@shardlab/common';
import { TxStatus } from '@shardlab/proto';
import { shardCoinbase } from '../src';
import { Network } from './protocol-harness';
import { BASE_FEE, alice, balanceOf, bob, carol, dave, erin, expectConservation, frank } from './cross-shard-fixtures';

describe('cross-shard value transfers (in-memory protocol harness)', () => {
  describe('property: random batches of local and cross-shard transfers', () => {
    const FUND = 2n * 10n ** 14n; // about four transfers' worth of maximum fees
    const accounts = [alice, carol, bob, erin];
    type Op = { from: number; to: number; value: bigint };
    const valueArb = fc.oneof(
      fc.constant(0n),
      fc.bigInt({ min: 1n, max: 10n ** 13n }),
      fc.bigInt({ min: 10n ** 13n, max: FUND }),
      fc.bigInt({ min: FUND, max: 3n * FUND }), // overdrafts
    );
    const opArb: fc.Arbitrary<Op> = fc.record({ from: fc.nat(accounts.length - 1), to: fc.nat(accounts.length + 1), value: valueArb });
    const batchArb = fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 6 }), stepsAfter: fc.nat(2) });

    it('conserves ether, leaves no lock, and every accepted transaction’s outcome matches the balances', async () => {
      let refusedOverdrafts = 0;
      let acceptedCross = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 3 }), async (batches) => {
          const genesis = new Map(accounts.map((a) => [a.address, FUND]));
          const net = await Network.create({ shardCount: 2, genesis });
          // Recipients: the funded accounts plus two unfunded ones (one per shard).
          const recipients = [...accounts.map((a) => a.address), dave.address, frank.address];
          const nextNonce = new Map<string, bigint>();
          const accepted: { from: DevAccount; to: string; value: bigint; hash: string; cross: boolean }[] = [];
          for (const batch of batches) {
            const txs = batch.ops.map((op) => {
              const from = accounts[op.from]!;
              const nonce = nextNonce.get(from.address) ?? 0n;
              nextNonce.set(from.address, nonce + 1n);
              return { from, to: recipients[op.to]!, value: op.value, nonce };
            });
            // Submitted concurrently: several spends of one account race for its balance.
            const results = await Promise.allSettled(txs.map((t) => net.submit(t.from, { to: t.to, value: t.value, nonce: t.nonce })));
            const refusedNonce = new Map<string, bigint>();
            results.forEach((r, i) => {
              const t = txs[i]!;
              if (r.status === 'fulfilled') {
                expect(refusedNonce.has(t.from.address)).toBe(false); // accepted ones form a nonce prefix
                const cross = net.shardOf(t.to) !== net.shardOf(t.from.address);
                expect(r.value).toMatchObject({ crossShard: cross, status: cross ? TxStatus.TX_STATUS_PENDING : TxStatus.TX_STATUS_QUEUED });
                accepted.push({ from: t.from, to: t.to, value: t.value, hash: r.value.txHash, cross });
              } else {
                const err = r.reason as ShardLabError;
                expect(err).toBeInstanceOf(ShardLabError);
                expect(err.code).toBe(ErrorCode.FailedPrecondition);
                expect(err.message).toMatch(/insufficient funds|nonce too high/);
                if (/insufficient funds/.test(err.message)) refusedOverdrafts++;
                if (!refusedNonce.has(t.from.address)) refusedNonce.set(t.from.address, t.nonce);
              }
              // An overdraft of the whole allocation and of everything accepted towards the
              // sender so far is always refused.
              const receivable = accepted.filter((x) => x.to === t.from.address && x.hash !== (r.status === 'fulfilled' ? r.value.txHash : '')).reduce((acc, x) => acc + x.value, 0n);
              if (t.value > FUND + receivable) expect(r.status).toBe('rejected');
            });
            for (const [a, n] of refusedNonce) nextNonce.set(a, n);
            await net.step(batch.stepsAfter);
          }
          await net.settle();

          // Model: genesis, minus fees and moved values of accepted transactions, plus tips to the coinbases.
          const expected = new Map<string, bigint>(genesis);
          const add = (a: string, v: bigint) => expected.set(a, (expected.get(a) ?? 0n) + v);
          for (const t of accepted) {
            const home = net.home(t.from.address);
            const st = await home.getTransaction(t.hash);
            expect(st.receipt).toBeDefined();
            const r = st.receipt!;
            const price = BigInt(r.effectiveGasPrice);
            add(t.from.address, -BigInt(r.gasUsed) * price);
            add(shardCoinbase(home.shardId), BigInt(r.gasUsed) * (price - BASE_FEE));
            if (t.cross) {
              // Every recipient is an externally owned account: every accepted transfer commits.
              expect(net.orchestrator.status(t.hash)).toMatchObject({ status: TxStatus.TX_STATUS_COMMITTED });
              expect(st.status).toBe(TxStatus.TX_STATUS_COMMITTED);
              expect(await net.systemOps(home.shardId, t.hash)).toEqual(['LOCK', 'DEBIT']);
              expect(await net.systemOps(net.shardOf(t.to), t.hash)).toEqual(['CREDIT']);
            } else {
              expect(st.status).toBe(TxStatus.TX_STATUS_FINAL);
              expect(r.success).toBe(true);
            }
            add(t.from.address, -t.value);
            add(t.to, t.value);
          }
          const actual = await net.accounts();
          for (const [address, wei] of expected) {
            if (wei === 0n && !actual.has(address)) continue;
            expect({ address, balance: actual.get(address)?.balance }).toEqual({ address, balance: wei });
          }
          for (const [address, a] of actual) {
            expect({ address, balance: a.balance }).toEqual({ address, balance: expected.get(address) ?? 0n });
            expect({ address, locked: a.locked }).toEqual({ address, locked: 0n });
          }
          for (const a of accounts) {
            const n = accepted.filter((t) => t.from.address === a.address).length;
            expect((await balanceOf(net, a)).nonce).toBe(n);
          }
          await expectConservation(net);
          // And the audit of the transfer issue passes: conservation, atomicity, no lock left.
          const report = auditNetwork(await net.auditInput());
          expect(report.problems).toEqual([]);
          expect(report.ok).toBe(true);
          acceptedCross += accepted.filter((t) => t.cross).length;
        }),
        { numRuns: 12, endOnFailure: true },
      );
      // The generator did exercise both paths.
      expect(refusedOverdrafts).toBeGreaterThan(0);
      expect(acceptedCross).toBeGreaterThan(0);
    });
  });
});
