import { auditNetwork } from '../src';
import { NetBuilder } from '@shardlab/testing';
import { a0, b0, GENESIS, problemsWith } from './two-shards';

describe('auditNetwork: chain continuity', () => {
  it('checks block continuity and one receipt per user transaction', () => {
    const net = new NetBuilder(2, GENESIS);
    net.local(a0, b0, 1n);
    net.local(a0, b0, 1n);
    const input = net.input();
    input.shards[0]!.blocks.splice(1, 1); // a gap: heights 0, 2
    input.shards[1]!.blocks[0]!.receipts.push(input.shards[0]!.blocks[1]!.receipts[0]!);
    const r = auditNetwork(input);
    expect(problemsWith(r, 'shard 0', 'position 1 has height 2')).toHaveLength(1);
    expect(problemsWith(r, 'shard 1', 'block 0 has 0 user transactions but 1 receipts')).toHaveLength(1);
  });
});
