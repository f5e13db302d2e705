// NetClient, the scenarios' gRPC client of a running network: signing and sending through the gateway, watching to a terminal status, storage by GetProof, orchestrator height
/**
 * A client of a running ShardLab network for the scenarios and their tests: everything over gRPC
 * (the gateway; GetProof on the state shards and GetBlock on the orchestrator, found through the
 * registry's endpoints), so it works the same against separate processes or an in-process network.
 */
import type { Common } from '@ethereumjs/common';
import { createAddressFromString, createContractAddress } from '@ethereumjs/util';
import { createChainCommon, createPlacement, devAccounts, shardOf, signTransaction, type DevAccount, type Placement } from '@shardlab/chain';
import {
  GatewayServiceClient,
  SystemTxKind,
  isLastWatchStatus,
  TxStatus,
  GetProofRequest,
  type Account,
  type GetProofResponse,
  type OrchestratorBlock,
  type SendRawTransactionResponse,
  type StateShardBlock,
  type TransactionStatus,
} from '@shardlab/proto';
import { connectPeers, type Peers } from '@shardlab/registry';
import { createClient, streamCall, unaryCall } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

/** A transaction request: recipient (none: creation), calldata (hex, no 0x), gas limit [1,000,000]. */
export type Req = { to?: string; data: string; gasLimit?: bigint; value?: bigint };

/** A submitted transaction followed to its terminal status. */
export interface Outcome {
  sent: SendRawTransactionResponse;
  final: TransactionStatus;
  /** Submission to terminal status, in milliseconds. */
  latencyMs: number;
}

/** Polls `probe` every 50 ms until it returns true, up to `timeoutMs`. */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** Address created by `a` at `nonce` (CREATE). */
export const createdBy = (a: DevAccount, nonce: bigint): string => createContractAddress(createAddressFromString(a.address), nonce).toString();

/**
 * A client of a running network for scenarios and their tests: submits through the gateway at
 * `gatewayAddress`, reads shards and the orchestrator through the registry at `registryAddress`,
 * and signs as the development accounts (placement `last byte mod shardCount`). Calls throw
 * ShardLabErrors with the callee's gRPC code. `close` closes every client it opened.
 */
export class NetClient {
  readonly common: Common = createChainCommon();
  readonly placement: Placement;
  readonly dev: DevAccount[] = devAccounts();
  readonly gateway: GatewayServiceClient;
  /** State shards and the orchestrator, found through the registry (the peer-client layer). */
  readonly peers: Peers;

  constructor(
    readonly registryAddress: string,
    readonly gatewayAddress: string,
    readonly shardCount: number,
  ) {
    this.placement = createPlacement(shardCount);
    this.gateway = createClient(GatewayServiceClient, gatewayAddress);
    this.peers = connectPeers({ registryAddress, logger: silentLogger() });
  }

  /** Development accounts whose placement is shard `s`. */
  on(s: number): DevAccount[] {
    return this.dev.filter((a) => shardOf(this.placement, a.address) === s);
  }

  /** The shard `address` is placed on. */
  shardOf(address: string): number {
    return shardOf(this.placement, address);
  }

  /** The account at its shard's head, through the gateway (balance and locked in wei). */
  account(address: string): Promise<Account> {
    return unaryCall<Account>('gateway', (md, o, cb) => this.gateway.getAccount({ address }, md, o, cb));
  }

  /**
   * Block `height` of shard `shardId` (default its head), through the gateway.
   * @throws ShardLabError NOT_FOUND beyond the head.
   */
  headBlock(shardId: number, height?: number): Promise<StateShardBlock> {
    return unaryCall<StateShardBlock>('gateway', (md, o, cb) => this.gateway.getShardBlock(height === undefined ? { shardId } : { shardId, height }, md, o, cb));
  }

  /** The head height of every shard, by shard id. */
  async heads(): Promise<number[]> {
    return Promise.all(Array.from({ length: this.shardCount }, async (_, s) => Number((await this.headBlock(s)).height)));
  }

  /** Storage slot values of `address` on its shard, at its head, by GetProof. */
  async storage(address: string, slots: string[]): Promise<bigint[]> {
    const shard = await this.peers.shard(this.shardOf(address));
    const res = await shard.call<GetProofResponse>((c, md, o, cb) => c.getProof(GetProofRequest.fromPartial({ address, slots }), md, o, cb));
    return res.storage.map((s) => (s.value === '' || s.value === '0x' ? 0n : BigInt(s.value)));
  }

  /** Height of the orchestrator's head block (GetBlock over gRPC). */
  async orchestratorHeight(): Promise<number> {
    const orchestrator = await this.peers.orchestrator();
    const b = await orchestrator.call<OrchestratorBlock>((c, md, o, cb) => c.getBlock({}, md, o, cb));
    return Number(b.height);
  }

  /** Waits until every state shard has applied every orchestrator block produced so far. */
  async settled(timeoutMs = 15_000): Promise<void> {
    const h = await this.orchestratorHeight();
    await until(
      `every shard past orchestrator block ${h}`,
      async () => {
        for (let s = 0; s < this.shardCount; s++) if (Number((await this.headBlock(s)).orchestratorHeight) < h) return false;
        return true;
      },
      timeoutMs,
    );
  }

  /** Signs `req` with the sender's next nonce (from the gateway, or `nonce`). */
  sign(from: DevAccount, req: Req, nonce: bigint): Uint8Array {
    return signTransaction(this.common, from, { to: req.to, nonce, gasLimit: req.gasLimit ?? 1_000_000n, data: Buffer.from(req.data, 'hex'), ...(req.value !== undefined ? { value: req.value } : {}) });
  }

  /** Submits a raw signed transaction through the gateway; the gateway's answer (hash, home shard, class). */
  sendRaw(raw: Uint8Array): Promise<SendRawTransactionResponse> {
    return unaryCall<SendRawTransactionResponse>('gateway', (md, o, cb) => this.gateway.sendRawTransaction({ rawTransaction: Buffer.from(raw) }, md, o, cb));
  }

  /** Signs (with the sender's next nonce) and submits a transaction through the gateway. */
  async submit(from: DevAccount, req: Req): Promise<SendRawTransactionResponse> {
    const nonce = BigInt((await this.account(from.address)).nonce);
    return this.sendRaw(this.sign(from, req, nonce));
  }

  /**
   * Follows a transaction with WatchTransaction to its last status (`isLastWatchStatus`): a
   * terminal one, and for a cross-shard decision the one `applied` by every involved shard, so
   * that reads right after see its outcome. Gives up (the stream fails) after `timeoutMs`.
   */
  async watch(txHash: string, timeoutMs = 30_000): Promise<TransactionStatus> {
    let final: TransactionStatus | undefined;
    for await (const s of streamCall('gateway', (md, o) => this.gateway.watchTransaction({ txHash }, md, o), AbortSignal.timeout(timeoutMs))) {
      final = s;
      if (isLastWatchStatus(s)) break;
    }
    if (!final) throw new Error(`no status for ${txHash}`);
    return final;
  }

  /** Submits and follows to a terminal status. */
  async send(from: DevAccount, req: Req): Promise<Outcome> {
    const t0 = Date.now();
    const sent = await this.submit(from, req);
    const final = await this.watch(sent.txHash);
    return { sent, final, latencyMs: Date.now() - t0 };
  }

  /** System operations (kind names) for `txHash` in shard `shardId`'s blocks `from..head`. */
  async systemOps(shardId: number, txHash: string, from: number): Promise<string[]> {
    const head = Number((await this.headBlock(shardId)).height);
    const kinds: string[] = [];
    for (let h = from; h <= head; h++) {
      const b = await this.headBlock(shardId, h);
      for (const t of b.transactions) {
        if (t.kind?.$case === 'system' && t.kind.value.txHash === txHash) kinds.push(SystemTxKind[t.kind.value.kind].replace('SYSTEM_TX_KIND_', ''));
      }
    }
    return kinds;
  }

  /** Closes the gateway client and the peers (and their registry directory). */
  close(): void {
    this.gateway.close();
    this.peers.close();
  }
}

/** Human-readable status of an outcome: `COMMITTED`, `ABORTED (reason)`, ... */
export const statusText = (f: TransactionStatus): string => `${TxStatus[f.status]?.replace('TX_STATUS_', '') ?? f.status}${f.reason ? ` (${f.reason})` : ''}`;
