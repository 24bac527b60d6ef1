import { describe, expect, it } from 'vitest';
import {
  EnodeApiError,
  EnodeAuthError,
  EnodeConflictError,
  EnodeNotFoundError,
  EnodeRateLimitError,
  EnodeUnavailableError,
  EnodeValidationError,
  errorFromResponse,
  parseProblem,
} from '../../../src/enode/errors.js';

const at = { method: 'GET', path: '/vehicles/v1' };

describe('errorFromResponse', () => {
  it.each([
    [404, EnodeNotFoundError, false],
    [401, EnodeAuthError, false],
    [403, EnodeAuthError, false],
    [400, EnodeValidationError, false],
    [422, EnodeValidationError, false],
    [409, EnodeConflictError, false],
    [429, EnodeRateLimitError, true],
    [500, EnodeUnavailableError, true],
    [503, EnodeUnavailableError, true],
    [418, EnodeApiError, false],
  ] as const)('%i → %o (retryable %s)', (status, cls, retryable) => {
    const err = errorFromResponse({ ...at, status, body: { title: 'T', detail: 'D' } });
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(EnodeApiError);
    expect(err.status).toBe(status);
    expect(err.retryable).toBe(retryable);
    expect(err.name).toBe(cls.name);
  });

  it('puts method, path, status, title, detail and issues in the message', () => {
    const err = errorFromResponse({
      ...at,
      method: 'POST',
      path: '/batteries/b1/operation-mode',
      status: 400,
      body: { type: 'https://developers.enode.com/api/problems/bad-request', title: 'Bad Request', detail: 'Invalid request body', issues: [{ path: 'operationMode', message: 'Invalid option' }] },
    });
    expect(err.message).toBe('Enode POST /batteries/b1/operation-mode failed with 400 Bad Request: Invalid request body (operationMode: Invalid option)');
    expect(err.problem).toEqual({
      type: 'https://developers.enode.com/api/problems/bad-request',
      title: 'Bad Request',
      detail: 'Invalid request body',
      issues: [{ path: 'operationMode', message: 'Invalid option' }],
    });
  });

  it('a 409 carrying an action exposes it as the resolved action', () => {
    const action = { id: 'a1', state: 'CONFIRMED', targetType: 'charger' };
    const err = errorFromResponse({ method: 'POST', path: '/chargers/actions/a1/cancel', status: 409, body: action });
    expect(err).toBeInstanceOf(EnodeConflictError);
    expect((err as EnodeConflictError).action).toEqual(action);
    expect(err.message).toContain('already resolved (state CONFIRMED)');
  });

  it('a 429 keeps the Retry-After hint', () => {
    const err = errorFromResponse({ ...at, status: 429, body: undefined, retryAfterMs: 3000, attempts: 5 });
    expect((err as EnodeRateLimitError).retryAfterMs).toBe(3000);
    expect(err.message).toContain('after 5 attempts');
  });

  it('copes with a body that is not a problem', () => {
    const err = errorFromResponse({ ...at, status: 502, body: undefined });
    expect(err.problem).toEqual({});
    expect(err.message).toBe('Enode GET /vehicles/v1 failed with 502');
  });
});

describe('EnodeUnavailableError', () => {
  it('explains a network failure with its underlying cause', () => {
    const cause = new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    const err = new EnodeUnavailableError({ ...at, status: null, reason: 'network', attempts: 5, cause });
    expect(err.message).toBe('Enode GET /vehicles/v1 failed: network error (connect ECONNREFUSED 127.0.0.1:1) after 5 attempt(s)');
    expect(err.retryable).toBe(true);
  });

  it('explains a timeout', () => {
    const err = new EnodeUnavailableError({ ...at, status: null, reason: 'timeout', attempts: 2 });
    expect(err.message).toBe('Enode GET /vehicles/v1 failed: timed out after 2 attempt(s)');
  });
});

describe('parseProblem', () => {
  it('reads OAuth2 error bodies as title and detail', () => {
    expect(parseProblem({ error: 'invalid_client', error_description: 'Client authentication failed' })).toEqual({
      title: 'invalid_client',
      detail: 'Client authentication failed',
    });
  });

  it('ignores non-objects and wrongly typed fields', () => {
    expect(parseProblem('oops')).toEqual({});
    expect(parseProblem([1])).toEqual({});
    expect(parseProblem({ title: 5, detail: null, issues: 'x' })).toEqual({});
  });
});
