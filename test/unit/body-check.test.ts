import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { checkBody, parseEventArray, sha256Hex } from '../../src/ingest/deliveries.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const nested = (levels: number) => `[{"event":"x","v":${'['.repeat(levels)}${']'.repeat(levels)}}]`;

describe('checkBody: what the route works out off the writer thread', () => {
  it('gives the body hash and where nesting passes the limit (null when it never does)', () => {
    const shallow = bytes('[{"event":"system:heartbeat"}]');
    expect(checkBody(shallow)).toEqual({ bodySha256: sha256Hex(shallow), tooDeepAt: null });
    expect(checkBody(bytes(nested(MAX_JSON_DEPTH))).tooDeepAt).not.toBeNull();
    expect(checkBody(bytes(nested(MAX_JSON_DEPTH - 2))).tooDeepAt).toBeNull();
  });

  it('parseEventArray takes a given check instead of scanning again, and agrees with its own scan', () => {
    for (const text of ['[{"event":"a"}]', nested(10), nested(MAX_JSON_DEPTH + 5), '{"not":"an array"}']) {
      const body = bytes(text);
      expect(parseEventArray(body, checkBody(body))).toEqual(parseEventArray(body));
    }
    // The given check is what decides: the writer does not scan a body the route has checked.
    const shallow = bytes('[{"event":"a"}]');
    const verdict = parseEventArray(shallow, { tooDeepAt: 3 });
    expect(verdict).toMatchObject({ ok: false });
  });
});
