import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHDIR_TO_INIT_CWD_ENV, Command, Option, deprecatedAlias, invocationDirectory } from '../src';

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURE = join(__dirname, 'fixtures', 'traced-service.ts');

/** What a fixture run wrote: every standard output and standard error line, and its exit code. */
interface Run {
  stdout: string[];
  stderr: string[];
  code: number | null;
}

/**
 * Runs the fixture service with `env` until it logs `fixture ready`, then sends it `signal`
 * (default SIGTERM); resolves once it exited (by itself, or after that).
 */
function runFixture(env: Record<string, string>, signal: NodeJS.Signals = 'SIGTERM'): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (stdout.includes('"msg":"fixture ready"')) child.kill(signal);
  });
  const lines = (s: string) => s.split('\n').filter((l) => l !== '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ stdout: lines(stdout), stderr: lines(stderr), code })));
}

describe('runService', () => {
  it('with OTEL_TRACES_EXPORTER=console, standard output stays one JSON log line per line and spans go to standard error', async () => {
    const run = await runFixture({ OTEL_TRACES_EXPORTER: 'console', LOG_LEVEL: 'info' });
    expect(run.code).toBe(0);
    const logs = run.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.map((l) => l['msg'])).toEqual(['working', 'fixture ready', 'fixture shutting down']);
    const spans = run.stderr.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(spans).toEqual([
      expect.objectContaining({
        name: 'fixture.work',
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        attributes: { step: 1 },
        resource: { attributes: expect.objectContaining({ 'service.name': 'shardlab-fixture' }) },
      }),
    ]);
  });

  it.each(['SIGINT', 'SIGHUP'] as const)('stops cleanly on %s too', async (signal) => {
    const run = await runFixture({}, signal);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.at(-1) ?? '{}')).toMatchObject({ msg: 'fixture shutting down', signal });
  });

  it('refuses console combined with another exporter, with a fatal log line', async () => {
    const run = await runFixture({ OTEL_TRACES_EXPORTER: 'otlp,console' });
    expect(run.code).toBe(1);
    expect(run.stdout).toHaveLength(1);
    const line = JSON.parse(run.stdout[0] ?? '{}') as { msg: string; err: { message: string } };
    expect(line.msg).toBe('fixture failed to start');
    expect(line.err.message).toMatch(/"console" cannot be combined/);
  });

  describe('working directory', () => {
    let dir: string;
    beforeAll(() => (dir = realpathSync(mkdtempSync(join(tmpdir(), 'shardlab-cwd-')))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('moves to INIT_CWD when the nx serve target asks (SHARDLAB_CHDIR_TO_INIT_CWD=true)', async () => {
      const run = await runFixture({ SHARDLAB_CHDIR_TO_INIT_CWD: 'true', INIT_CWD: dir });
      expect(JSON.parse(run.stdout[1] ?? '{}')).toMatchObject({ msg: 'fixture ready', cwd: dir });
    });

    it('stays where it was started otherwise, whatever INIT_CWD it inherited', async () => {
      const run = await runFixture({ SHARDLAB_CHDIR_TO_INIT_CWD: '', INIT_CWD: dir });
      expect(JSON.parse(run.stdout[1] ?? '{}')).toMatchObject({ msg: 'fixture ready', cwd: ROOT });
    });

    it.each(['registry', 'state-shard', 'orchestrator', 'simulator', 'gateway'])('the nx serve target of %s runs its main.ts and asks for it', (app) => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'apps', app, 'package.json'), 'utf8')) as {
        nx: { name: string; targets: { serve: { executor: string; options: { command: string; env: Record<string, string> } } } };
      };
      expect(pkg.nx.name).toBe(app);
      expect(pkg.nx.targets.serve).toEqual({
        executor: 'nx:run-commands',
        options: { command: 'exec node --import tsx {projectRoot}/src/main.ts', env: { [CHDIR_TO_INIT_CWD_ENV]: 'true' } },
      });
    });

    it.each([
      [{ SHARDLAB_CHDIR_TO_INIT_CWD: 'true', INIT_CWD: '/x/y' }, '/x/y'],
      [{ SHARDLAB_CHDIR_TO_INIT_CWD: 'true' }, undefined],
      [{ SHARDLAB_CHDIR_TO_INIT_CWD: 'true', INIT_CWD: '' }, undefined],
      [{ SHARDLAB_CHDIR_TO_INIT_CWD: '1', INIT_CWD: '/x/y' }, undefined],
      [{ INIT_CWD: '/x/y' }, undefined],
    ])('invocationDirectory(%j) is %s', (env, expected) => {
      expect(invocationDirectory(env)).toBe(expected);
    });
  });
});

describe('deprecatedAlias', () => {
  const program = () => {
    const p = new Command().exitOverride().addOption(new Option('--advertise-address <host:port>', 'announced').env('ADVERTISE_ADDRESS'));
    return deprecatedAlias(p, '--advertise <host:port>', '--advertise-address');
  };
  let warn: jest.SpyInstance;
  beforeEach(() => (warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})));
  afterEach(() => warn.mockRestore());

  it('sets the new option and warns', () => {
    const p = program().parse(['--advertise', '1.2.3.4:5'], { from: 'user' });
    expect(p.opts()['advertiseAddress']).toBe('1.2.3.4:5');
    expect(warn).toHaveBeenCalledWith('--advertise is deprecated; use --advertise-address', 'DeprecationWarning');
  });

  it('wins over the environment variable, as a flag does', () => {
    process.env['ADVERTISE_ADDRESS'] = '9.9.9.9:9';
    try {
      expect(program().parse(['--advertise', '1.2.3.4:5'], { from: 'user' }).opts()['advertiseAddress']).toBe('1.2.3.4:5');
      expect(program().parse([], { from: 'user' }).opts()['advertiseAddress']).toBe('9.9.9.9:9');
    } finally {
      delete process.env['ADVERTISE_ADDRESS'];
    }
  });

  it('is hidden from the help, and needs an existing option', () => {
    expect(program().helpInformation()).not.toMatch(/--advertise </);
    expect(() => deprecatedAlias(new Command(), '--old <x>', '--new')).toThrow(/no option --new/);
  });
});
