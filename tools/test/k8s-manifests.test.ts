// Checks of deploy/k8s without a cluster; one file on purpose: every check runs on the output of the small kustomize renderer defined here, which exists only for them.
/**
 * Checks the Kubernetes manifests in deploy/k8s (kustomize base and kind overlay) without a
 * cluster: a small renderer applies the kustomize features the manifests use, and the rendered
 * objects are checked against each other and against the apps' command-line options. When kubectl
 * is on the PATH, its own `kubectl kustomize` output must equal the small renderer's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'k8s');
const BASE = join(K8S, 'base');
const KIND = join(K8S, 'overlays', 'kind');
const NAMESPACE = 'shardlab';
const IMAGE = 'shardlab:dev';
/** Environment variables read by `runService` (libs/service) for every app. */
const SERVICE_RUNNER = join(ROOT, 'libs', 'service', 'src', 'run.ts');

// ---------------------------------------------------------------------------------------------
// Shapes of the objects read here (only the fields the checks use).

interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: unknown;
  data?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  tcpSocket?: unknown;
  exec?: unknown;
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  env?: EnvVar[];
  envFrom?: unknown[];
  volumeMounts?: { name: string; mountPath: string }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Workload extends K8sObject {
  kind: 'Deployment' | 'StatefulSet';
  spec: {
    replicas?: number;
    serviceName?: string;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}
interface Service extends K8sObject {
  kind: 'Service';
  spec: {
    type?: string;
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name?: string; port: number; targetPort?: number | string; nodePort?: number }[];
  };
}
interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeTemplates?: boolean; includeSelectors?: boolean }[];
  configMapGenerator?: { name: string; behavior?: 'create' | 'merge' | 'replace'; literals?: string[] }[];
  replicas?: { name: string; count: number }[];
  patches?: { path?: string; patch?: string; target?: { kind?: string; name?: string } }[];
}
interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

// ---------------------------------------------------------------------------------------------
// A small kustomize: exactly the features the manifests use, and a loud failure on any other.

const SUPPORTED_KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'labels',
  'configMapGenerator',
  'replicas',
  'patches',
]);

function readYamlDocs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function readKustomization(dir: string): Kustomization {
  return parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Applies RFC 6902 add/replace/remove operations in place; a missing parent or target throws. */
function applyJsonPatch(target: K8sObject, ops: JsonPatchOp[], where: string): void {
  for (const op of ops) {
    const segments = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop();
    if (last === undefined) throw new Error(`${where}: empty patch path`);
    let parent: unknown = target;
    for (const seg of segments) {
      parent = Array.isArray(parent) ? parent[Number(seg)] : isRecord(parent) ? parent[seg] : undefined;
      if (parent === undefined) throw new Error(`${where}: ${op.path} does not exist in ${target.kind}/${target.metadata.name}`);
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (index >= parent.length) throw new Error(`${where}: ${op.path} does not exist`);
      else if (op.op === 'replace') parent[index] = op.value;
      else parent.splice(index, 1);
    } else if (isRecord(parent)) {
      if (op.op !== 'add' && !(last in parent)) {
        throw new Error(`${where}: ${op.path} does not exist in ${target.kind}/${target.metadata.name}`);
      }
      if (op.op === 'remove') delete parent[last];
      else parent[last] = op.value;
    } else {
      throw new Error(`${where}: ${op.path} does not exist`);
    }
  }
}

/** Renders a kustomization directory into its objects (no hash suffix on generated names). */
function render(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  for (const field of Object.keys(k)) {
    if (!SUPPORTED_KUSTOMIZATION_FIELDS.has(field)) {
      throw new Error(`${dir}: kustomization field "${field}" is not supported by this test's renderer; extend it`);
    }
  }
  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry);
    objects.push(...(statSync(path).isDirectory() ? render(path) : readYamlDocs(path)));
  }
  for (const gen of k.configMapGenerator ?? []) {
    const data = Object.fromEntries(
      (gen.literals ?? []).map((literal) => {
        const eq = literal.indexOf('=');
        if (eq <= 0) throw new Error(`${dir}: bad literal ${literal}`);
        return [literal.slice(0, eq), literal.slice(eq + 1)];
      }),
    );
    const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === gen.name);
    if (gen.behavior === 'merge' || gen.behavior === 'replace') {
      if (!existing) throw new Error(`${dir}: configMapGenerator ${gen.name} merges into a config map that does not exist`);
      existing.data = gen.behavior === 'merge' ? { ...existing.data, ...data } : data;
    } else {
      if (existing) throw new Error(`${dir}: config map ${gen.name} generated twice`);
      objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data });
    }
  }
  for (const p of k.patches ?? []) {
    const where = `${dir} patch ${p.path ?? JSON.stringify(p.target)}`;
    if (!p.target) throw new Error(`${where}: only JSON 6902 patches with a target are supported by this test's renderer`);
    const ops = parse(p.patch ?? readFileSync(join(dir, p.path ?? ''), 'utf8')) as JsonPatchOp[];
    if (!Array.isArray(ops)) throw new Error(`${where}: not a JSON 6902 patch (a list of operations)`);
    const targets = objects.filter(
      (o) => (!p.target?.kind || o.kind === p.target.kind) && (!p.target?.name || o.metadata.name === p.target.name),
    );
    if (targets.length === 0) throw new Error(`${where}: matches no object`);
    for (const t of targets) applyJsonPatch(t, ops, where);
  }
  for (const r of k.replicas ?? []) {
    const targets = objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name === r.name);
    if (targets.length === 0) throw new Error(`${dir}: replicas for ${r.name}, which does not exist`);
    for (const t of targets) (t as Workload).spec.replicas = r.count;
  }
  if (k.namespace) {
    for (const o of objects) if (o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
  }
  for (const { pairs, includeTemplates, includeSelectors } of k.labels ?? []) {
    if (includeSelectors) throw new Error(`${dir}: labels with includeSelectors are not supported by this test's renderer`);
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...pairs };
      if (includeTemplates && (o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
        const w = o as Workload;
        w.spec.template.metadata.labels = { ...w.spec.template.metadata.labels, ...pairs };
        for (const claim of (w.spec.volumeClaimTemplates ?? []) as { metadata: Metadata }[]) {
          claim.metadata.labels = { ...claim.metadata.labels, ...pairs };
        }
      }
    }
  }
  return objects;
}

/** Runs `kubectl kustomize`, or returns undefined when kubectl is not installed. */
function kubectlRender(dir: string): K8sObject[] | undefined {
  try {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return parseAllDocuments(out)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
const HAVE_KUBECTL = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Objects sorted by kind and name, with kustomize's content-hash suffix taken off config map names. */
function normalise(objects: K8sObject[], configMapNames: string[]): K8sObject[] {
  const strip = (name: string) => configMapNames.find((n) => name === n || new RegExp(`^${n}-[a-z0-9]{10}$`).test(name)) ?? name;
  const copy = JSON.parse(JSON.stringify(objects)) as K8sObject[];
  for (const o of copy) {
    if (o.kind === 'ConfigMap') o.metadata.name = strip(o.metadata.name);
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
      for (const c of (o as Workload).spec.template.spec.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.configMapKeyRef;
          if (ref) ref.name = strip(ref.name);
        }
      }
    }
  }
  return copy.sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}

// ---------------------------------------------------------------------------------------------
// Helpers over rendered objects.

const workloadsOf = (objects: K8sObject[]) =>
  objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const servicesOf = (objects: K8sObject[]) => objects.filter((o): o is Service => o.kind === 'Service');
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The app a container runs: `apps/<app>/src/main.ts` in its command. */
function appOf(c: Container): string | undefined {
  const cmd = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
  return /apps\/([a-z0-9-]+)\/src\/main\.ts/.exec(cmd)?.[1];
}

/** Directories of apps/ that are workspace packages. */
function appNames(): string[] {
  return readdirSync(join(ROOT, 'apps')).filter((d) => existsSync(join(ROOT, 'apps', d, 'package.json')));
}

/** Environment variable names a source file declares with commander's `.env('NAME')`. */
function envOptions(file: string): Set<string> {
  const src = readFileSync(file, 'utf8');
  return new Set([...src.matchAll(/\.env\(\s*['"`]([A-Za-z0-9_]+)['"`]\s*\)/g)].map((m) => m[1] as string));
}

/** Names that env values of `c` interpolate with `$(NAME)`. */
function interpolated(c: Container): Set<string> {
  return new Set((c.env ?? []).flatMap((e) => [...(e.value ?? '').matchAll(/\$\(([A-Za-z0-9_]+)\)/g)].map((m) => m[1] as string)));
}

function env(c: Container, name: string): EnvVar | undefined {
  return c.env?.find((e) => e.name === name);
}

const ALLOWED_FIELD_REFS = new Set([
  'metadata.name',
  'metadata.namespace',
  'status.podIP',
  "metadata.labels['apps.kubernetes.io/pod-index']",
]);

// ---------------------------------------------------------------------------------------------

describe('kustomization files', () => {
  it.each([
    ['base', BASE],
    ['kind overlay', KIND],
  ])('%s: every listed resource and patch file exists', (_, dir) => {
    const k = readKustomization(dir);
    expect(k.kind).toBe('Kustomization');
    for (const entry of k.resources ?? []) expect(existsSync(join(dir, entry))).toBe(true);
    for (const p of k.patches ?? []) if (p.path) expect(existsSync(join(dir, p.path))).toBe(true);
  });

  it('every YAML file of the base is listed in its kustomization', () => {
    const listed = new Set(readKustomization(BASE).resources);
    const files = readdirSync(BASE).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files.filter((f) => !listed.has(f))).toEqual([]);
  });
});

const variants: [string, string][] = [
  ['base', BASE],
  ['kind overlay', KIND],
];

describe.each(variants)('%s rendered', (_, dir) => {
  const objects = render(dir);
  const workloads = workloadsOf(objects);
  const services = servicesOf(objects);
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap');

  it('matches `kubectl kustomize` when kubectl is available', () => {
    if (!HAVE_KUBECTL) return; // nothing to compare against on this machine
    const real = kubectlRender(dir);
    const names = configMaps.map((c) => c.metadata.name);
    expect(normalise(real ?? [], names)).toEqual(normalise(objects, names));
  });

  it('puts every object in the shardlab namespace, with unique kind/name', () => {
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace).toBe(NAMESPACE);
    expect(objects.find((o) => o.kind === 'Namespace')?.metadata.name).toBe(NAMESPACE);
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('every app in apps/ has a Deployment or StatefulSet, and every workload runs an app', () => {
    const run = workloads.flatMap((w) => w.spec.template.spec.containers.map(appOf));
    for (const app of appNames()) expect(run).toContain(app);
    for (const app of run) expect(app && existsSync(join(ROOT, 'apps', app, 'package.json'))).toBe(true);
  });

  it('workloads select their own pods and run the one image with tsx', () => {
    for (const w of workloads) {
      expect(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(true);
      expect(workloads.filter((o) => o !== w && matches(w.spec.selector.matchLabels, o.spec.template.metadata.labels))).toEqual([]);
      for (const c of w.spec.template.spec.containers) {
        expect(c.image).toBe(IMAGE);
        expect(c.imagePullPolicy).toBe('IfNotPresent');
        expect(c.command).toEqual(['node', '--import', 'tsx', `apps/${appOf(c)}/src/main.ts`]);
        expect(c.envFrom).toBeUndefined(); // explicit env only, so that names can be checked
      }
    }
  });

  it('every container listens on PORT at HOST 0.0.0.0, and its gRPC probes use that port', () => {
    for (const w of workloads) {
      for (const c of w.spec.template.spec.containers) {
        const ports = c.ports ?? [];
        expect(ports).toHaveLength(1);
        const port = ports[0]?.containerPort;
        expect(env(c, 'PORT')?.value).toBe(String(port));
        expect(env(c, 'HOST')?.value).toBe('0.0.0.0');
        for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
          expect(probe?.grpc?.port).toBe(port);
        }
      }
    }
  });

  it('every container has CPU and memory requests and a memory limit', () => {
    for (const w of workloads) {
      for (const c of w.spec.template.spec.containers) {
        expect(c.resources?.requests?.['cpu']).toBeDefined();
        expect(c.resources?.requests?.['memory']).toBeDefined();
        expect(c.resources?.limits?.['memory']).toBeDefined();
      }
    }
  });

  it('every Service selects exactly one workload and targets one of its container ports', () => {
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) {
      const selected = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
      expect(selected.map((w) => w.metadata.name)).toEqual([s.metadata.name]);
      const containerPorts = selected.flatMap((w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []));
      for (const p of s.spec.ports) {
        const target = p.targetPort ?? p.port;
        const hit = containerPorts.find((cp) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target));
        expect({ service: s.metadata.name, port: p.port, targeted: hit !== undefined }).toEqual({
          service: s.metadata.name,
          port: p.port,
          targeted: true,
        });
      }
    }
    for (const w of workloads) expect(services.map((s) => s.metadata.name)).toContain(w.metadata.name);
  });

  it('config map and field references resolve, and $(VAR) interpolations refer to earlier variables', () => {
    for (const w of workloads) {
      for (const c of w.spec.template.spec.containers) {
        const names = (c.env ?? []).map((e) => e.name);
        expect(new Set(names).size).toBe(names.length);
        (c.env ?? []).forEach((e, i) => {
          const ref = e.valueFrom?.configMapKeyRef;
          if (ref) {
            const cm = configMaps.find((m) => m.metadata.name === ref.name);
            expect({ env: e.name, configMap: ref.name, key: ref.key, found: cm?.data?.[ref.key] !== undefined }).toMatchObject({ found: true });
          }
          const field = e.valueFrom?.fieldRef?.fieldPath;
          if (field) expect(ALLOWED_FIELD_REFS).toContain(field);
          for (const m of (e.value ?? '').matchAll(/\$\(([A-Za-z0-9_]+)\)/g)) {
            expect(names.slice(0, i)).toContain(m[1]);
          }
        });
      }
    }
  });

  it('the state shards: one per SHARD_COUNT, id from the pod ordinal, LevelDB on a volume per pod', () => {
    const sts = workloads.find((w) => w.kind === 'StatefulSet' && w.metadata.name === 'state-shard');
    expect(sts).toBeDefined();
    if (!sts) return;
    const shardCount = configMaps[0]?.data?.['SHARD_COUNT'];
    expect(configMaps).toHaveLength(1);
    expect(String(sts.spec.replicas)).toBe(shardCount);

    const headless = services.find((s) => s.metadata.name === sts.spec.serviceName);
    expect(headless?.spec.clusterIP).toBe('None');

    const [c] = sts.spec.template.spec.containers;
    expect(c).toBeDefined();
    if (!c) return;
    expect(env(c, 'SHARD_ID')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['apps.kubernetes.io/pod-index']");
    const claims = (sts.spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name);
    const dataMount = c.volumeMounts?.find((m) => claims.includes(m.name));
    expect(dataMount?.mountPath).toBe('/data');
    expect(env(c, 'DATA_DIR')?.value).toBe(dataMount?.mountPath);
    expect(env(c, 'ADVERTISE_ADDRESS')?.value).toBe(`$(POD_NAME).${sts.spec.serviceName}:${env(c, 'PORT')?.value}`);
  });

  it('REGISTRY_ADDRESS points at the registry Service', () => {
    const registry = services.find((s) => s.metadata.name === 'registry');
    expect(configMaps[0]?.data?.['REGISTRY_ADDRESS']).toBe(`registry:${registry?.spec.ports[0]?.port}`);
  });

  describe('environment variables are options of the app they configure', () => {
    const common = envOptions(SERVICE_RUNNER);
    const containers = workloads.flatMap((w) => w.spec.template.spec.containers.map((c) => ({ app: appOf(c) ?? '?', c })));
    for (const { app, c } of containers) {
      const main = join(ROOT, 'apps', app, 'src', 'main.ts');
      // An app whose main.ts is not written yet cannot be checked.
      (existsSync(main) ? it : it.skip)(`${app} (apps/${app}/src/main.ts)`, () => {
        const known = new Set([...envOptions(main), ...common]);
        const helpers = interpolated(c);
        const unknown = (c.env ?? [])
          .map((e) => e.name)
          .filter((n) => !known.has(n) && !helpers.has(n) && !n.startsWith('OTEL_'));
        expect(unknown).toEqual([]);
      });
    }
  });

  describe('container ports are the apps\' default ports', () => {
    for (const w of workloads) {
      for (const c of w.spec.template.spec.containers) {
        const app = appOf(c) ?? '?';
        const main = join(ROOT, 'apps', app, 'src', 'main.ts');
        const declared = existsSync(main)
          ? /\.env\(\s*['"`]PORT['"`]\s*\)\s*(?:\.argParser\(\s*\w+\s*\)\s*)?\.default\(\s*(\d+)\s*\)/.exec(readFileSync(main, 'utf8'))?.[1]
          : undefined;
        (declared ? it : it.skip)(`${app} listens on ${declared ?? 'its default port'}`, () => {
          expect(String(c.ports?.[0]?.containerPort)).toBe(declared);
        });
      }
    }
  });
});

describe('kind overlay', () => {
  const objects = render(KIND);
  const gateway = servicesOf(objects).find((s) => s.metadata.name === 'gateway');
  const cluster = parse(readFileSync(join(KIND, 'kind-config.yaml'), 'utf8')) as {
    kind: string;
    apiVersion: string;
    nodes: { role: string; extraPortMappings?: { containerPort: number; hostPort: number }[] }[];
  };

  it('exposes the gateway on a NodePort that kind-config.yaml maps to the host', () => {
    expect(gateway?.spec.type).toBe('NodePort');
    const nodePort = gateway?.spec.ports[0]?.nodePort;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(nodePort).toBeLessThanOrEqual(32767);
    expect(cluster.kind).toBe('Cluster');
    expect(cluster.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    const mapping = cluster.nodes.flatMap((n) => n.extraPortMappings ?? []).find((m) => m.containerPort === nodePort);
    expect(mapping).toBeDefined();
    // The README's grpcurl commands use that host port.
    expect(readFileSync(join(K8S, 'README.md'), 'utf8')).toContain(`localhost:${mapping?.hostPort}`);
  });

  it('kind-config.yaml is not a kustomize resource', () => {
    expect(readKustomization(KIND).resources ?? []).not.toContain('kind-config.yaml');
  });
});

describe('image and documentation', () => {
  it('the Dockerfile builds from node:20-bookworm-slim with npm ci, and tsx is installed by it', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    expect({ ...pkg.dependencies, ...pkg.devDependencies }['tsx']).toBeDefined();
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toContain('**/node_modules');
  });

  it('every deploy/ path the README names exists', () => {
    const readme = readFileSync(join(K8S, 'README.md'), 'utf8');
    const paths = [...readme.matchAll(/\bdeploy\/k8s\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]/g)].map((m) => m[0]);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect({ path: p, exists: existsSync(join(ROOT, p)) }).toEqual({ path: p, exists: true });
  });
});
