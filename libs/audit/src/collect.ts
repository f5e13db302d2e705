// Collection of an audit's input from a running network: discovery through the registry, each shard's head, accounts and blocks as one snapshot, then the orchestrator's blocks
import { ErrorCode, errors, isShardLabError, ShardLabError } from '@shardlab/common';
import type { Account, Endpoint, GetHeadResponse, ListAccountsResponse, OrchestratorBlock, StateShardBlock } from '@shardlab/proto';
import { connectPeers, type Peers } from '@shardlab/registry';
import { silentLogger } from '@shardlab/telemetry';
import { auditNetwork, type AuditInput, type AuditReport, type ShardAuditInput } from './audit';

/** Default deadline of each unary call, and longest wait for the next block of a stream, in milliseconds. */
export const DEFAULT_AUDIT_DEADLINE_MS = 5000;

/** Default (and largest) ListAccounts page size. */
export const DEFAULT_ACCOUNTS_PAGE_SIZE = 10_000;

/** How many times a shard is read again when transactions landed while its accounts were listed. */
const SNAPSHOT_ATTEMPTS = 3;

/** Options of {@link collectAuditInput} and {@link runAudit}. */
export interface CollectOpts {
  /** `host:port` of the registry. */
  registryAddress: string;
  /**
   * Deadline of each unary call (registry, GetHead, ListAccounts, GetBlock), and the longest wait
   * for the next block of a block stream, in milliseconds; default {@link DEFAULT_AUDIT_DEADLINE_MS}.
   */
  deadlineMs?: number;
  /** Called with one human-readable line per step (a shard read, the orchestrator read). */
  onProgress?: (line: string) => void;
  /** Accounts per ListAccounts page; default {@link DEFAULT_ACCOUNTS_PAGE_SIZE}. */
  pageSize?: number;
  /** Cancels the collection (every call in flight). */
  signal?: AbortSignal;
  /** The shards' cross-shard protocol, when known; passed on as {@link AuditInput.protocol}. */
  protocol?: string;
  /** Client-led: the shards' lock timeout in blocks, when known; passed on as {@link AuditInput.lockTimeoutBlocks}. */
  lockTimeoutBlocks?: number;
}

/**
 * Reads blocks `from..to` from a block stream that would go on forever (live blocks after the
 * head), stopping at `to`. The first block must be `from` unless `lenientStart` (then any height
 * ≥ `from`); the rest must follow without gaps.
 * @throws ShardLabError UNAVAILABLE when no block arrives for `idleMs`, or the stream ends early;
 *   FAILED_PRECONDITION on a gap.
 */
async function readBlocks<B extends { height: number }>(
  target: string,
  open: (signal: AbortSignal) => AsyncIterable<B>,
  range: { from: number; to: number; lenientStart?: boolean },
  idleMs: number,
  signal: AbortSignal,
): Promise<B[]> {
  const blocks: B[] = [];
  if (range.to < range.from) return blocks;
  const ctl = new AbortController();
  const onOuter = () => ctl.abort();
  signal.addEventListener('abort', onOuter, { once: true });
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, idleMs);
  };
  try {
    arm();
    for await (const b of open(ctl.signal)) {
      arm();
      const last = blocks[blocks.length - 1];
      const expected = last ? last.height + 1 : range.from;
      if (b.height !== expected && !(last === undefined && range.lenientStart && b.height > range.from)) {
        throw errors.failedPrecondition(`${target} sent block ${b.height} where block ${expected} was expected`, { target });
      }
      blocks.push(b);
      if (b.height >= range.to) break;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onOuter);
  }
  const got = blocks.length > 0 ? `blocks ${blocks[0]!.height}..${blocks[blocks.length - 1]!.height}` : 'no block';
  if (signal.aborted) throw errors.unavailable(`reading ${target} was cancelled`, { target });
  if (timedOut) throw errors.unavailable(`${target} sent no block for ${idleMs} ms (got ${got}, head is ${range.to})`, { target });
  if (blocks[blocks.length - 1]?.height !== range.to) {
    throw errors.unavailable(`${target} ended its block stream early (got ${got}, head is ${range.to})`, { target });
  }
  return blocks;
}

/** Rethrows a ShardLabError with `what` in front of its message (same code); anything else unchanged. */
function rethrowNamed(err: unknown, what: string): never {
  if (err instanceof ShardLabError) throw new ShardLabError(err.code, `${what}: ${err.message}`, { ...err.meta }, { cause: err });
  throw err;
}

/** Reads one shard: head, every account (paged), and blocks 0..the accounts' height. */
async function collectShard(
  peers: Peers,
  shardId: number,
  opts: { deadlineMs: number; pageSize: number; signal: AbortSignal },
): Promise<ShardAuditInput> {
  const shard = await peers.shard(shardId);
  const target = shard.target;
  const call = { signal: opts.signal };
  for (let attempt = 1; ; attempt++) {
    const head = await shard.call<GetHeadResponse>((c, md, op, cb) => c.getHead({}, md, op, cb), call);
    if (head.shardId !== shardId) {
      throw errors.failedPrecondition(`${target} reports itself as shard ${head.shardId}, but the registry lists it as shard ${shardId}`, { shardId });
    }
    const accounts: Account[] = [];
    const heights = new Set<number>();
    let pageToken = '';
    do {
      const page = await shard.call<ListAccountsResponse>((c, md, op, cb) => c.listAccounts({ pageToken, pageSize: opts.pageSize }, md, op, cb), call);
      accounts.push(...page.accounts);
      heights.add(page.blockHeight);
      if (page.nextPageToken !== '' && page.nextPageToken === pageToken) {
        throw errors.failedPrecondition(`${target} returned the same ListAccounts page token twice (${JSON.stringify(pageToken)})`, { shardId });
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    const low = Math.min(...heights);
    const high = Math.max(...heights);
    if (low < head.height) {
      throw errors.failedPrecondition(`${target} listed its accounts at height ${low}, below its head ${head.height} read before`, { shardId });
    }
    const blocks = await readBlocks<StateShardBlock>(
      target,
      (signal) => shard.stream<StateShardBlock>((c, md, options) => c.subscribeBlocks({ fromHeight: 0 }, md, options), signal),
      { from: 0, to: high },
      opts.deadlineMs,
      opts.signal,
    );
    // Pages read at different heights form one snapshot only if nothing happened in between.
    const busy = blocks.filter((b) => b.height > low && b.transactions.length > 0);
    if (busy.length === 0) return { shardId, blocks, accounts };
    if (attempt >= SNAPSHOT_ATTEMPTS) {
      throw errors.failedPrecondition(
        `${target} executed transactions (blocks ${busy.map((b) => b.height).join(', ')}) while its accounts were being listed, ` +
          `${attempt} times in a row; audit the network when it is idle`,
        { shardId },
      );
    }
  }
}

/** Reads the orchestrator's blocks from its first to its head; undefined when it serves none (UNIMPLEMENTED). */
async function collectOrchestrator(peers: Peers, opts: { deadlineMs: number; signal: AbortSignal }): Promise<OrchestratorBlock[] | undefined> {
  const orchestrator = await peers.orchestrator();
  let head: OrchestratorBlock;
  try {
    head = await orchestrator.call<OrchestratorBlock>((c, md, op, cb) => c.getBlock({}, md, op, cb), { signal: opts.signal });
  } catch (err) {
    if (isShardLabError(err, ErrorCode.Unimplemented)) return undefined;
    if (isShardLabError(err, ErrorCode.NotFound)) return [];
    throw err;
  }
  return readBlocks<OrchestratorBlock>(
    orchestrator.target,
    (signal) => orchestrator.stream<OrchestratorBlock>((c, md, options) => c.subscribeBlocks({ fromHeight: 0 }, md, options), signal),
    { from: 0, to: head.height, lenientStart: true },
    opts.deadlineMs,
    opts.signal,
  );
}

/** The live endpoint of every shard 0..shardCount-1, and of the orchestrator when one is registered. */
async function discover(
  peers: Peers,
  registryAddress: string,
): Promise<{ shards: Endpoint[]; orchestrator: Endpoint | undefined; orchestratorRegistered: boolean }> {
  const where = `registry ${registryAddress}`;
  let config;
  try {
    config = await peers.directory.config();
  } catch (err) {
    rethrowNamed(err, `cannot reach the ${where} (is it running, and is the address right?)`);
  }
  const list = await peers.directory.listShards();
  const shards: Endpoint[] = [];
  for (let s = 0; s < config.shardCount; s++) {
    const replica = list.shards.find((x) => x.shardId === s)?.replicas.find((r) => r.alive);
    if (!replica) {
      throw errors.unavailable(`shard ${s} has no live replica registered with the ${where}; the audit needs every shard`, { shardId: s });
    }
    shards.push(replica);
  }
  const orchestrators = await peers.directory.endpoints('orchestrator');
  const orchestrator = orchestrators.find((e) => e.alive);
  if (orchestrators.length > 0 && !orchestrator) {
    throw errors.unavailable(`the orchestrator is registered with the ${where} but not alive (no recent heartbeat); the audit needs its blocks`);
  }
  return { shards, orchestrator, orchestratorRegistered: orchestrators.length > 0 };
}

/**
 * Collects what {@link auditNetwork} needs from a running network: finds every state shard and
 * the orchestrator through the registry, then reads each shard (in parallel) — GetHead, every
 * account with ListAccounts pages, and its blocks 0..the accounts' height with SubscribeBlocks
 * (stopping there; the stream itself goes on) — and, after the shards, the orchestrator's blocks
 * up to its head (GetBlock without height, then SubscribeBlocks). Reading the orchestrator last
 * means every decision a shard has applied is among the orchestrator blocks read.
 *
 * Shards are read one after another in time, so a network that is still executing cross-shard
 * transactions may show them in flight (or, racing, inconsistent); audit an idle network for a
 * verdict. When a shard executes transactions while its accounts are being listed across pages,
 * it is read again (up to 3 times).
 *
 * Without a registered orchestrator (or one answering UNIMPLEMENTED), no orchestrator blocks are
 * used and a note says so: every cross-shard system transaction is then reported unexplained,
 * except those of client-led transactions (decided in the shards' own blocks).
 * @throws ShardLabError UNAVAILABLE when the registry cannot be reached (naming its address), a
 *   shard has no live replica, or a service stops answering; FAILED_PRECONDITION when a service's
 *   answers are inconsistent (wrong shard id, gaps in a block stream).
 */
export async function collectAuditInput(opts: CollectOpts): Promise<AuditInput> {
  const deadlineMs = opts.deadlineMs ?? DEFAULT_AUDIT_DEADLINE_MS;
  const pageSize = opts.pageSize ?? DEFAULT_ACCOUNTS_PAGE_SIZE;
  const progress = opts.onProgress ?? (() => {});
  const ctl = new AbortController();
  const onOuter = () => ctl.abort();
  if (opts.signal?.aborted) ctl.abort();
  opts.signal?.addEventListener('abort', onOuter, { once: true });
  // Every call has the audit's deadline and fails at once when a service cannot be reached.
  const calls = { deadlineMs, waitForReady: false };
  const peers = connectPeers({
    registryAddress: opts.registryAddress,
    logger: silentLogger(),
    registryDeadlineMs: deadlineMs,
    calls: { 'state-shard': calls, orchestrator: calls },
  });
  try {
    const found = await discover(peers, opts.registryAddress);
    progress(`registry ${opts.registryAddress}: ${found.shards.length} shards, orchestrator ${found.orchestrator?.address ?? 'not registered'}`);

    const shards = await Promise.all(
      found.shards.map(async (endpoint, shardId) => {
        try {
          const shard = await collectShard(peers, shardId, { deadlineMs, pageSize, signal: ctl.signal });
          progress(`shard ${shardId} (${endpoint.address}): ${shard.blocks.length} blocks, ${shard.accounts.length} accounts`);
          return shard;
        } catch (err) {
          ctl.abort(); // no point reading the other shards
          throw err;
        }
      }),
    );

    const notes: string[] = [];
    let orchestratorBlocks: OrchestratorBlock[] = [];
    if (!found.orchestrator) {
      notes.push('no orchestrator is registered: audited without orchestrator blocks, so every cross-shard system transaction the shards did not decide themselves (client-led) is unexplained');
    } else {
      const blocks = await collectOrchestrator(peers, { deadlineMs, signal: ctl.signal });
      if (blocks === undefined) {
        notes.push(`the orchestrator (${found.orchestrator.address}) does not serve blocks (UNIMPLEMENTED): audited without orchestrator blocks`);
        progress(`orchestrator (${found.orchestrator.address}): serves no blocks`);
      } else {
        orchestratorBlocks = blocks;
        progress(`orchestrator (${found.orchestrator.address}): ${blocks.length} blocks`);
      }
    }
    return {
      shards,
      orchestratorBlocks,
      notes,
      ...(opts.protocol !== undefined ? { protocol: opts.protocol } : {}),
      ...(opts.lockTimeoutBlocks !== undefined ? { lockTimeoutBlocks: opts.lockTimeoutBlocks } : {}),
    };
  } catch (err) {
    if (opts.signal?.aborted) throw errors.unavailable('the audit was cancelled');
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onOuter);
    peers.close();
  }
}

/** Collects the network's blocks and accounts ({@link collectAuditInput}) and audits them ({@link auditNetwork}). */
export async function runAudit(opts: CollectOpts): Promise<AuditReport> {
  return auditNetwork(await collectAuditInput(opts));
}
