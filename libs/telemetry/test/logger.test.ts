import { createLogger, silentLogger } from '../src/logger';

/** A pino destination that keeps every written line in memory. */
function memoryStream(): { write(line: string): void; lines(): Record<string, unknown>[] } {
  const chunks: string[] = [];
  return {
    write: (line: string) => void chunks.push(line),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON object per line with service, base fields, call fields and message', () => {
    const dest = memoryStream();
    const logger = createLogger({ service: 'gateway', base: { shard: 3 }, destination: dest });
    logger.info({ txHash: '0xabc', attempt: 2 }, 'accepted');
    const [line, ...rest] = dest.lines();
    expect(rest).toHaveLength(0);
    expect(line).toMatchObject({ level: 30, service: 'gateway', shard: 3, txHash: '0xabc', attempt: 2, msg: 'accepted', pid: process.pid });
    expect(typeof line?.['time']).toBe('string');
    expect(Number.isNaN(Date.parse(String(line?.['time'])))).toBe(false);
  });

  it('keeps the service name when base fields try to override it', () => {
    const dest = memoryStream();
    createLogger({ service: 'registry', base: { service: 'other' }, destination: dest }).info('x');
    expect(dest.lines()[0]?.['service']).toBe('registry');
  });

  it('carries parent fields into child loggers', () => {
    const dest = memoryStream();
    createLogger({ service: 'state-shard', destination: dest }).child({ module: 'mempool' }).warn({ txHash: '0x1' }, 'queued');
    expect(dest.lines()[0]).toMatchObject({ service: 'state-shard', module: 'mempool', txHash: '0x1', level: 40, msg: 'queued' });
  });

  it('filters lines below the level, default info', () => {
    const dest = memoryStream();
    const logger = createLogger({ service: 's', destination: dest });
    logger.debug('hidden');
    logger.info('shown');
    expect(dest.lines().map((l) => l['msg'])).toEqual(['shown']);

    const verbose = memoryStream();
    createLogger({ service: 's', level: 'debug', destination: verbose }).debug('now shown');
    expect(verbose.lines().map((l) => l['msg'])).toEqual(['now shown']);
  });

  it('serialises errors under err with message and stack', () => {
    const dest = memoryStream();
    createLogger({ service: 's', destination: dest }).error({ err: new Error('boom') }, 'failed');
    const err = dest.lines()[0]?.['err'] as Record<string, unknown>;
    expect(err['message']).toBe('boom');
    expect(err['type']).toBe('Error');
    expect(String(err['stack'])).toContain('boom');
  });

  it('rejects an unknown level', () => {
    expect(() => createLogger({ service: 's', level: 'loud', destination: memoryStream() })).toThrow();
  });

  it('silentLogger discards everything', () => {
    const logger = silentLogger();
    expect(logger.level).toBe('silent');
    expect(() => logger.error('nothing')).not.toThrow();
  });
});
