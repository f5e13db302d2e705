import { errors } from '@shardlab/common';
import { OrchestratorServiceService, TxStatus, type OrchestratorServiceServer, type TransactionStatus } from '@shardlab/proto';
import { serverStream, startServer, unary, type RunningServer } from '@shardlab/rpc';
import { silentLogger } from '@shardlab/telemetry';

/** What a status of the fake orchestrator may say besides its status (defaults: shard 0, no reason, no involved shards). */
export interface StatusExtra {
  homeShard?: number;
  reason?: string;
  /** The record's involved shards (the real orchestrator's always has them). */
  involvedShards?: number[];
}

/**
 * An orchestrator for gateway tests: a real gRPC server implementing OrchestratorService.
 * GetCrossShardStatus answers from `statuses` (TX_STATUS_UNKNOWN for other hashes);
 * SubscribeStatus streams the changes the test makes with {@link update} from the moment of
 * subscription on. The status map can be shared with a successor started on the same port, as
 * an orchestrator restarting from its store would.
 */
export class FakeOrchestrator {
  server: RunningServer | undefined;
  readonly getCalls = new Map<string, number>();
  subscribeCalls = 0;
  private readonly subscribers = new Set<(s: TransactionStatus) => void>();
  private readonly enders = new Set<() => void>();

  constructor(readonly statuses = new Map<string, TransactionStatus>()) {}

  /** `host:port` once started. */
  get address(): string {
    if (!this.server) throw new Error('fake orchestrator not started');
    return this.server.address;
  }

  /** Open SubscribeStatus streams. */
  get streams(): number {
    return this.subscribers.size;
  }

  /** Starts on `port` (0: a free one). */
  async start(port = 0): Promise<this> {
    this.server = await startServer({
      port,
      services: [{ name: 'shardlab.v1.OrchestratorService', definition: OrchestratorServiceService, implementation: this.implementation() }],
      logger: silentLogger(),
    });
    return this;
  }

  /** Stops as a crash would: open streams break, calls in flight fail. */
  async crash(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.server.forceShutdown();
  }

  /** Stops cleanly: open streams end, then the server closes. */
  async stop(): Promise<void> {
    for (const end of [...this.enders]) end();
    await this.server?.close(500);
    this.server = undefined;
  }

  /** Records a status of `txHash` (homeShard, reason, involved shards as given) and streams it to every subscriber. */
  update(txHash: string, status: TxStatus, extra: StatusExtra = {}): TransactionStatus {
    const s = this.record(txHash, status, extra);
    for (const push of [...this.subscribers]) push(s);
    return s;
  }

  /** Streams `status` to every subscriber without recording it (a duplicate or late event). */
  push(status: TransactionStatus): void {
    for (const push of [...this.subscribers]) push(status);
  }

  /** Records a status without streaming it (a change the gateway can only learn by asking). */
  record(txHash: string, status: TxStatus, extra: StatusExtra = {}): TransactionStatus {
    const prev = this.statuses.get(txHash);
    const s: TransactionStatus = {
      txHash,
      status,
      homeShard: extra.homeShard ?? prev?.homeShard ?? 0,
      crossShard: true,
      blockHeight: 0,
      receipt: undefined,
      reason: extra.reason ?? '',
      updatedAtMs: Date.now(),
      applied: false,
      involvedShards: extra.involvedShards ?? prev?.involvedShards ?? [],
    };
    this.statuses.set(txHash, s);
    return s;
  }

  private implementation(): OrchestratorServiceServer {
    const log = silentLogger();
    const refuse = async () => {
      throw errors.unimplemented('not in the fake');
    };
    return {
      forwardTransaction: unary(log, 'ForwardTransaction', refuse),
      forwardTransactions: unary(log, 'ForwardTransactions', refuse),
      getBlock: unary(log, 'GetBlock', refuse),
      subscribeBlocks: serverStream(log, 'SubscribeBlocks', refuse),
      getCrossShardStatus: unary(log, 'GetCrossShardStatus', async (req) => {
        this.getCalls.set(req.txHash, (this.getCalls.get(req.txHash) ?? 0) + 1);
        return (
          this.statuses.get(req.txHash) ?? {
            txHash: req.txHash,
            status: TxStatus.TX_STATUS_UNKNOWN,
            homeShard: 0,
            crossShard: false,
            blockHeight: 0,
            receipt: undefined,
            reason: '',
            updatedAtMs: 0,
            applied: false,
            involvedShards: [],
          }
        );
      }),
      subscribeStatus: serverStream(log, 'SubscribeStatus', async (_req, send, ctx) => {
        this.subscribeCalls++;
        // Registered before the first await: every change after the call arrived is streamed.
        const queue: TransactionStatus[] = [];
        let wake: (() => void) | undefined;
        let ended = false;
        const push = (s: TransactionStatus) => {
          queue.push(s);
          wake?.();
        };
        const end = () => {
          ended = true;
          wake?.();
        };
        this.subscribers.add(push);
        this.enders.add(end);
        ctx.signal.addEventListener('abort', end, { once: true });
        try {
          for (;;) {
            for (let s = queue.shift(); s; s = queue.shift()) await send(s);
            if (ended || ctx.signal.aborted) return;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          this.subscribers.delete(push);
          this.enders.delete(end);
        }
      }),
    };
  }
}
