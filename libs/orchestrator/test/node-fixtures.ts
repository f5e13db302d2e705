// Fixtures of the OrchestratorNode tests: three shards, numbered transactions and their forwards, state-shard blocks carrying votes, a node opened on a store, shard blocks fed to it.
import { Transaction, Vote, type ForwardTransactionRequest, type PrepareVote, type StateShardBlock } from '@shardlab/proto';
import type { KV } from '@shardlab/storage';
import { silentLogger } from '@shardlab/telemetry';
import { OrchestratorNode, type OrchestratorNodeOpts } from '../src';

export const SHARDS = 3;
const shardOf = (a: string) => parseInt(a.slice(-2), 16) % SHARDS;
export const hashOf = (i: number) => '0x' + i.toString(16).padStart(64, '0');
const addrOn = (shard: number) => '0x' + '11'.repeat(19) + shard.toString(16).padStart(2, '0');

export function tx(i: number, toShard = 2): Transaction {
  return Transaction.fromPartial({ hash: hashOf(i), raw: Buffer.from([0xf8, i]), from: addrOn(0), to: addrOn(toShard), value: '5', nonce: i, chainId: 1337 });
}
export const fwd = (i: number, home = 0, others = [2]): ForwardTransactionRequest => ({ tx: tx(i, others[0]), homeShard: home, involvedShards: others, rwSet: undefined, traceContext: {} });

/** A state-shard block at `height` carrying `votes`. */
export function shardBlock(shardId: number, height: number, votes: PrepareVote[] = []): StateShardBlock {
  return {
    shardId,
    height,
    hash: hashOf(10_000 + height),
    parentHash: hashOf(9_999 + height),
    stateRoot: hashOf(0),
    transactionsRoot: hashOf(0),
    receiptsRoot: hashOf(0),
    timestampMs: height,
    gasUsed: 0,
    baseFeePerGas: '0',
    orchestratorHeight: 0, outgoingReceipts: [], outgoingReceiptsRoot: '', decisions: [],
    transactions: [],
    receipts: [],
    tpcPrepare: votes,
  };
}
export const yes = (i: number): PrepareVote => ({ txHash: hashOf(i), vote: Vote.VOTE_YES, reason: '' });
export const no = (i: number): PrepareVote => ({ txHash: hashOf(i), vote: Vote.VOTE_NO, reason: 'contract' });

class Clock {
  ms = 1_700_000_000_000;
  readonly now = () => this.ms;
}

export function open(kv: KV, extra: Partial<OrchestratorNodeOpts> = {}): Promise<OrchestratorNode> {
  const clock = new Clock();
  return OrchestratorNode.create({ kv, logger: silentLogger(), shardCount: SHARDS, shardOf, now: clock.now, voteTimeoutBlocks: 4, ...extra });
}

/** Feeds shard `s` its blocks cursor+1..`to`, with `votes` in block `to`. */
export function feed(node: OrchestratorNode, s: number, to: number, votes: PrepareVote[]): void {
  for (let h = node.shardCursor(s) + 1; h <= to; h++) node.onShardBlock(s, shardBlock(s, h, h === to ? votes : []));
}
