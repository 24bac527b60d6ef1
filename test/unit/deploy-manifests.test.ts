/**
 * The deployment files under deploy/ are configuration nobody runs in the tests, so they are
 * checked here for what would break a real deployment: labels that no longer select the pods,
 * probes or ports that point elsewhere, a secret key the Deployment reads but the Secret lacks, a
 * secret written inline, a variable name the daemon does not know, replicas that do not wait for
 * Postgres. Each check is a function returning problems in words, run on the real files (none
 * expected) and on drifted copies (the problem must be named), so a check that cannot fail fails.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
const COMPOSE_FILE = join(DEPLOY, 'docker-compose.postgres.yml');
const KUBERNETES = join(DEPLOY, 'kubernetes');

/** The daemon's graceful stop deadline (src/main.ts installShutdown): the grace period must cover it. */
const SHUTDOWN_DEADLINE_SECONDS = 15;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const clone = <T>(v: T): T => structuredClone(v);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Every document of a YAML file as plain data; merge keys (`<<`) resolved as compose does. */
function parseYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${relative(ROOT, path)}: ${doc.errors.map((e) => e.message).join('; ')}`);
  }
  return docs.map((doc) => doc.toJS() as unknown);
}

/**
 * The variable names the daemon reads: the keys of `envSchema` in src/config.ts, read from the
 * source because the schema is not exported. Anything else in a manifest is a typo or a setting
 * that does not exist, and the daemon would ignore it silently.
 */
function daemonVariables(): Set<string> {
  const source = readFileSync(join(ROOT, 'src', 'config.ts'), 'utf8');
  const block = /const envSchema = z\.object\(\{\n([\s\S]*?)\n\}\);/.exec(source)?.[1];
  if (!block) throw new Error('src/config.ts: envSchema = z.object({ … }) not found; update this test');
  return new Set([...block.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] as string));
}

/** Names whose value is a secret (or may hold one: a URL with a token or a password). */
const isSecretName = (name: string) => /SECRET|TOKEN|PASSWORD/.test(name) || ['DATABASE_URL', 'ALERT_WEBHOOK_URLS', 'ALERT_SLACK_WEBHOOK_URL'].includes(name);
/** A URL with a password in it. */
const CREDENTIAL_URL = /:\/\/[^/@\s]+:[^/@\s]+@/;
/** A compose interpolation such as `${POSTGRES_PASSWORD:?message}`: the value comes from the env file. */
const INTERPOLATION = /^\$\{[A-Z_][A-Z0-9_]*(?::?[-?+][^}]*)?\}$/;

// ---------------------------------------------------------------------------------------------
// Kubernetes

interface KubeSet {
  deployment: Obj;
  service: Obj;
  pdb: Obj;
  secret: Obj;
  all: Obj[];
}

function loadKube(): KubeSet {
  const all = yamlFiles(KUBERNETES).flatMap(parseYaml).filter(isObj);
  const one = (kind: string) => {
    const found = all.filter((d) => d.kind === kind);
    if (found.length !== 1) throw new Error(`deploy/kubernetes: expected one ${kind}, found ${found.length}`);
    return found[0] as Obj;
  };
  return { deployment: one('Deployment'), service: one('Service'), pdb: one('PodDisruptionBudget'), secret: one('Secret'), all };
}

const podSpec = (k: KubeSet) => obj(obj(obj(k.deployment.spec).template).spec);
const podLabels = (k: KubeSet) => obj(obj(obj(obj(k.deployment.spec).template).metadata).labels);
const daemonContainer = (k: KubeSet) => obj(arr(podSpec(k).containers).find((c) => obj(c).name === 'enode-sync'));

/** Problems of a label selector that must select the Deployment's pods (and only by labels they carry). */
function selectorProblems(what: string, selector: unknown, labels: Obj): string[] {
  const s = obj(selector);
  if (Object.keys(s).length === 0) return [`${what}: empty selector (it would select every pod, or none)`];
  const problems: string[] = [];
  if (s.matchExpressions !== undefined) problems.push(`${what}: matchExpressions are not checked here; use matchLabels`);
  for (const [key, value] of Object.entries(s)) {
    if (key === 'matchExpressions') continue;
    if (labels[key] !== value) problems.push(`${what}: selects ${key}=${String(value)} but the pods are labelled ${key}=${String(labels[key])}`);
  }
  return problems;
}

/** A container port by number or by name, as a number; undefined when the container has no such port. */
function containerPort(container: Obj, port: unknown): number | undefined {
  for (const p of arr(container.ports).map(obj)) {
    if (port === p.name || port === p.containerPort) return p.containerPort as number;
  }
  return undefined;
}

function secretKeys(secret: Obj): Set<string> {
  return new Set([...Object.keys(obj(secret.stringData)), ...Object.keys(obj(secret.data))]);
}

function probeProblems(container: Obj, name: string, path: string, listenPort: number | undefined): string[] {
  const get = obj(obj(container[name]).httpGet);
  const problems: string[] = [];
  if (get.path !== path) problems.push(`Deployment: ${name} must GET ${path}, it GETs ${String(get.path)}`);
  const port = containerPort(container, get.port);
  if (port === undefined || port !== listenPort) problems.push(`Deployment: ${name} probes port ${String(get.port)}, not the daemon's port ${String(listenPort)}`);
  return problems;
}

function envProblems(k: KubeSet, known: Set<string>): string[] {
  const container = daemonContainer(k);
  const secretName = obj(k.secret.metadata).name;
  const keys = secretKeys(k.secret);
  const problems: string[] = [];
  if (container.envFrom !== undefined) problems.push('Deployment: envFrom hides which keys are read; list each variable under env');
  for (const entry of arr(container.env).map(obj)) {
    const name = String(entry.name);
    if (!known.has(name)) problems.push(`Deployment: ${name} is not a variable the daemon knows (src/config.ts)`);
    const ref = obj(obj(entry.valueFrom).secretKeyRef);
    if (entry.valueFrom !== undefined) {
      if (ref.name !== secretName) problems.push(`Deployment: ${name} reads Secret ${String(ref.name)}, not ${String(secretName)}`);
      if (!keys.has(String(ref.key))) problems.push(`Deployment: ${name} reads key ${String(ref.key)}, which secret.example.yaml lacks`);
      continue;
    }
    if (isSecretName(name)) problems.push(`Deployment: ${name} is a secret written inline; read it from the Secret`);
    if (CREDENTIAL_URL.test(String(entry.value))) problems.push(`Deployment: ${name} holds a URL with a password inline`);
  }
  for (const required of ['DATABASE_URL', 'ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN']) {
    const entry = arr(container.env).map(obj).find((e) => e.name === required);
    const ref = obj(obj(entry?.valueFrom).secretKeyRef);
    if (!entry || ref.key === undefined || ref.optional === true) problems.push(`Deployment: ${required} must come from the Secret and not be optional`);
  }
  return problems;
}

function securityProblems(k: KubeSet): string[] {
  const pod = obj(podSpec(k).securityContext);
  const ctx = obj(daemonContainer(k).securityContext);
  const problems: string[] = [];
  if ((ctx.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push('Deployment: runAsNonRoot must be true');
  // The image's USER is a name (node): without a numeric id the kubelet refuses runAsNonRoot.
  const uid = ctx.runAsUser ?? pod.runAsUser;
  if (typeof uid !== 'number' || uid === 0) problems.push('Deployment: runAsUser must be a non-zero number');
  if (ctx.allowPrivilegeEscalation !== false) problems.push('Deployment: allowPrivilegeEscalation must be false');
  if (ctx.readOnlyRootFilesystem !== true) problems.push('Deployment: readOnlyRootFilesystem must be true (Postgres mode writes nothing to disk)');
  return problems;
}

/** The longest `sleep N` of the container's preStop hook, in seconds (0 without one). */
function preStopSeconds(container: Obj): number {
  const command = arr(obj(obj(obj(container.lifecycle).preStop).exec).command).map(String);
  const sleep = command[0] === 'sleep' ? Number(command[1]) : 0;
  const native = Number(obj(obj(obj(container.lifecycle).preStop).sleep).seconds ?? 0);
  return Math.max(sleep || 0, native || 0);
}

function deploymentProblems(k: KubeSet, known: Set<string>): string[] {
  const spec = obj(k.deployment.spec);
  const container = daemonContainer(k);
  const labels = podLabels(k);
  const problems: string[] = [];
  if (Object.keys(container).length === 0) return ['Deployment: no container named enode-sync'];
  if (typeof spec.replicas !== 'number' || spec.replicas < 2) problems.push(`Deployment: ${String(spec.replicas)} replicas; at least 2`);
  if (obj(obj(spec.strategy).rollingUpdate).maxUnavailable !== 0) problems.push('Deployment: rolling update maxUnavailable must be 0');
  problems.push(...selectorProblems('Deployment', obj(spec.selector).matchLabels, labels));
  const listen = Number(arr(container.env).map(obj).find((e) => e.name === 'PORT')?.value ?? 8080);
  if (containerPort(container, listen) === undefined) problems.push(`Deployment: the daemon listens on ${listen} (PORT) but no containerPort says so`);
  problems.push(...probeProblems(container, 'readinessProbe', '/readyz', listen), ...probeProblems(container, 'livenessProbe', '/healthz', listen));
  const grace = Number(podSpec(k).terminationGracePeriodSeconds ?? 30);
  const needed = preStopSeconds(container) + SHUTDOWN_DEADLINE_SECONDS;
  if (grace <= needed) problems.push(`Deployment: terminationGracePeriodSeconds ${grace} does not cover preStop plus the ${SHUTDOWN_DEADLINE_SECONDS} s graceful stop (${needed} s)`);
  const resources = obj(container.resources);
  if (obj(resources.requests).memory === undefined || obj(resources.limits).memory === undefined) problems.push('Deployment: memory request and limit must be set');
  for (const c of arr(podSpec(k).topologySpreadConstraints).map(obj)) {
    problems.push(...selectorProblems('Deployment topologySpreadConstraints', obj(c.labelSelector).matchLabels, labels));
  }
  return [...problems, ...securityProblems(k), ...envProblems(k, known)];
}

function kubeProblems(k: KubeSet, known: Set<string>): string[] {
  const labels = podLabels(k);
  const problems = deploymentProblems(k, known);
  for (const d of k.all) {
    if (d.kind === 'Namespace' || obj(d.metadata).namespace !== undefined) problems.push(`${String(d.kind)} ${String(obj(d.metadata).name)}: no namespace in these manifests (kubectl -n chooses it)`);
  }
  const service = obj(k.service.spec);
  problems.push(...selectorProblems('Service', service.selector, labels));
  const ports = arr(service.ports).map(obj);
  if (ports.length === 0) problems.push('Service: no ports');
  for (const p of ports) {
    const target = containerPort(daemonContainer(k), p.targetPort ?? p.port);
    if (target === undefined) problems.push(`Service: targetPort ${String(p.targetPort)} is not a port of the enode-sync container`);
  }
  const pdb = obj(k.pdb.spec);
  problems.push(...selectorProblems('PodDisruptionBudget', obj(pdb.selector).matchLabels, labels));
  if (pdb.minAvailable !== 1) problems.push(`PodDisruptionBudget: minAvailable ${String(pdb.minAvailable)}; expected 1`);
  for (const key of secretKeys(k.secret)) {
    if (!known.has(key)) problems.push(`Secret: ${key} is not a variable the daemon knows (src/config.ts)`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// docker compose

/** `environment:` in either of compose's forms (a map, or a list of NAME=value). */
function environmentOf(service: Obj): Map<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return new Map(env.map((e) => String(e)).map((e) => [e.split('=')[0] as string, e.includes('=') ? e.slice(e.indexOf('=') + 1) : '']));
  }
  return new Map(Object.entries(obj(env)).map(([k, v]) => [k, String(v)]));
}

/** The services built from the repository's Dockerfile: the enode-sync replicas. */
function replicaNames(compose: Obj): string[] {
  return Object.entries(obj(compose.services))
    .filter(([, s]) => {
      const build = obj(obj(s).build);
      const context = resolve(DEPLOY, String(build.context ?? obj(s).build ?? '.'));
      return context === ROOT && (build.dockerfile ?? 'Dockerfile') === 'Dockerfile';
    })
    .map(([name]) => name);
}

/** DATABASE_URL's host, with compose interpolations (`${…}`) taken as opaque text. */
function databaseHost(url: string): string | undefined {
  try {
    return new URL(url.replace(/\$\{[^}]*\}/g, 'interpolated')).hostname;
  } catch {
    return undefined;
  }
}

function replicaProblems(compose: Obj, name: string, postgresName: string, known: Set<string>): string[] {
  const service = obj(obj(compose.services)[name]);
  const env = environmentOf(service);
  const problems: string[] = [];
  for (const variable of env.keys()) {
    if (!known.has(variable)) problems.push(`${name}: ${variable} is not a variable the daemon knows (src/config.ts)`);
  }
  const url = env.get('DATABASE_URL');
  if (url === undefined || databaseHost(url) !== postgresName) problems.push(`${name}: DATABASE_URL must point at the ${postgresName} service`);
  const password = url !== undefined ? /^[a-z]+:\/\/[^:/@]*:(.*)@[^@]*$/.exec(url)?.[1] : undefined;
  if (password !== undefined && !INTERPOLATION.test(password)) problems.push(`${name}: DATABASE_URL has its password inline; interpolate it from the env file`);
  for (const [variable, value] of env) {
    if (variable !== 'DATABASE_URL' && isSecretName(variable) && !INTERPOLATION.test(value)) problems.push(`${name}: ${variable} is a secret written inline; use the env file`);
  }
  if (obj(obj(service.depends_on)[postgresName]).condition !== 'service_healthy') problems.push(`${name}: must depend on ${postgresName} with condition service_healthy`);
  if (service.env_file === undefined) problems.push(`${name}: no env_file (the secrets come from it)`);
  if (['root', '0', '0:0'].includes(String(service.user))) problems.push(`${name}: runs as root`);
  if (obj(service.healthcheck).disable === true) problems.push(`${name}: the image's healthcheck on /readyz is disabled`);
  if (service.ports !== undefined) problems.push(`${name}: publishes ports; only the entry point should`);
  return problems;
}

function postgresProblems(compose: Obj): { name: string; problems: string[] } {
  const found = Object.entries(obj(compose.services)).filter(([, s]) => String(obj(s).image).startsWith('postgres:'));
  if (found.length !== 1) return { name: 'postgres', problems: [`expected one postgres service, found ${found.length}`] };
  const [name, service] = found[0] as [string, Obj];
  const problems: string[] = [];
  if (!arr(obj(service.healthcheck).test).map(String).some((part) => part.includes('pg_isready'))) problems.push(`${name}: healthcheck must run pg_isready`);
  const namedVolumes = Object.keys(obj(compose.volumes));
  if (!arr(service.volumes).some((v) => namedVolumes.includes(String(v).split(':')[0] as string))) problems.push(`${name}: its data must be on a named volume`);
  const password = environmentOf(service).get('POSTGRES_PASSWORD');
  if (password === undefined || !INTERPOLATION.test(password)) problems.push(`${name}: POSTGRES_PASSWORD must be interpolated from the env file, not inline`);
  if (service.ports !== undefined) problems.push(`${name}: publishes its port`);
  return { name, problems };
}

/** The upstreams of the Caddyfile's reverse_proxy, and whether it checks them on /readyz. */
function caddyUpstreams(caddyfile: string): { upstreams: string[]; readyz: boolean } {
  const line = /^\s*reverse_proxy\s+([^{\n]+)\{/m.exec(caddyfile)?.[1] ?? '';
  return { upstreams: line.trim().split(/\s+/).filter(Boolean), readyz: /^\s*health_uri\s+\/readyz\s*$/m.test(caddyfile) };
}

function composeProblems(compose: Obj, caddyfile: string, known: Set<string>): string[] {
  const postgres = postgresProblems(compose);
  const replicas = replicaNames(compose);
  const problems = [...postgres.problems];
  const count = replicas.reduce((n, r) => n + Number(obj(obj(obj(compose.services)[r]).deploy).replicas ?? 1), 0);
  if (count < 2) problems.push(`${count} enode-sync replica(s) built from the Dockerfile; at least 2`);
  for (const r of replicas) problems.push(...replicaProblems(compose, r, postgres.name, known));
  const envs = replicas.map((r) => JSON.stringify([...environmentOf(obj(obj(compose.services)[r]))].sort()));
  if (new Set(envs).size > 1) problems.push('the replicas must share the same environment');
  const caddy = caddyUpstreams(caddyfile);
  const port = (r: string) => environmentOf(obj(obj(compose.services)[r])).get('PORT') ?? '8080';
  const expected = replicas.map((r) => `${r}:${port(r)}`).sort();
  if (JSON.stringify([...caddy.upstreams].sort()) !== JSON.stringify(expected)) problems.push(`Caddyfile: balances over ${caddy.upstreams.join(' ')}, not the replicas ${expected.join(' ')}`);
  if (!caddy.readyz) problems.push('Caddyfile: health_uri /readyz missing (an unready replica would get traffic)');
  const published = Object.entries(obj(compose.services)).filter(([, s]) => obj(s).ports !== undefined);
  for (const [name, s] of published) {
    if (!arr(obj(s).ports).every((p) => String(p).startsWith('127.0.0.1:'))) problems.push(`${name}: publish on 127.0.0.1 only (the admin API and the dashboard are not for the internet)`);
  }
  if (published.length !== 1) problems.push(`expected one entry point publishing a port, found ${published.length}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------

describe('deploy/: the files parse', () => {
  it('every YAML file under deploy/ parses, and every Kubernetes document names its kind', () => {
    const files = yamlFiles(DEPLOY);
    expect(files.map((f) => relative(DEPLOY, f)).sort()).toEqual(
      ['docker-compose.postgres.yml', 'kubernetes/deployment.yaml', 'kubernetes/pdb.yaml', 'kubernetes/secret.example.yaml', 'kubernetes/service.yaml'].sort(),
    );
    for (const file of files) expect(parseYaml(file).length, relative(ROOT, file)).toBeGreaterThan(0);
    for (const doc of loadKube().all) {
      expect(typeof doc.apiVersion).toBe('string');
      expect(typeof doc.kind).toBe('string');
    }
  });

  it('reads the daemon variable names from src/config.ts', () => {
    const known = daemonVariables();
    for (const name of ['DATABASE_URL', 'DATABASE_PATH', 'ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN', 'TRUST_PROXY', 'LOG_LEVEL']) expect(known.has(name), name).toBe(true);
    expect(known.size).toBeGreaterThan(40);
  });
});

describe('deploy/kubernetes', () => {
  const known = daemonVariables();

  it('fits together: selectors, ports, probes, secret keys, variable names, security', () => {
    expect(kubeProblems(loadKube(), known)).toEqual([]);
  });

  it('the example Secret is refused by the daemon as it stands (placeholders, not secrets)', () => {
    const env = Object.fromEntries(Object.entries(obj(loadKube().secret.stringData)).map(([k, v]) => [k, String(v)]));
    expect(() => loadConfig(env, { require: ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN'] })).toThrow(ConfigError);
    expect(new URL(env.DATABASE_URL ?? '').hostname).toMatch(/\.invalid$/);
  });

  const drifts: Array<[string, (k: KubeSet) => void, RegExp]> = [
    ['the PDB selector drifts', (k) => (obj(obj(k.pdb.spec).selector).matchLabels = { 'app.kubernetes.io/name': 'enode-sync-old' }), /PodDisruptionBudget: selects app.kubernetes.io\/name=enode-sync-old/],
    ['the Service selector drifts', (k) => (obj(k.service.spec).selector = { app: 'enode' }), /Service: selects app=enode/],
    ['the Service targets another port', (k) => (arr(obj(k.service.spec).ports).map(obj)[0]!.targetPort = 9090), /Service: targetPort 9090/],
    ['the readiness probe checks /healthz', (k) => (obj(obj(daemonContainer(k).readinessProbe).httpGet).path = '/healthz'), /readinessProbe must GET \/readyz/],
    ['the liveness probe checks another port', (k) => (obj(obj(daemonContainer(k).livenessProbe).httpGet).port = 9000), /livenessProbe probes port 9000/],
    ['one replica', (k) => (obj(k.deployment.spec).replicas = 1), /1 replicas; at least 2/],
    ['a secret key missing from the example', (k) => delete obj(k.secret.stringData).ADMIN_TOKEN, /reads key ADMIN_TOKEN, which secret.example.yaml lacks/],
    ['a secret inline', (k) => arr(daemonContainer(k).env).push({ name: 'ENODE_CLIENT_SECRET', value: 'abc' }), /ENODE_CLIENT_SECRET is a secret written inline/],
    ['an unknown variable', (k) => arr(daemonContainer(k).env).push({ name: 'DATABSE_URL', value: 'x' }), /DATABSE_URL is not a variable the daemon knows/],
    ['a namespace', (k) => (obj(k.deployment.metadata).namespace = 'prod'), /no namespace in these manifests/],
    ['a writable root file system', (k) => (obj(daemonContainer(k).securityContext).readOnlyRootFilesystem = false), /readOnlyRootFilesystem must be true/],
    ['a grace period shorter than the stop', (k) => (podSpec(k).terminationGracePeriodSeconds = 10), /does not cover preStop/],
  ];
  it.each(drifts)('notices when %s', (_what, drift, expected) => {
    const k = loadKube();
    const drifted = { ...k, deployment: clone(k.deployment), service: clone(k.service), pdb: clone(k.pdb), secret: clone(k.secret) };
    drifted.all = [drifted.deployment, drifted.service, drifted.pdb, drifted.secret];
    drift(drifted);
    expect(kubeProblems(drifted, known).join('\n')).toMatch(expected);
  });
});

describe('deploy/docker-compose.postgres.yml', () => {
  const known = daemonVariables();
  const load = () => ({ compose: obj(parseYaml(COMPOSE_FILE)[0]), caddyfile: readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8') });

  it('a postgres service with a healthcheck, two replicas waiting for it, one entry point over both', () => {
    const { compose, caddyfile } = load();
    expect(composeProblems(compose, caddyfile, known)).toEqual([]);
    expect(replicaNames(compose).length).toBeGreaterThanOrEqual(2);
  });

  it("the replicas rely on the image: its HEALTHCHECK on /readyz, its non-root user, the Postgres migrations in it", () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK[\s\S]*\/readyz/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    // Every replica migrates at start: without drizzle-pg/ in the runtime image none would start.
    expect(dockerfile).toMatch(/^COPY --from=build .*\/app\/drizzle-pg \.\/drizzle-pg$/m);
  });

  const services = (c: Obj) => obj(c.services);
  const drifts: Array<[string, (c: Obj, caddy: { text: string }) => void, RegExp]> = [
    ['a replica that does not wait for a healthy postgres', (c) => (obj(obj(services(c)['enode-sync-2']).depends_on).postgres = { condition: 'service_started' }), /enode-sync-2: must depend on postgres with condition service_healthy/],
    ['DATABASE_URL pointing elsewhere', (c) => (obj(obj(services(c)['enode-sync-1']).environment).DATABASE_URL = 'postgres://u:${P}@db.example.com/x'), /enode-sync-1: DATABASE_URL must point at the postgres service/],
    ['a password inline', (c) => (obj(obj(services(c)['enode-sync-1']).environment).DATABASE_URL = 'postgres://u:hunter2@postgres/x'), /password inline/],
    ['one replica', (c) => delete services(c)['enode-sync-2'], /1 enode-sync replica\(s\)/],
    ['no healthcheck on postgres', (c) => delete obj(services(c).postgres).healthcheck, /postgres: healthcheck must run pg_isready/],
    ['an unknown variable', (c) => (obj(obj(services(c)['enode-sync-1']).environment).POLL_INTERVAL = '30'), /POLL_INTERVAL is not a variable the daemon knows/],
    ['Caddy balancing over one replica', (_c, caddy) => (caddy.text = caddy.text.replace(' enode-sync-2:8080', '')), /Caddyfile: balances over enode-sync-1:8080, not/],
    ['a replica published on every interface', (c) => (obj(services(c)['enode-sync-1']).ports = ['8081:8080']), /enode-sync-1: publishes ports/],
  ];
  it.each(drifts)('notices %s', (_what, drift, expected) => {
    const { compose, caddyfile } = load();
    const caddy = { text: caddyfile };
    drift(compose, caddy);
    expect(composeProblems(compose, caddy.text, known).join('\n')).toMatch(expected);
  });
});
