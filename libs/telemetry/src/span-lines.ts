// The span exporter behind OTEL_TRACES_EXPORTER=console: one JSON object per span per line, on its own stream.
import { ExportResultCode, hrTimeToMicroseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * A span exporter that writes each span as one JSON object on one line to `output` (ShardLab
 * services use standard error, so that standard output keeps only the JSON log lines). The fields
 * are those of the SDK's `ConsoleSpanExporter`: `resource.attributes`, `instrumentationScope`,
 * `traceId`, `parentSpanContext`, `traceState`, `name`, `id` (span id), `kind`, `timestamp`
 * (start, microseconds since the epoch), `duration` (microseconds), `attributes`, `status`,
 * `events`, `links`.
 */
export class JsonLinesSpanExporter implements SpanExporter {
  constructor(private readonly output: NodeJS.WritableStream) {}

  /** Writes `spans` (one line each) and reports success; a failed write reports failure. */
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      for (const span of spans) this.output.write(`${JSON.stringify(spanLine(span))}\n`);
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /** Nothing is buffered here: resolves at once. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release (the output stream belongs to the caller): resolves at once. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The JSON-ready fields of one span (see {@link JsonLinesSpanExporter}). */
function spanLine(span: ReadableSpan): Record<string, unknown> {
  const ctx = span.spanContext();
  return {
    resource: { attributes: span.resource.attributes },
    instrumentationScope: span.instrumentationScope,
    traceId: ctx.traceId,
    parentSpanContext: span.parentSpanContext,
    traceState: ctx.traceState?.serialize(),
    name: span.name,
    id: ctx.spanId,
    kind: span.kind,
    timestamp: hrTimeToMicroseconds(span.startTime),
    duration: hrTimeToMicroseconds(span.duration),
    attributes: span.attributes,
    status: span.status,
    events: span.events,
    links: span.links,
  };
}
