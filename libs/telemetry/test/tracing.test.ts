import { SpanKind, SpanStatusCode, context, metrics, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { extractContext, initTelemetry, injectContext, tracer, withSpan, type Telemetry } from '../src/tracing';

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe('initTelemetry without an exporter', () => {
  it.each([{}, { OTEL_TRACES_EXPORTER: '' }, { OTEL_TRACES_EXPORTER: 'none' }, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }])(
    'is a no-op for env %j',
    async (env) => {
      const telemetry = initTelemetry({ serviceName: 'test', env });
      expect(telemetry.enabled).toBe(false);
      // Nothing is registered: spans are non-recording and nothing propagates.
      const span = tracer('test').startSpan('noop');
      expect(span.isRecording()).toBe(false);
      span.end();
      expect(injectContext(trace.setSpan(context.active(), span))).toEqual({});
      await telemetry.shutdown();
    },
  );
});

describe('initTelemetry with an in-memory exporter', () => {
  let exporter: InMemorySpanExporter;
  let telemetry: Telemetry;

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    telemetry = initTelemetry({ serviceName: 'shardlab-test', env: {}, exporter });
  });

  afterEach(async () => {
    await telemetry.shutdown();
  });

  const finished = async (): Promise<ReadableSpan[]> => {
    await telemetry.flush();
    return exporter.getFinishedSpans();
  };
  const byName = async (name: string): Promise<ReadableSpan> => {
    const spans = await finished();
    const span = spans.find((s) => s.name === name);
    if (!span) throw new Error(`no finished span named ${name}; have ${spans.map((s) => s.name).join(', ')}`);
    return span;
  };

  it('is enabled and refuses a second pipeline while running', () => {
    expect(telemetry.enabled).toBe(true);
    expect(() => initTelemetry({ serviceName: 'again', exporter: new InMemorySpanExporter() })).toThrow(/already initialised/);
  });

  it('starts no metrics pipeline (the SDK would default to pushing OTLP metrics)', () => {
    expect(metrics.getMeterProvider().constructor.name).toBe('NoopMeterProvider');
  });

  it('withSpan records a span with attributes, the service name and the result', async () => {
    const result = await withSpan(tracer('gateway'), 'SendRawTransaction', { txHash: '0xabc', shard: 1 }, async (span) => {
      span.setAttribute('extra', true);
      return 42;
    });
    expect(result).toBe(42);
    const span = await byName('SendRawTransaction');
    expect(span.attributes).toEqual({ txHash: '0xabc', shard: 1, extra: true });
    expect(span.instrumentationScope.name).toBe('shardlab.gateway');
    expect(span.resource.attributes['service.name']).toBe('shardlab-test');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.ended).toBe(true);
  });

  it('nests child spans under the active parent, also across awaits', async () => {
    const t = tracer('shard');
    await withSpan(t, 'parent', {}, async () => {
      await withSpan(t, 'child-1', {}, async () => {
        await new Promise((r) => setImmediate(r));
        await withSpan(t, 'grandchild', {}, async () => {});
      });
      await withSpan(t, 'child-2', {}, async () => {});
    });
    const parent = await byName('parent');
    expect(parent.parentSpanContext).toBeUndefined();
    for (const name of ['child-1', 'child-2']) {
      const child = await byName(name);
      expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    }
    expect((await byName('grandchild')).parentSpanContext?.spanId).toBe((await byName('child-1')).spanContext().spanId);
    // Outside the parent there is no active span again.
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('separate root spans get separate traces', async () => {
    const t = tracer('shard');
    await withSpan(t, 'a', {}, async () => {});
    await withSpan(t, 'b', {}, async () => {});
    expect((await byName('a')).spanContext().traceId).not.toBe((await byName('b')).spanContext().traceId);
  });

  it('records errors, sets an error status, ends the span and rethrows', async () => {
    const failure = new Error('nonce too low');
    await expect(
      withSpan(tracer('shard'), 'validate', {}, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    const span = await byName('validate');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nonce too low' });
    const event = span.events.find((e) => e.name === 'exception');
    expect(event?.attributes?.['exception.message']).toBe('nonce too low');
    expect(event?.attributes?.['exception.type']).toBe('Error');
  });

  it('records non-Error throws as a string', async () => {
    await expect(
      withSpan(tracer('shard'), 'weird', {}, async () => {
        throw 'plain string';
      }),
    ).rejects.toBe('plain string');
    const span = await byName('weird');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'plain string' });
    expect(span.events.find((e) => e.name === 'exception')?.attributes?.['exception.message']).toBe('plain string');
  });

  it('passes links to the span', async () => {
    const t = tracer('shard');
    const linked = await withSpan(t, 'tx', {}, async (span) => span.spanContext());
    await withSpan(t, 'block', {}, async () => {}, [{ context: linked }]);
    expect((await byName('block')).links.map((l) => l.context.spanId)).toEqual([linked.spanId]);
  });

  it('injectContext and extractContext round-trip a W3C traceparent', async () => {
    const t = tracer('gateway');
    let headers: Record<string, string> = {};
    await withSpan(t, 'client', {}, async () => {
      headers = injectContext();
    });
    const client = await byName('client');
    const match = TRACEPARENT_RE.exec(headers['traceparent'] ?? '');
    expect(match?.[1]).toBe(client.spanContext().traceId);
    expect(match?.[2]).toBe(client.spanContext().spanId);

    // The receiving side: no active span, then a span started under the extracted context.
    expect(trace.getActiveSpan()).toBeUndefined();
    const remote = extractContext(headers);
    expect(trace.getSpanContext(remote)).toMatchObject({ traceId: client.spanContext().traceId, isRemote: true });
    await context.with(remote, () => withSpan(t, 'server', {}, async () => {}));
    const server = await byName('server');
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  });

  it('extractContext of a hand-written traceparent continues that trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const ctx = extractContext({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    await context.with(ctx, () => withSpan(tracer('shard'), 'prepare', {}, async () => {}));
    expect((await byName('prepare')).spanContext().traceId).toBe(traceId);
    expect((await byName('prepare')).parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
  });

  it('extractContext ignores missing or malformed headers', () => {
    expect(trace.getSpanContext(extractContext({}))).toBeUndefined();
    expect(trace.getSpanContext(extractContext({ traceparent: 'garbage' }))).toBeUndefined();
    expect(injectContext()).toEqual({});
  });
});

describe('initTelemetry lifecycle', () => {
  it('can be started again after shutdown, and shutdown is idempotent', async () => {
    for (const round of [1, 2]) {
      const exporter = new InMemorySpanExporter();
      const telemetry = initTelemetry({ serviceName: 'again', env: {}, exporter });
      await withSpan(tracer('lifecycle'), `round-${round}`, {}, async () => {});
      await telemetry.flush();
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([`round-${round}`]);
      await telemetry.shutdown();
      await telemetry.shutdown();
    }
    // After shutdown tracing is a no-op again.
    expect(tracer('lifecycle').startSpan('after').isRecording()).toBe(false);
  });
});
