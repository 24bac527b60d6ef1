/**
 * The one check before a body schema runs, for every admin route that takes a JSON body: a
 * missing body, a non-JSON content type and malformed JSON each get their own clear 4xx (the
 * schema then names the bad field). A body holding an escaped lone surrogate (`"\ud800"`) is
 * handed on with U+FFFD in its place (domain/well-formed.ts), so that a subscription's or a
 * command's text is stored alike on SQLite and on Postgres.
 */
import type { MiddlewareHandler } from 'hono';
import { mayEscapeSurrogate, parseWellFormedJson } from '../domain/well-formed.js';
import { AppError } from '../errors.js';

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export const requireJsonBody: MiddlewareHandler = async (c, next) => {
  const text = await c.req.text();
  if (text.trim() === '') throw new AppError('BAD_REQUEST', 'A JSON request body is required');
  if (!JSON_MEDIA_TYPE.test(c.req.header('content-type') ?? '')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON, with Content-Type: application/json');
  }
  let value: unknown;
  try {
    value = parseWellFormedJson(text);
  } catch {
    throw new AppError('BAD_REQUEST', 'The request body is not valid JSON');
  }
  // The validators read the body through the request's text cache (`c.req.json()`): give them the well-formed one.
  // (Hono keeps the promise of each read there; its type names the resolved value.)
  if (mayEscapeSurrogate(text)) {
    let wellFormedText: string;
    try {
      wellFormedText = JSON.stringify(value);
    } catch {
      // JSON.stringify recurses: a body nested thousands deep is no body any route takes.
      throw new AppError('BAD_REQUEST', 'The request body nests too deeply');
    }
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(wellFormedText);
  }
  await next();
};
