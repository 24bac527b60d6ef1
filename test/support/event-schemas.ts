/**
 * Setup file of both vitest projects (vitest.config.ts): every event any test reads — through
 * `GET /api/v1/events`, the SSE stream, the dashboard, a subscription's delivery or `events()`,
 * all of which present events with events/present.ts — is parsed with its type's schema
 * (src/events/schemas.ts, the source of the OpenAPI `webhooks` section and of the consumer types).
 * A test that read an event its schema does not describe (a missing or mistyped field, or a field
 * the schema lacks) fails after it, naming the event type and the field.
 */
import { afterEach, expect, vi } from 'vitest';

const problems = vi.hoisted(() => [] as string[]);

vi.mock('../../src/events/present.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/events/present.js')>();
  const { eventSchemaProblem } = await import('../../src/events/schemas.js');
  return {
    ...original,
    presentEvent(e: Parameters<typeof original.presentEvent>[0]) {
      const shown = original.presentEvent(e);
      const problem = eventSchemaProblem(shown);
      if (problem !== undefined) problems.push(problem);
      return shown;
    },
  };
});

afterEach(() => {
  const found = [...new Set(problems.splice(0))];
  expect(found, 'events that do not match their type’s schema in src/events/schemas.ts').toEqual([]);
});
