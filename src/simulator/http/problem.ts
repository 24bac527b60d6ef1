import type { Context } from 'hono';
import type { ZodError } from 'zod';

const TYPES: Record<number, { slug: string; title: string }> = {
  400: { slug: 'bad-request', title: 'Bad Request' },
  401: { slug: 'unauthorized', title: 'Unauthorized' },
  403: { slug: 'forbidden', title: 'Forbidden' },
  404: { slug: 'not-found', title: 'Not Found' },
  409: { slug: 'conflict', title: 'Conflict' },
  422: { slug: 'unprocessable-entity', title: 'Unprocessable Entity' },
  429: { slug: 'too-many-requests', title: 'Too Many Requests' },
  500: { slug: 'server-error', title: 'Internal Server Error' },
  502: { slug: 'bad-gateway', title: 'Bad Gateway' },
  503: { slug: 'service-unavailable', title: 'Service Unavailable' },
};

export interface ProblemIssue {
  path: string;
  message: string;
}

/** An RFC 7807 problem response, `application/problem+json`. */
export function problem(status: number, detail: string, issues?: ProblemIssue[], headers?: Record<string, string>): Response {
  const t = TYPES[status] ?? { slug: 'error', title: 'Error' };
  const body: Record<string, unknown> = {
    type: `https://developers.enode.com/api/problems/${t.slug}`,
    title: t.title,
    detail,
  };
  if (issues && issues.length > 0) body['issues'] = issues;
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json', ...(headers ?? {}) },
  });
}

export function zodIssues(err: ZodError): ProblemIssue[] {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** Reads a JSON body; `undefined` for an empty body, a problem Response for malformed JSON. */
export async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> {
  const text = await c.req.text();
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, response: problem(400, 'Request body is not valid JSON') };
  }
}
