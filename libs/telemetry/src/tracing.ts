// OpenTelemetry tracing: initTelemetry from the OTEL_* variables (no-op unless an exporter is named), module tracers, withSpan, W3C trace context inject/extract.
import {
  trace,
  context,
  propagation,
  SpanStatusCode,
  type Context,
  type Span,
  type Tracer,
  type Link,
  type ProxyTracerProvider,
  type TracerProvider,
} from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonLinesSpanExporter } from './span-lines';

/** A started telemetry pipeline; call `shutdown` before the process exits to flush spans. */
export interface Telemetry {
  /** True when spans are recorded and exported; false when tracing is a no-op. */
  readonly enabled: boolean;
  /**
   * Exports every span that has ended so far and resolves when the exporter has them (spans wait
   * for asynchronous resource detection before their first export). Tests call it before reading
   * an in-memory exporter. A no-op when tracing is off.
   */
  flush(): Promise<void>;
  /**
   * Flushes and stops the pipeline and unregisters the global tracer provider, context manager and
   * propagator, so that {@link initTelemetry} may be called again (tests). Idempotent.
   */
  shutdown(): Promise<void>;
}

/** Options of {@link initTelemetry}. */
export interface TelemetryOpts {
  /** `service.name` resource attribute (overridden by `OTEL_SERVICE_NAME`). */
  serviceName: string;
  /**
   * Environment that decides whether tracing starts (`OTEL_TRACES_EXPORTER`, `OTEL_SDK_DISABLED`,
   * `OTEL_SERVICE_NAME`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`); default `process.env`.
   * The exporters themselves (endpoint, protocol, headers) are configured by the SDK from
   * `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** Exporter to use instead of the `OTEL_*` configuration (tests pass an in-memory exporter). */
  exporter?: SpanExporter;
  /**
   * Where `OTEL_TRACES_EXPORTER=console` writes spans, one JSON object per line; default standard
   * error (standard output carries the JSON log lines).
   */
  spanOutput?: NodeJS.WritableStream;
}

/** True while a pipeline started by {@link initTelemetry} has not been shut down. */
let active = false;

function isUnset(value: string | undefined): boolean {
  return value === undefined || value.trim() === '' || value.trim() === 'none';
}

/** The exporter names of a comma-separated `OTEL_TRACES_EXPORTER` value, as the SDK reads them. */
function exporterNames(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
}

/**
 * Starts OpenTelemetry tracing for a service (`@opentelemetry/sdk-node`). Exporters are chosen with
 * the standard variables (`OTEL_TRACES_EXPORTER=otlp|console|zipkin`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_SERVICE_NAME`, ...); when `OTEL_TRACES_EXPORTER` is unset or `none` (or
 * `OTEL_SDK_DISABLED=true`), and no exporter is given, tracing stays a no-op so a laptop run sends
 * nothing anywhere. `console` writes each span as one JSON line to `spanOutput` (standard error by
 * default; never standard output, which carries the JSON log lines). Metrics and logs are exported
 * only when `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` name an exporter explicitly (the SDK
 * would otherwise default both to OTLP), and never when an explicit `exporter` is given. Spans are
 * exported as they end (simple processor) for a given exporter and for `console`, in batches for
 * the other `OTEL_*` ones. W3C trace context and baggage are the propagators (docs/ARCHITECTURE.md §6).
 * One pipeline per process at a time.
 * @throws Error when a pipeline is already running (shut it down first), or when
 *   `OTEL_TRACES_EXPORTER` names `console` together with other exporters (not supported: choose one).
 */
export function initTelemetry(opts: TelemetryOpts): Telemetry {
  const env = opts.env ?? process.env;
  const disabled = (env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true';
  if (!opts.exporter && (disabled || isUnset(env['OTEL_TRACES_EXPORTER']))) {
    return { enabled: false, flush: async () => {}, shutdown: async () => {} };
  }
  if (active) throw new Error('telemetry is already initialised in this process; shut the running pipeline down first');
  let exporter = opts.exporter;
  if (!exporter) {
    const names = exporterNames(env['OTEL_TRACES_EXPORTER']);
    if (names.includes('console')) {
      if (names.length > 1) {
        throw new Error(
          `OTEL_TRACES_EXPORTER=${env['OTEL_TRACES_EXPORTER']}: "console" cannot be combined with other exporters (choose one)`,
        );
      }
      exporter = new JsonLinesSpanExporter(opts.spanOutput ?? process.stderr);
    }
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env['OTEL_SERVICE_NAME'] || opts.serviceName }),
    ...(exporter ? { spanProcessors: [new SimpleSpanProcessor(exporter)] } : {}),
    ...(opts.exporter || isUnset(env['OTEL_METRICS_EXPORTER']) ? { metricReaders: [] } : {}),
    ...(opts.exporter || isUnset(env['OTEL_LOGS_EXPORTER']) ? { logRecordProcessors: [] } : {}),
    instrumentations: [],
  });
  sdk.start();
  active = true;
  // The SDK's provider behind the global proxy; it alone can flush its span processors.
  const provider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as TracerProvider & {
    forceFlush?: () => Promise<void>;
  };
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    flush: async () => {
      if (!stopped) await provider.forceFlush?.();
    },
    // Flush first: the SDK's shutdown does not wait for the exports a simple span processor has
    // pending (spans that ended before resource detection settled would be lost).
    shutdown: () =>
      (stopped ??= Promise.resolve(provider.forceFlush?.())
        .catch(() => {})
        .then(() => sdk.shutdown())
        .finally(() => {
          trace.disable();
          propagation.disable();
          context.disable();
          active = false;
        })),
  };
}

/**
 * The tracer of a ShardLab module, named `shardlab.<name>`. Module-level tracers are fine with one
 * pipeline per process; a process that starts telemetry again after a shutdown (tests) must take
 * its tracers after the new {@link initTelemetry}, since a tracer stays bound to the first
 * pipeline it was used with.
 */
export function tracer(name: string): Tracer {
  return trace.getTracer(`shardlab.${name}`);
}

/**
 * Runs `fn` inside a new active span (a child of the active span, if any); records an exception
 * and sets an error status when `fn` throws (then rethrows), and always ends the span. Resolves to
 * what `fn` resolves to.
 */
export async function withSpan<T>(
  t: Tracer,
  name: string,
  attributes: Record<string, string | number | boolean>,
  fn: (span: Span) => Promise<T>,
  links?: Link[],
): Promise<T> {
  return t.startActiveSpan(name, { attributes, ...(links ? { links } : {}) }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Serialises a trace context (default the active one) as W3C headers (`traceparent`, and
 * `tracestate`/`baggage` when present). Empty when tracing is off or there is no valid span.
 */
export function injectContext(ctx = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/**
 * Rebuilds a trace context from W3C headers (as carried in gRPC metadata or stored with a tx), on
 * top of the active context; spans started in it are children of the remote span. Header names
 * are lowercase. Invalid or missing headers leave the active context unchanged.
 */
export function extractContext(carrier: Record<string, string>): Context {
  return propagation.extract(context.active(), carrier);
}
