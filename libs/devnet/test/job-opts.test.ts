import { ErrorCode } from '@shardlab/common';
import { thrown } from '@shardlab/testing';
import { parseZipf, syntheticWorkloadConfig } from '../src/job';

/** The main job's options that need no network: the --zipf flag and how the report records the synthetic workload. */
describe('main job options', () => {
  it('--zipf takes a finite number ≥ 0', () => {
    expect(parseZipf('0')).toBe(0);
    expect(parseZipf('1')).toBe(1);
    expect(parseZipf(' 1.25 ')).toBe(1.25);
    expect(parseZipf('2e0')).toBe(2);
  });

  it('--zipf refuses anything else with INVALID_ARGUMENT naming the flag and the value', () => {
    for (const v of ['-1', '-0.5', 'abc', '', ' ', 'Infinity', 'NaN', '1,5']) {
      const err = thrown(() => parseZipf(v));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain('--zipf must be a finite number ≥ 0');
      expect(err.message).toContain(JSON.stringify(v));
    }
  });

  it('records the exponent in the report\'s workload (default 1; 0 noted as uniform)', () => {
    const mix = { transfer: 0, erc20: 1, swap: 0 };
    const byDefault = syntheticWorkloadConfig({ txs: 2000, accounts: 2000, mix });
    expect(byDefault).toMatchObject({ kind: 'synthetic', txs: 2000, accounts: 2000, mix, zipf: 1 });
    expect(byDefault.notes[0]).toContain('Zipf (exponent 1)');
    const uniform = syntheticWorkloadConfig({ txs: 2000, accounts: 2000, mix, zipf: 0 });
    expect(uniform).toMatchObject({ zipf: 0 });
    expect(uniform.notes[0]).toContain('uniform');
    expect(syntheticWorkloadConfig({ txs: 1, accounts: 2, mix, zipf: 1.5 })).toMatchObject({ zipf: 1.5 });
  });
});
