import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWellFormedJson, wellFormed } from '../../src/domain/well-formed.js';

/** True when the string survives UTF-8 unchanged: no lone surrogate in it. */
const viaUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
const survivesUtf8 = (s: string) => viaUtf8(s) === s;

/** A reference, written otherwise: every string and key of a value through UTF-8 (as Postgres's driver stores them). */
function throughUtf8(v: unknown): unknown {
  if (typeof v === 'string') return viaUtf8(v);
  if (Array.isArray(v)) return v.map(throughUtf8);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [viaUtf8(k), throughUtf8(x)]));
  return v;
}

/** Every string and key in a value (JSON.stringify would escape lone surrogates and hide them). */
function everyText(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(everyText);
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...everyText(x)]);
  return [];
}

/** Any UTF-16 code unit, lone surrogates included. */
const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 });

describe('wellFormed', () => {
  it('replaces each lone surrogate with U+FFFD and keeps pairs', () => {
    expect(wellFormed('a\ud800b')).toBe('a\ufffdb');
    expect(wellFormed('\udc00')).toBe('\ufffd');
    expect(wellFormed('\ud83d\ude00')).toBe('\ud83d\ude00');
    expect(wellFormed('\ude00\ud83d')).toBe('\ufffd\ufffd');
    expect(wellFormed('\ud83d\ud83d\ude00')).toBe('\ufffd\ud83d\ude00');
  });

  it('gives text UTF-8 holds unchanged, and leaves such text as it is', () => {
    fc.assert(
      fc.property(anyUnits, (s) => {
        const fixed = wellFormed(s);
        expect(survivesUtf8(fixed)).toBe(true);
        expect(fixed.length).toBe(s.length);
        if (survivesUtf8(s)) expect(fixed).toBe(s);
        // What Postgres's driver writes for the same string (Buffer encodes lone surrogates as U+FFFD).
        expect(fixed).toBe(viaUtf8(s));
      }),
    );
  });
});

describe('parseWellFormedJson', () => {
  it('parses as JSON.parse does, with every string and key well formed, at any depth', () => {
    const text = '{"id":"\\ud800","a":[["\\udc00x",{"k\\ud800":"\\ud83d\\ude00"}]],"__proto__":"\\ud800"}';
    const value = parseWellFormedJson(text) as Record<string, unknown>;
    expect(value).toEqual(JSON.parse('{"id":"\\ufffd","a":[["\\ufffdx",{"k\\ufffd":"\\ud83d\\ude00"}]],"__proto__":"\\ufffd"}'));
    // `__proto__` stays an own key, as JSON.parse defines it; the prototype is untouched.
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(value, '__proto__')).toBe(true);
  });

  it('matches JSON.parse on any JSON value, up to the replacement', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), anyUnits, (v, s) => {
        const text = JSON.stringify([v, s, { [s]: s, [wellFormed(s)]: 'later' }]);
        const parsed = parseWellFormedJson(text);
        expect(parsed).toEqual(throughUtf8(JSON.parse(text)));
        expect(everyText(parsed).every(survivesUtf8)).toBe(true);
      }),
    );
  });

  it('a fixed key meeting one spelled with U+FFFD: the later value wins, in the first key\'s place, as in the text', () => {
    expect(parseWellFormedJson('{"\\ud800":1,"a":0,"\ufffd":2}')).toEqual({ '\ufffd': 2, a: 0 });
    expect(Object.keys(parseWellFormedJson('{"\\ud800":1,"a":0,"\ufffd":2}') as object)).toEqual(['\ufffd', 'a']);
    expect(parseWellFormedJson('{"\ufffd":1,"\\udc00":2}')).toEqual({ '\ufffd': 2 });
  });

  it('leaves a string value as a string and throws on bad JSON like JSON.parse', () => {
    expect(parseWellFormedJson('"\\ud800"')).toBe('\ufffd');
    expect(() => parseWellFormedJson('{')).toThrow(SyntaxError);
  });
});
