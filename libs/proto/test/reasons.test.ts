import fc from 'fast-check';
import { ReasonCode, makeReason, reasonCodeName, reasonKey, reasonMessage, reasons, withReason } from '../src';

const A = '0x' + 'ab'.repeat(20);
const H = '0x' + 'cd'.repeat(32);

describe('typed reasons', () => {
  it('derive the human messages the protocol has always given', () => {
    expect(reasonMessage(reasons.readSetChanged(A, 'balance'))).toBe(`read set changed: ${A} balance`);
    expect(reasonMessage(reasons.readSetChanged(A, 'slot', '0x01'))).toBe(`read set changed: ${A} slot 0x01`);
    expect(reasonMessage(reasons.lockedBy(A, H))).toBe(`conflict: ${A} is locked by ${H}`);
    expect(reasonMessage(reasons.simulationLocked(H, 'x'))).toBe(`state locked by another transaction (${H})`);
    expect(reasonMessage(reasons.simulationLocked(undefined, 'it moved'))).toBe('state kept changing while simulating: it moved');
    expect(reasonMessage(reasons.voteTimeout([1, 3], 20))).toBe('vote timeout: shards 1, 3 did not vote within 20 orchestrator blocks');
    expect(reasonMessage(reasons.voteTimeout([2], 20))).toBe('vote timeout: shard 2 did not vote within 20 orchestrator blocks');
    expect(reasonMessage(reasons.wrongShard(A, 1, 'recipient'))).toBe(`recipient ${A} is not placed on shard 1`);
    expect(reasonMessage(reasons.needsSimulation(A, 'recipient'))).toBe(`recipient ${A} is a contract: cross-shard contract calls need the simulator`);
    expect(reasonMessage(reasons.simulationLockExpired(A, H))).toBe(`simulation lock expired: ${A} (locked for ${H})`);
    expect(reasonMessage(reasons.gasLimit())).toBe('block gas limit reached');
    expect(reasonMessage(reasons.invalidProof(A))).toBe(`invalid proof for ${A}`);
    // The texts of 9ed2b48 (executor, shard node), before reasons were typed.
    expect(reasonMessage(reasons.writesLocked(A))).toBe(`writes ${A}, locked by a cross-shard transaction`);
    expect(reasonMessage(reasons.needsSimulation(A, 'write'))).toBe(`writes account ${A}, placed on another shard: cross-shard contract calls need the simulator`);
    expect(reasonMessage(reasons.simulationLockNotHeld(A, H))).toBe(`simulation lock not held: ${A} is not locked for ${H}`);
    expect(reasonMessage(reasons.notLocked())).toBe('not locked');
    expect(reasonMessage(reasons.insufficientFunds('insufficient funds for fee and value (5 wei available)'))).toBe('insufficient funds for fee and value (5 wei available)');
    expect(reasonMessage(reasons.gasLimit('intrinsic gas 21000 exceeds the gas limit 20000'))).toBe('intrinsic gas 21000 exceeds the gas limit 20000');
  });

  it('nest causes: the message keeps the text given, the key names every code', () => {
    const vote = withReason(reasons.readSetChanged(A, 'nonce'));
    // As the coordinator builds it: the text comes from the cause, kept once.
    const no = reasons.shardVotedNo(2, vote.cause, '');
    expect(no.detail).toBe('');
    expect(reasonMessage(no)).toBe(`shard 2 voted NO: read set changed: ${A} nonce`);
    expect(reasonMessage(reasons.shardVotedNo(2, undefined, vote.reason))).toBe(`shard 2 voted NO: read set changed: ${A} nonce`);
    expect(reasonKey(no)).toBe('shard-voted-no/read-set-changed');
    expect(reasonMessage(reasons.shardVotedNo(1, undefined, ''))).toBe('shard 1 voted NO: no reason given');
    const sim = reasons.simulationFailed('', reasons.reverted('execution reverted: K'));
    expect(reasonMessage(sim)).toBe('simulation failed: execution reverted: K');
    expect(reasonKey(sim)).toBe('simulation-failed/reverted');
  });

  it('name every code, and a reason without a derivable text says its detail', () => {
    for (const code of Object.values(ReasonCode).filter((c): c is ReasonCode => typeof c === 'number' && c >= 0)) {
      expect(reasonCodeName(code)).toMatch(/^[a-z]+(-[a-z]+)*$/);
    }
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (detail) => {
        expect(reasonMessage(reasons.other(detail))).toBe(detail);
        expect(reasonMessage(makeReason({ code: ReasonCode.REASON_CODE_REVERTED, detail }))).toBe(detail);
      }),
    );
  });
});
