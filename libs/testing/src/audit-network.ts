// A fake network for audit tests: fake state shards and an orchestrator serving an AuditInput over gRPC behind a real registry.
import { errors } from '@shardlab/common';
import {
  OrchestratorServiceService,
  StateShardServiceService,
  type Account,
  type GetBlockRequest,
  type GetHeadRequest,
  type GetHeadResponse,
  type ListAccountsRequest,
  type ListAccountsResponse,
  type OrchestratorBlock,
  type StateShardBlock,
  type SubscribeBlocksRequest,
} from '@shardlab/proto';
import { serverStream, unary, type MountedService } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';
import type { AuditInput } from '@shardlab/audit';
import { startTestRegistry } from './registry';

const logger = silentLogger();

/** What a fake state shard serves; mutable so that tests can change it between (or during) calls. */
export interface FakeShardState {
  shardId: number;
  blocks: StateShardBlock[];
  accounts: Account[];
  /** Shard id GetHead reports (default `shardId`), to fake a misregistered shard. */
  reportedShardId?: number;
  /** Blocks SubscribeBlocks serves before ending the stream (default: all, then stays open like a live stream). */
  endStreamAfter?: number;
  /** Called after each ListAccounts page is answered (page index from 0), e.g. to produce a block. */
  afterPage?: (page: number) => void;
}

/** Serves `blocks` from `fromHeight`, then stays open until the client cancels (a live stream never ends by itself). */
async function serveBlocks<B extends { height: number }>(
  blocks: () => B[],
  fromHeight: number,
  send: (b: B) => Promise<void>,
  signal: AbortSignal,
  endAfter?: number,
): Promise<void> {
  let sent = 0;
  for (const b of blocks()) {
    if (b.height < fromHeight) continue;
    if (endAfter !== undefined && sent >= endAfter) return;
    await send(b);
    sent++;
  }
  if (endAfter !== undefined) return;
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}

/** A StateShardService serving GetHead, ListAccounts (paged by offset) and SubscribeBlocks from `state`. */
export function fakeShardService(state: FakeShardState): MountedService {
  const head = () => state.blocks[state.blocks.length - 1]!;
  let pages = 0;
  return {
    name: 'shardlab.v1.StateShardService',
    definition: StateShardServiceService,
    implementation: {
      getHead: unary<GetHeadRequest, GetHeadResponse>(logger, 'GetHead', async () => ({
        shardId: state.reportedShardId ?? state.shardId,
        height: head().height,
        hash: head().hash,
        stateRoot: head().stateRoot,
        mempoolSize: 0,
      })),
      listAccounts: unary<ListAccountsRequest, ListAccountsResponse>(logger, 'ListAccounts', async (req) => {
        const offset = req.pageToken === '' ? 0 : Number(req.pageToken);
        const size = req.pageSize === 0 ? 1000 : req.pageSize;
        const res = {
          accounts: state.accounts.slice(offset, offset + size),
          nextPageToken: offset + size < state.accounts.length ? String(offset + size) : '',
          blockHeight: head().height,
        };
        state.afterPage?.(pages++); // the shard moves on after answering
        return res;
      }),
      subscribeBlocks: serverStream<SubscribeBlocksRequest, StateShardBlock>(logger, 'SubscribeBlocks', (req, send, ctx) =>
        serveBlocks(() => state.blocks, req.fromHeight, send, ctx.signal, state.endStreamAfter),
      ),
    },
  };
}

/** What a fake orchestrator serves. */
export interface FakeOrchestratorState {
  blocks: OrchestratorBlock[];
  /** Answer GetBlock and SubscribeBlocks with UNIMPLEMENTED (as the contract-only orchestrator). */
  unimplemented?: boolean;
}

/** An OrchestratorService serving GetBlock (head when no height) and SubscribeBlocks from `state`. */
export function fakeOrchestratorService(state: FakeOrchestratorState): MountedService {
  return {
    name: 'shardlab.v1.OrchestratorService',
    definition: OrchestratorServiceService,
    implementation: {
      getBlock: unary<GetBlockRequest, OrchestratorBlock>(logger, 'GetBlock', async (req) => {
        if (state.unimplemented) throw errors.unimplemented('orchestrator blocks are not implemented yet');
        const b = req.height === undefined ? state.blocks[state.blocks.length - 1] : state.blocks.find((x) => x.height === req.height);
        if (!b) throw errors.notFound(`no orchestrator block ${req.height ?? 'head'}`);
        return b;
      }),
      subscribeBlocks: serverStream<SubscribeBlocksRequest, OrchestratorBlock>(logger, 'SubscribeBlocks', async (req, send, ctx) => {
        if (state.unimplemented) throw errors.unimplemented('the orchestrator block stream is not implemented yet');
        await serveBlocks(() => state.blocks, req.fromHeight, send, ctx.signal);
      }),
    },
  };
}

/** A running fake network: a real registry, fake shards and (optionally) a fake orchestrator, all registered. */
export interface FakeNetwork {
  registryAddress: string;
  shards: FakeShardState[];
  orchestrator: FakeOrchestratorState | undefined;
  stop(): Promise<void>;
}

/** Options of {@link startFakeNetwork}. */
export interface FakeNetworkOpts {
  /** Register an orchestrator serving the input's orchestrator blocks; default true. */
  orchestrator?: boolean | 'unimplemented';
  /** Shard ids not to register with the registry. */
  unregistered?: number[];
  /** Changes to a shard's fake state before it starts. */
  tweak?: (shard: FakeShardState) => void;
}

/**
 * Starts a registry (real: `RegistryState` + its gRPC service) and, per shard of `input`, a fake
 * StateShardService on port 0 registered through `startMembership`; likewise the orchestrator.
 * Resolves once every instance is registered. `stop` deregisters and closes everything.
 */
export async function startFakeNetwork(input: AuditInput, opts: FakeNetworkOpts = {}): Promise<FakeNetwork> {
  const registry = await startTestRegistry(input.shards.length, logger);
  try {
    const join = async (service: MountedService, name: string, shardId: number, instanceId: string) => {
      await registry.join(service, { service: name, shardId, instanceId });
    };
    const shards: FakeShardState[] = input.shards.map((s) => ({ shardId: s.shardId, blocks: s.blocks, accounts: s.accounts }));
    for (const s of shards) {
      opts.tweak?.(s);
      if (opts.unregistered?.includes(s.shardId)) continue;
      await join(fakeShardService(s), 'state-shard', s.shardId, `shard-${s.shardId}`);
    }
    let orchestrator: FakeOrchestratorState | undefined;
    if (opts.orchestrator !== false) {
      orchestrator = { blocks: input.orchestratorBlocks, unimplemented: opts.orchestrator === 'unimplemented' };
      await join(fakeOrchestratorService(orchestrator), 'orchestrator', 0, 'orchestrator-0');
    }
    return { registryAddress: registry.address, shards, orchestrator, stop: registry.stop };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
