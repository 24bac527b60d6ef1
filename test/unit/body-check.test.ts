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

  it('classifies nesting, JSON, array and event objects, with a reason for each refusal', () => {
    const cases: Array<[string, RegExp | number]> = [
      ['[{"event":"a"}]', 1],
      ['[]', 0],
      [nested(MAX_JSON_DEPTH - 2), 1],
      [nested(MAX_JSON_DEPTH), new RegExp(`deeper than ${MAX_JSON_DEPTH} levels \\(at byte \\d+\\)`)],
      ['{"not":"an array"}', /not an array of events \(got object\)/],
      ['[1]', /element 0 is not an event object/],
      ['[{"event":1}]', /element 0 is not an event object with a string "event" field/],
      ['not json', /not valid JSON/],
    ];
    for (const [text, expected] of cases) {
      const { verdict } = checkBody(bytes(text));
      if (typeof expected === 'number') expect(verdict).toEqual({ ok: true, eventCount: expected });
      else expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(expected) });
    }
  });

  it('parseEventArray skips the nesting scan only when told the bytes were checked', () => {
    const deep = bytes(nested(MAX_JSON_DEPTH + 5));
    expect(parseEventArray(deep).ok).toBe(false);
    // V8's parser is iterative: the bytes parse; the scan is what refuses them.
    expect(parseEventArray(deep, { nestingChecked: true }).ok).toBe(true);
  });
});
