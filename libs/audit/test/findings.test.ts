import { orderFindings, place, type Finding } from '../src/findings';

describe('orderFindings', () => {
  it('lists findings by place: shards (listing, blocks, accounts, balance), orchestrator blocks, transactions, locks, conservation', () => {
    const at = (p: readonly number[], text: string): Finding => ({ place: p, text });
    const findings = [
      at(place.conservation, 'conservation'),
      at(place.lockedAccounts, 'locked'),
      at(place.transactions, 'tx'),
      at(place.orchestratorBlock(1, 'links'), 'orch 1 links'),
      at(place.orchestratorBlock(0, 'contents'), 'orch 0 contents'),
      at(place.shardBalance(1), 'shard 1 balance'),
      at(place.shardListing(1), 'shard 1 listing'),
      at(place.shardBalance(0), 'shard 0 balance'),
      at(place.account(0, 0, 'locks'), 'shard 0 account 0 locks'),
      at(place.account(0, 1, 'listing'), 'shard 0 account 1 listing'),
      at(place.account(0, 0, 'listing'), 'shard 0 account 0 listing'),
      at(place.shardBlock(0, 10, 'links'), 'shard 0 block 10 links'),
      at(place.shardBlock(0, 2, 'contents'), 'shard 0 block 2 contents'),
      at(place.shardBlock(0, 2, 'links'), 'shard 0 block 2 links'),
      at(place.shardListing(0), 'shard 0 listing'),
    ];
    expect(orderFindings(findings)).toEqual([
      'shard 0 listing',
      'shard 0 block 2 links',
      'shard 0 block 2 contents',
      'shard 0 block 10 links',
      'shard 0 account 0 listing',
      'shard 0 account 0 locks',
      'shard 0 account 1 listing',
      'shard 0 balance',
      'shard 1 listing',
      'shard 1 balance',
      'orch 0 contents',
      'orch 1 links',
      'tx',
      'locked',
      'conservation',
    ]);
  });

  it('keeps the given order of findings at the same place, and leaves its input alone', () => {
    const findings: Finding[] = ['c', 'a', 'b'].map((text) => ({ place: place.transactions, text }));
    findings.unshift({ place: place.conservation, text: 'total' });
    expect(orderFindings(findings)).toEqual(['c', 'a', 'b', 'total']);
    expect(findings.map((f) => f.text)).toEqual(['total', 'c', 'a', 'b']);
  });
});
