import { PassThrough } from 'node:stream';
import { initTelemetry, tracer, withSpan } from '../src/tracing';

/** A memory stream and the lines written to it so far. */
function memory(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

describe('OTEL_TRACES_EXPORTER=console', () => {
  it('writes each span as one JSON line to the span output, children with their parent id', async () => {
    const out = memory();
    const telemetry = initTelemetry({ serviceName: 'shardlab-test', env: { OTEL_TRACES_EXPORTER: 'console' }, spanOutput: out.stream });
    try {
      expect(telemetry.enabled).toBe(true);
      await withSpan(tracer('test'), 'outer', { a: 1 }, () => withSpan(tracer('test'), 'inner', { b: 'x' }, async () => {}));
      await telemetry.flush();
      const spans = out.lines().map((l) => JSON.parse(l) as Record<string, any>);
      expect(spans.map((s) => s['name'])).toEqual(['inner', 'outer']);
      const [inner, outer] = spans;
      expect(outer).toMatchObject({
        attributes: { a: 1 },
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        instrumentationScope: { name: 'shardlab.test' },
        resource: { attributes: expect.objectContaining({ 'service.name': 'shardlab-test' }) },
        status: { code: 0 },
        duration: expect.any(Number),
        timestamp: expect.any(Number),
      });
      expect(inner).toMatchObject({ attributes: { b: 'x' }, traceId: outer?.['traceId'], parentSpanContext: { spanId: outer?.['id'] } });
    } finally {
      await telemetry.shutdown();
    }
  });

  it('cannot be combined with other exporters', () => {
    expect(() => initTelemetry({ serviceName: 'x', env: { OTEL_TRACES_EXPORTER: 'otlp,console' } })).toThrow(/"console" cannot be combined/);
    // Nothing was started: a pipeline can start afterwards.
    const telemetry = initTelemetry({ serviceName: 'x', env: { OTEL_TRACES_EXPORTER: 'console' }, spanOutput: new PassThrough() });
    return telemetry.shutdown();
  });
});
