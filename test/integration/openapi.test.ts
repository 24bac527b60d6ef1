import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { webhookSinkName } from '../../src/alerts/sinks/index.js';
import { ADMIN_TOKEN, api, makeApp, postWebhook, actionEvent, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { gatewayEngineApp, json as enodeJson, post, seedDevice } from './gateway-support.js';

type Schema = Record<string, unknown>;

interface Operation {
  operationId?: string;
  summary?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

interface Doc {
  openapi: string;
  info: { title: string; version: string };
  servers?: Array<{ url: string }>;
  security?: Array<Record<string, string[]>>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, Schema> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

async function documentOf(t: EngineApp): Promise<Doc> {
  const res = await api(t, '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/json');
  return (await res.json()) as Doc;
}

function operations(doc: Doc): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] as Operation })));
}

/** Every `$ref` string anywhere in the document. */
function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

function pointer(doc: Doc, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
}

/** The routes the app serves, as `METHOD /openapi/{style}` (middleware and the dashboard aside). */
function servedRoutes(t: EngineApp): Set<string> {
  return new Set(
    t.app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.startsWith('/ui'))
      .map((r) => `${r.method.toUpperCase()} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')}`),
  );
}

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);

/** A schema with its `$ref` resolved and its `allOf` parts (and theirs) merged into one object schema. */
function flatten(doc: Doc, schema: Schema): Schema {
  let s = schema;
  while (typeof s['$ref'] === 'string') s = pointer(doc, s['$ref']) as Schema;
  if (!Array.isArray(s['allOf'])) return s;
  const parts = (s['allOf'] as Schema[]).map((p) => flatten(doc, p));
  return {
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p['properties'] ?? {})),
    required: parts.flatMap((p) => (p['required'] as string[] | undefined) ?? []),
    ...(parts.some((p) => p['additionalProperties'] !== undefined && p['additionalProperties'] !== false) ? { additionalProperties: {} } : {}),
  };
}

/**
 * Checks a JSON value against a schema of the document: the subset the generator writes ($ref,
 * allOf, oneOf/anyOf, type, enum, properties, required, additionalProperties, items). Stricter
 * than JSON Schema on purpose: an object field the document does not declare is an error unless
 * the schema allows additional properties, so that the document cannot fall behind the answers.
 */
function conformance(doc: Doc, value: unknown, schema: Schema | undefined, at = '$'): string[] {
  if (!schema) return [];
  const s = flatten(doc, schema);
  const variants = (s['oneOf'] ?? s['anyOf']) as Schema[] | undefined;
  if (variants) {
    const results = variants.map((v) => conformance(doc, value, v, at));
    return results.some((r) => r.length === 0) ? [] : [`${at}: matches none of ${variants.length} variants (${results.map((r) => r[0]).join(' | ')})`];
  }
  if (Array.isArray(s['enum']) && !(s['enum'] as unknown[]).includes(value)) return [`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(s['enum'])}`];
  const types = s['type'] === undefined ? undefined : ([] as string[]).concat(s['type'] as string | string[]);
  const actual = jsonType(value);
  if (types && !types.includes(actual) && !(actual === 'integer' && types.includes('number'))) return [`${at}: ${actual}, documented ${types.join('|')}`];
  const errors: string[] = [];
  if (actual === 'object' && (types?.includes('object') || s['properties'])) {
    const obj = value as Record<string, unknown>;
    const props = (s['properties'] ?? {}) as Record<string, Schema>;
    for (const key of (s['required'] as string[] | undefined) ?? []) if (!(key in obj)) errors.push(`${at}.${key}: required, missing`);
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) errors.push(...conformance(doc, v, props[key], `${at}.${key}`));
      else if (s['additionalProperties'] === undefined || s['additionalProperties'] === false) errors.push(`${at}.${key}: not in the document`);
      else errors.push(...conformance(doc, v, s['additionalProperties'] as Schema, `${at}.${key}`));
    }
  }
  if (actual === 'array' && s['items']) (value as unknown[]).forEach((v, i) => errors.push(...conformance(doc, v, s['items'] as Schema, `${at}[${i}]`)));
  return errors;
}

/** Requests `path` and checks the answer against the operation's documented response for its status. */
async function expectDocumented(t: EngineApp, doc: Doc, method: string, path: string, init: RequestInit = {}) {
  const res = await api(t, path, { ...init, method: method.toUpperCase() });
  const full = `/api/v1${path.split('?')[0]}`;
  const entry = operations(doc).find((o) => o.method === method && new RegExp(`^${o.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(full));
  expect(entry, `${method} ${full} is in the document`).toBeDefined();
  const response = entry?.op.responses?.[String(res.status)];
  expect(response, `${method} ${path} answered ${res.status}, which the document does not list`).toBeDefined();
  const body: unknown = await res.json();
  expect(conformance(doc, body, response?.content?.['application/json']?.schema), `${method} ${path} → ${res.status}`).toEqual([]);
  return { status: res.status, body: body as Record<string, any> };
}

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by the official schema', async () => {
    const doc = await documentOf(await makeApp());
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('resolves every $ref; every operation has a unique operationId, a summary and a 2xx answer; every path parameter is declared', async () => {
    const doc = await documentOf(await makeApp());
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) expect(pointer(doc, ref), ref).toBeDefined();

    const ids = operations(doc).map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.summary, where).toBeTruthy();
      const statuses = Object.keys(op.responses ?? {});
      expect(statuses.some((s) => s.startsWith('2')), where).toBe(true);
      for (const s of statuses) expect(op.responses?.[s]?.description, `${where} ${s}`).toBeTruthy();
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), where).toEqual(templated);
      expect(declared.every((p) => p.required === true), where).toBe(true);
    }
  });

  it('lists exactly the routes the app serves (the dashboard aside)', async () => {
    const t = await makeApp();
    const doc = await documentOf(t);
    const documented = new Set(operations(doc).map((o) => `${o.method.toUpperCase()} ${o.path}`));
    const served = servedRoutes(t);
    expect([...served].filter((r) => r.includes('/api/v1/')).length).toBeGreaterThanOrEqual(22);
    expect([...served].filter((r) => !documented.has(r)), 'served but not documented').toEqual([]);
    expect([...documented].filter((r) => !served.has(r)), 'documented but not served').toEqual([]);
    for (const route of ['POST /webhooks/enode', 'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/v1/openapi.json', 'GET /api/v1/reference']) {
      expect(documented.has(route), route).toBe(true);
    }
  });

  it('puts every /api/v1 operation behind the bearerAuth scheme, and nothing else', async () => {
    const doc = await documentOf(await makeApp());
    expect(doc.components.securitySchemes?.['bearerAuth']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    for (const { method, path, op } of operations(doc)) {
      const effective = op.security ?? doc.security;
      if (path.startsWith('/api/v1/')) {
        expect(effective, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
        expect(op.responses?.['401'], `${method} ${path} documents its 401`).toBeDefined();
      } else {
        expect(effective, `${method} ${path}`).toEqual([]);
      }
    }
  });

  it('carries the package version and a relative server', async () => {
    const doc = await documentOf(await makeApp());
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(doc.info).toMatchObject({ title: 'enode-sync', version: pkg.version });
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('is served, like all of /api/v1, only with the bearer token', async () => {
    const t = await makeApp();
    for (const path of ['/openapi.json', '/reference']) {
      const res = await api(t, path, {}, null);
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe('UNAUTHORIZED');
    }
  });
});

describe('answers match the document', () => {
  it('(the check itself finds undeclared, missing and mistyped fields)', async () => {
    const doc = await documentOf(await makeApp());
    const ref = { $ref: '#/components/schemas/DeliveryReplay' };
    const good = { id: 'd1', receivedAt: null, status: 'applied', error: null, eventCount: 1, appliedAt: null, attempts: 1, bodySha256: 'x', replay: { status: 'applied', error: null } };
    expect(conformance(doc, good, ref)).toEqual([]);
    expect(conformance(doc, { ...good, extra: 1 }, ref)).toEqual(['$.extra: not in the document']);
    const { eventCount: _, ...missing } = good;
    expect(conformance(doc, missing, ref)).toEqual(['$.eventCount: required, missing']);
    expect(conformance(doc, { ...good, status: 'lost', attempts: 1.5 }, ref)).toEqual(['$.status: "lost" not in ["pending","applied","failed","quarantined"]', '$.attempts: number, documented integer']);
  });

  it('reads of every kind, lists and items, and their 404s', async () => {
    const sinkUrl = 'https://alerts.example.test/hook';
    const t = await makeApp({ ALERT_WEBHOOK_URLS: sinkUrl, ALERT_WEBHOOK_SECRET: `whsec_${Buffer.from('enode-sync openapi test key, 32b').toString('base64')}` });
    await postWebhook(t, [vehicleEvent('v1', 0, { charging: true }), actionEvent('a1', 'CANCELLED', 1, { targetId: 'v1', failureReason: { type: 'CONFLICT', detail: 'x' } })], { deliveryId: 'd1' });
    // A charging stop nobody asked for: a finding (and its alert) once the grace has passed.
    await postWebhook(t, [vehicleEvent('v1', 5, { charging: false })], { deliveryId: 'd2' });
    await postWebhook(t, 'not json', { deliveryId: 'd3' });
    t.clock.advance(120_000);
    await t.deps.store.reconcile({});
    // The finding's alert, dead at one sink (the dispatcher is not part of this test).
    const [alertId] = await t.column<string>("SELECT id FROM alerts WHERE type = 'interference.detected'");
    await t.exec(
      `INSERT INTO alert_deliveries (alert_id, sink, status, attempts, next_attempt_at_ms, last_status, last_error, updated_at_ms) VALUES (?, ?, 'dead', 8, 0, 500, 'HTTP 500', ?)`,
      [alertId!, webhookSinkName(sinkUrl), t.clock.now().getTime()],
    );
    const doc = await documentOf(t);

    const findings = await expectDocumented(t, doc, 'get', '/interference');
    expect(findings.body.data.length).toBeGreaterThan(0);
    const alerts = await expectDocumented(t, doc, 'get', '/alerts');
    expect(alerts.body.data.length).toBeGreaterThan(0);
    const actions = await expectDocumented(t, doc, 'get', '/actions?limit=1');
    expect(actions.body.data).toHaveLength(1);
    for (const path of [
      '/actions/a1',
      '/devices',
      '/devices/v1',
      '/devices/v1/timeline?since=2026-03-01T00:00:00Z',
      '/deliveries?status=applied',
      '/deliveries/d1',
      '/deliveries/d3',
      `/interference/${findings.body.data[0].id}`,
      `/alerts/${alertId}`,
    ]) {
      expect((await expectDocumented(t, doc, 'get', path)).status, path).toBe(200);
    }
    expect((await expectDocumented(t, doc, 'post', '/deliveries/d1/replay')).status).toBe(200);
    expect((await expectDocumented(t, doc, 'post', `/alerts/${alertId}/retry`)).status).toBe(200);
    expect((await expectDocumented(t, doc, 'post', `/alerts/${alertId}/retry`)).status).toBe(409);
    for (const path of ['/actions/nope', '/devices/nope', '/devices/nope/timeline', '/deliveries/nope', '/interference/nope', '/alerts/nope']) {
      expect((await expectDocumented(t, doc, 'get', path)).status, path).toBe(404);
    }
  });

  it('commands, cancel, and their refusals', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const doc = await documentOf(t);
    const json = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const sent = await expectDocumented(t, doc, 'post', '/vehicles/v1/charging', json({ action: 'START' }));
    expect(sent.body.outcome).toBe('sent');
    expect((await expectDocumented(t, doc, 'post', '/vehicles/v1/charging', json({ action: 'START' }))).body.outcome).toBe('collapsed');
    expect((await expectDocumented(t, doc, 'post', '/vehicles/v1/charging?supersede=false', json({ action: 'STOP' }))).status).toBe(409);
    const actionId = sent.body.action.id as string;
    enode.script.set(`POST /vehicles/actions/${actionId}/cancel`, () =>
      enodeJson(200, { ...sent.body.action, state: 'CANCELLED', failureReason: { type: 'REQUESTED_CANCELLATION', detail: 'on request' } }),
    );
    expect((await expectDocumented(t, doc, 'post', `/actions/${actionId}/cancel`)).status).toBe(200);
    expect((await expectDocumented(t, doc, 'post', '/vehicles/nope/charging', json({ action: 'START' }))).status).toBe(404);
    expect((await expectDocumented(t, doc, 'post', '/hvacs/nope/follow-schedule')).status).toBe(404);
    expect((await expectDocumented(t, doc, 'post', '/batteries/b1/operation-mode', json({ operationMode: 'TURBO' }))).status).toBe(400);
    // Without Enode credentials every command route answers 503, as documented.
    const off = await makeApp();
    expect((await expectDocumented(off, doc, 'post', '/chargers/c1/max-current', json({ maxCurrent: 16 }))).status).toBe(503);
  });
});

describe('validation through the route schemas', () => {
  it('answers 400 naming a too-long path id on every read by id (also /interference/{id})', async () => {
    const t = await makeApp();
    const long = 'x'.repeat(201);
    for (const path of [`/actions/${long}`, `/devices/${long}`, `/devices/${long}/timeline`, `/deliveries/${long}`, `/interference/${long}`, `/alerts/${long}`]) {
      const res = await api(t, path);
      expect(res.status, path).toBe(400);
      expect((await res.json()).error).toMatchObject({ code: 'BAD_REQUEST', message: 'Invalid id: 1 to 200 characters' });
    }
  });

  it('names the bad query parameter in the message and in `field`', async () => {
    const t = await makeApp();
    const res = await api(t, '/alerts?status=lost');
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: 'BAD_REQUEST', field: 'status', message: expect.stringContaining('"status"') });
  });

  it('answers 415 to a command body that is not sent as JSON, 400 to a malformed one', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const plain = await api(t, '/vehicles/v1/charging', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"action":"START"}' });
    expect(plain.status).toBe(415);
    expect((await plain.json()).error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json') });
    const malformed = await post(t, '/vehicles/v1/charging', undefined, '{"action":');
    expect((await malformed.json()).error.message).toBe('The request body is not valid JSON');
    expect(enode.commandRequests()).toEqual([]);
  });
});

describe('reference page', () => {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

  it('renders every operation with its method, path, summary, parameters and schemas, escaped, with nothing external', async () => {
    const t = await makeApp();
    const doc = await documentOf(t);
    const res = await api(t, '/reference');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    for (const { method, path, op } of operations(doc)) {
      const section = html.slice(html.indexOf(`id="op-${op.operationId}"`));
      expect(section.length, `${method} ${path}`).toBeLessThan(html.length);
      expect(section).toContain(`>${method.toUpperCase()}</span> <code class="path">${escape(path)}</code>`);
      expect(section).toContain(escape(op.summary ?? ''));
      for (const p of op.parameters ?? []) expect(section).toContain(`<code>${escape(p.name)}</code>`);
    }
    for (const name of Object.keys(doc.components.schemas ?? {})) expect(html).toContain(`id="schema-${name}"`);
    expect(html).toContain('href="#schema-Action"');
    // Text is escaped: the token placeholder of the descriptions is not markup.
    expect(html).toContain('&lt;ADMIN_TOKEN&gt;');
    expect(html).not.toContain('<ADMIN_TOKEN>');
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|@import|url\(/i);
    expect(html).not.toContain(ADMIN_TOKEN);
  });
});
