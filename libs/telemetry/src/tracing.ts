import { trace, context, propagation, SpanStatusCode, type Span, type Tracer, type Link } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A started telemetry pipeline; call `shutdown` before the process exits to flush spans. */
export interface Telemetry {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

/** Options of {@link initTelemetry}. */
export interface TelemetryOpts {
  /** `service.name` resource attribute. */
  serviceName: string;
  /** Environment to read `OTEL_*` variables from; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Exporter to use instead of the `OTEL_*` configuration (tests pass an in-memory exporter). */
  exporter?: SpanExporter;
}

/**
 * Starts OpenTelemetry tracing for a service (`@opentelemetry/sdk-node`). Exporters are chosen with
 * the standard variables (`OTEL_TRACES_EXPORTER=otlp|console|zipkin`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_SERVICE_NAME`, ...); when `OTEL_TRACES_EXPORTER` is unset or `none`, and no exporter is
 * given, tracing stays a no-op so a laptop run sends nothing anywhere. W3C trace context is the
 * propagator (DESIGN.md section 6).
 */
export function initTelemetry(opts: TelemetryOpts): Telemetry {
  const env = opts.env ?? process.env;
  const configured = env['OTEL_TRACES_EXPORTER'];
  if (!opts.exporter && (configured === undefined || configured === '' || configured === 'none')) {
    return { enabled: false, shutdown: async () => {} };
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env['OTEL_SERVICE_NAME'] ?? opts.serviceName }),
    ...(opts.exporter ? { spanProcessors: [new SimpleSpanProcessor(opts.exporter)] } : {}),
    instrumentations: [],
  });
  sdk.start();
  return { enabled: true, shutdown: () => sdk.shutdown() };
}

/** The tracer of a ShardLab module. */
export function tracer(name: string): Tracer {
  return trace.getTracer(`shardlab.${name}`);
}

/**
 * Runs `fn` inside a new active span; records an exception and sets an error status when `fn`
 * throws, and always ends the span.
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
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Serialises the active trace context as W3C `traceparent`/`tracestate` headers. */
export function injectContext(ctx = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Rebuilds a trace context from W3C headers (as carried in gRPC metadata or stored with a tx). */
export function extractContext(carrier: Record<string, string>) {
  return propagation.extract(context.active(), carrier);
}
