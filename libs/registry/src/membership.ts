// The membership loop of a service instance: registering with the registry (retried with back-off), heartbeats, re-registering on NOT_FOUND, deregistering on stop.
import { ErrorCode, errors, isShardLabError } from '@shardlab/common';
import { backoffDelayMs, sleep, type BackoffOpts } from '@shardlab/rpc';
import type { Logger } from '@shardlab/telemetry';
import { createRegistryClient, DEFAULT_REGISTRY_DEADLINE_MS, type RegistryClient } from './client';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, type EndpointRegistration } from './state';

/** Options of {@link startMembership}. */
export interface MembershipOpts {
  /** `host:port` of the registry: a client is created for it (closed by `stop`) unless `client` is given. */
  registryAddress?: string;
  /** What this instance announces (service, advertised address, shard id, instance id). */
  endpoint: EndpointRegistration;
  logger: Logger;
  /** Deadline of each registry call, in milliseconds; default {@link DEFAULT_REGISTRY_DEADLINE_MS}. */
  deadlineMs?: number;
  /** Back-off between registration attempts; default 100 ms doubling up to 5 s. */
  retry?: BackoffOpts;
  /**
   * Called with the placement epoch of every Register/Heartbeat answer that differs from the
   * previous one (the first included), so that a cached placement can be refreshed.
   */
  onPlacementEpoch?: (epoch: number) => void;
  /**
   * The registry client to use instead of creating one for `registryAddress`, e.g. a directory's
   * `registry` (so that a service opens one registry client only). Not closed by `stop`.
   */
  client?: RegistryClient;
}

/** A running membership loop (see {@link startMembership}). */
export interface Membership {
  /**
   * Resolves at the first successful registration. Rejects when the registry refuses the
   * registration as invalid (INVALID_ARGUMENT: a configuration error, not retried) or when
   * `stop` is called first.
   */
  readonly registered: Promise<void>;
  /** Whether the registry currently knows this instance (as far as the last call showed). */
  isRegistered(): boolean;
  /** Stops heartbeating and deregisters (best effort, with a deadline). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Registers `endpoint` with the registry and keeps the registration alive (docs/ARCHITECTURE.md §1).
 * Registration is retried with exponential back-off until the registry answers, logging each
 * attempt; then a heartbeat is sent every `heartbeatIntervalMs` the registry asked for. A
 * heartbeat answered NOT_FOUND (the registry restarted or forgot the instance) registers again;
 * other heartbeat failures are logged and the next heartbeat is tried on schedule.
 * Runs in the background: the returned object is available at once.
 * @throws ShardLabError INVALID_ARGUMENT when neither `client` nor `registryAddress` is given.
 */
export function startMembership(opts: MembershipOpts): Membership {
  if (!opts.client && opts.registryAddress === undefined) throw errors.invalidArgument('startMembership needs a registry client or a registry address');
  const ownClient = !opts.client;
  const client = opts.client ?? createRegistryClient(opts.registryAddress!, { deadlineMs: opts.deadlineMs ?? DEFAULT_REGISTRY_DEADLINE_MS });
  const log = opts.logger.child({ module: 'membership', instanceId: opts.endpoint.instanceId, registry: client.address });
  const controller = new AbortController();
  const signal = controller.signal;
  let registered = false;
  let lastEpoch: number | undefined;
  let resolveRegistered!: () => void;
  let rejectRegistered!: (err: unknown) => void;
  const registeredPromise = new Promise<void>((resolve, reject) => {
    resolveRegistered = resolve;
    rejectRegistered = reject;
  });
  registeredPromise.catch(() => {});

  const observeEpoch = (epoch: number) => {
    if (epoch === lastEpoch) return;
    lastEpoch = epoch;
    opts.onPlacementEpoch?.(epoch);
  };

  /** Registers until it succeeds; returns the heartbeat interval, or undefined when stopped or refused. */
  const register = async (): Promise<number | undefined> => {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const res = await client.register(opts.endpoint, signal);
        registered = true;
        observeEpoch(res.placementEpoch);
        log.info({ endpoint: opts.endpoint, attempts: attempt + 1, heartbeatIntervalMs: res.heartbeatIntervalMs }, 'registered with the registry');
        resolveRegistered();
        return res.heartbeatIntervalMs > 0 ? res.heartbeatIntervalMs : DEFAULT_HEARTBEAT_INTERVAL_MS;
      } catch (err) {
        if (signal.aborted) return undefined;
        if (isShardLabError(err, ErrorCode.InvalidArgument)) {
          log.error({ err: err.message, endpoint: opts.endpoint }, 'the registry refused the registration');
          rejectRegistered(err);
          return undefined;
        }
        const delayMs = backoffDelayMs(attempt, opts.retry);
        log.warn({ err: (err as Error).message, attempt: attempt + 1, retryInMs: delayMs }, 'registry did not answer; retrying registration');
        await sleep(delayMs, signal);
      }
    }
    return undefined;
  };

  const run = async () => {
    while (!signal.aborted) {
      const intervalMs = await register();
      if (intervalMs === undefined) return;
      let failures = 0;
      while (!signal.aborted) {
        await sleep(intervalMs, signal);
        if (signal.aborted) return;
        try {
          observeEpoch(await client.heartbeat(opts.endpoint.instanceId, signal));
          if (failures > 0) log.info({ failures }, 'heartbeats answered again');
          failures = 0;
        } catch (err) {
          if (signal.aborted) return;
          if (isShardLabError(err, ErrorCode.NotFound)) {
            registered = false;
            log.warn('the registry does not know this instance (restarted or expired it); registering again');
            break;
          }
          failures++;
          const fields = { err: (err as Error).message, failures };
          if (failures === 1) log.warn(fields, 'heartbeat failed');
          else log.debug(fields, 'heartbeat failed');
        }
      }
    }
  };

  const loop = run().catch((err: unknown) => log.error({ err }, 'membership loop failed'));
  let stopping: Promise<void> | undefined;

  return {
    registered: registeredPromise,
    isRegistered: () => registered,
    stop: () => {
      stopping ??= (async () => {
        controller.abort();
        rejectRegistered(new Error('membership stopped before registering'));
        await loop;
        if (registered) {
          try {
            await client.deregister(opts.endpoint.instanceId);
            log.info('deregistered from the registry');
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'could not deregister; the registry will expire this instance');
          }
          registered = false;
        }
        if (ownClient) client.close();
      })();
      return stopping;
    },
  };
}
