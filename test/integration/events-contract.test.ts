/**
 * The event log's contract in the OpenAPI document: a `webhooks` section with one POST per event
 * type (the envelope schema of that type, the Standard Webhooks headers), `GET /events` listing
 * the same envelopes, the reference page listing the types; and the schema check that the test
 * setup (test/support/event-schemas.ts) runs on every event a test reads.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { eventSchemaProblem } from '../../src/events/schemas.js';
import { EVENT_TYPES } from '../../src/events/types.js';
import { api, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';

type Json = Record<string, any>;

const resolve = (doc: Json, schema: Json): Json => (typeof schema['$ref'] === 'string' ? doc.components.schemas[schema['$ref'].split('/').pop()!] : schema);

describe('the event log in the OpenAPI document', () => {
  it('has a valid OpenAPI 3.1 webhooks section: one POST per event type, its envelope, the Standard Webhooks headers', async () => {
    const t = await makeApp();
    const doc = (await (await api(t, '/openapi.json')).json()) as Json;
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);

    expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const op = doc.webhooks[type].post as Json;
      const headers = (op.parameters as Json[]).filter((p) => p.in === 'header');
      expect(headers.map((h) => [h.name, h.required])).toEqual([
        ['webhook-id', true],
        ['webhook-timestamp', true],
        ['webhook-signature', true],
      ]);
      const body = resolve(doc, op.requestBody.content['application/json'].schema);
      expect(body.required).toEqual(expect.arrayContaining(['id', 'type', 'occurredAt', 'recordedAt', 'deviceId', 'userId', 'data']));
      expect(body.properties.type.enum).toContain(type);
    }
    // A device event's payload is spelled out: the device as GET /devices/{id} shows it, and the changes.
    const deviceEvent = resolve(doc, doc.webhooks['device.updated'].post.requestBody.content['application/json'].schema);
    const data = resolve(doc, deviceEvent.properties.data);
    expect(resolve(doc, data.properties.device)).toEqual(doc.components.schemas.Device);
    expect(Object.keys(resolve(doc, data.properties.changes.items).properties)).toEqual(['path', 'from', 'to']);
  });

  it('GET /events lists the same envelopes: one of the per-type schemas', async () => {
    const t = await makeApp();
    const doc = (await (await api(t, '/openapi.json')).json()) as Json;
    const list = resolve(doc, doc.paths['/api/v1/events'].get.responses['200'].content['application/json'].schema);
    const item = resolve(doc, list.properties.data.items);
    const listed = (item.oneOf ?? item.anyOf) as Json[];
    const webhookBodies = new Set(EVENT_TYPES.map((type) => doc.webhooks[type].post.requestBody.content['application/json'].schema['$ref']));
    expect(new Set(listed.map((s) => s['$ref']))).toEqual(webhookBodies);
  });

  it('the reference page lists every event type as a webhook', async () => {
    const t = await makeApp();
    const html = await (await api(t, '/reference')).text();
    for (const type of EVENT_TYPES) expect(html).toContain(`<code>${type}</code>`);
  });
});

describe('the schema check of produced events', () => {
  it('accepts events as the log produces them and names a missing, mistyped or undeclared field', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1, { batteryLevel: 40 })]);
    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 41 })]);
    const [, updated] = (await (await api(t, '/events')).json()).data as Json[];
    expect(eventSchemaProblem(updated!)).toBeUndefined();

    const { changes: _dropped, ...withoutChanges } = updated!.data;
    expect(eventSchemaProblem({ ...updated!, data: withoutChanges })).toMatch(/^device\.updated: data\.changes: /);
    expect(eventSchemaProblem({ ...updated!, deviceId: 7 })).toMatch(/deviceId: /);
    expect(eventSchemaProblem({ ...updated!, data: { ...updated!.data, device: { ...updated!.data.device, battery: 1 } } })).toBe(
      'device.updated: not in its schema: data.device.battery',
    );
    expect(eventSchemaProblem({ ...updated!, type: 'device.renamed' })).toBe('unknown event type "device.renamed"');
  });
});
