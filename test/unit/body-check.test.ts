import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { checkBody, parseEventArray, sha256Hex } from '../../src/ingest/deliveries.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const nested = (levels: number) => `[{"event":"x","v":${'['.repeat(levels)}${']'.repeat(levels)}}]`;

describe('checkBody: what the route works out off the writer thread', () => {
  it('gives the body hash and the event count of an event array', () => {
    const body = bytes('[{"event":"system:heartbeat"},{"event":"user:vehicle:updated"}]');
    expect(checkBody(body)).toEqual({ bodySha256: sha256Hex(body), verdict: { ok: true, eventCount: 2 } });
  });

  it('classifies exactly as parseEventArray does: nesting, JSON, array, event objects', () => {
    const cases = ['[{"event":"a"}]', nested(10), nested(MAX_JSON_DEPTH), nested(MAX_JSON_DEPTH - 2), '{"not":"an array"}', '[1]', '[{"event":1}]', 'not json', '[]'];
    for (const text of cases) {
      const body = bytes(text);
      const parsed = parseEventArray(body);
      const { verdict } = checkBody(body);
      expect(verdict.ok).toBe(parsed.ok);
      if (parsed.ok && verdict.ok) expect(verdict.eventCount).toBe(parsed.events.length);
      if (!parsed.ok && !verdict.ok) expect(verdict.reason).toBe(parsed.reason);
    }
    // Too deep is refused before parsing, with the offset named.
    const deep = checkBody(bytes(nested(MAX_JSON_DEPTH)));
    expect(deep.verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/deeper than 64 levels \(at byte \d+\)/) });
  });

  it('parseEventArray skips the nesting scan only when told the bytes were checked', () => {
    const deep = bytes(nested(MAX_JSON_DEPTH + 5));
    expect(parseEventArray(deep).ok).toBe(false);
    // V8's parser is iterative: the bytes parse; the scan is what refuses them.
    expect(parseEventArray(deep, { nestingChecked: true }).ok).toBe(true);
  });
});
