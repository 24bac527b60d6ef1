import { describe, expect, it } from 'vitest';
import { signEnodeBody, verifyEnodeSignature } from '../../src/ingest/signature.js';

const VECTOR_BODY = '{"payload":"example"}';
const VECTOR_SIGNATURE = 'sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d';

describe('Enode webhook signature', () => {
  it("matches Enode's published test vector", () => {
    expect(signEnodeBody(VECTOR_BODY, 'example-secret')).toBe(VECTOR_SIGNATURE);
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), VECTOR_SIGNATURE, ['example-secret'])).toBe(true);
  });

  it('rejects the same JSON re-serialised with a space: raw bytes are what is signed', () => {
    expect(verifyEnodeSignature(Buffer.from('{"payload": "example"}'), VECTOR_SIGNATURE, ['example-secret'])).toBe(false);
  });

  it('accepts any of several secrets during rotation', () => {
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), VECTOR_SIGNATURE, ['new-secret-1', 'example-secret'])).toBe(true);
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), VECTOR_SIGNATURE, ['new-secret-1', 'other-secret'])).toBe(false);
  });

  it.each([
    ['missing header', undefined],
    ['empty header', ''],
    ['no sha1= prefix', 'e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d'],
    ['sha256 prefix', 'sha256=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d'],
    ['truncated digest', 'sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8'],
    ['non-hex digest', 'sha1=z417e6fc2e7f8a78c93a35a7b344d36ce179fc8d'],
    ['one digit off', 'sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8e'],
  ])('rejects %s', (_name, header) => {
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), header, ['example-secret'])).toBe(false);
  });

  it('accepts an upper-case hex digest (header compared case-insensitively)', () => {
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), VECTOR_SIGNATURE.toUpperCase().replace('SHA1=', 'sha1='), ['example-secret'])).toBe(true);
  });

  it('rejects everything when no secret is configured', () => {
    expect(verifyEnodeSignature(Buffer.from(VECTOR_BODY), VECTOR_SIGNATURE, [])).toBe(false);
  });
});
