/**
 * The API reference page, rendered on the server from the OpenAPI document with hono/jsx: every
 * operation with its method, path, summary, parameters, request body and responses, and the
 * component schemas they refer to. No scripts and no external assets; hono/jsx escapes all text.
 */
import type { Child, FC } from 'hono/jsx';

interface SchemaLike {
  [key: string]: unknown;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: SchemaLike;
}

interface MediaTypes {
  [mediaType: string]: { schema?: SchemaLike };
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; description?: string; content?: MediaTypes };
  responses?: Record<string, { description?: string; headers?: Record<string, { description?: string }>; content?: MediaTypes }>;
}

interface Document {
  info: { title: string; version: string; description?: string };
  servers?: Array<{ url: string }>;
  security?: Array<Record<string, string[]>>;
  tags?: Array<{ name: string; description?: string }>;
  paths?: Record<string, Record<string, unknown>>;
  /** What subscriptions receive, one entry per event type (shown as operations whose path is the type). */
  webhooks?: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, SchemaLike> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Entry {
  method: string;
  path: string;
  op: Operation;
  anchor: string;
}

/** Every operation of the document in its path order, then its webhooks (the event types) in theirs. */
export function operationsOf(doc: Document): Entry[] {
  const out: Entry[] = [];
  for (const [path, item] of [...Object.entries(doc.paths ?? {}), ...Object.entries(doc.webhooks ?? {})]) {
    for (const method of METHODS) {
      const op = item[method] as Operation | undefined;
      if (!op) continue;
      out.push({ method, path, op, anchor: `op-${op.operationId ?? `${method}-${path}`.replace(/[^A-Za-z0-9_-]+/g, '-')}` });
    }
  }
  return out;
}

const REF = /("\$ref": )"#\/components\/schemas\/([^"]+)"/g;

/** Pretty-printed JSON Schema where each `$ref` links to the schema it names. */
const SchemaJson: FC<{ schema: unknown }> = ({ schema }) => {
  const only = schema !== null && typeof schema === 'object' && Object.keys(schema).length === 1 ? (schema as SchemaLike)['$ref'] : undefined;
  if (typeof only === 'string' && only.startsWith('#/components/schemas/')) {
    const name = only.slice('#/components/schemas/'.length);
    return (
      <p class="ref">
        schema <a href={`#schema-${name}`}>{name}</a>
      </p>
    );
  }
  const text = JSON.stringify(schema ?? {}, null, 2);
  const parts: Child[] = [];
  let last = 0;
  for (const m of text.matchAll(REF)) {
    const name = m[2] as string;
    parts.push(text.slice(last, m.index + (m[1] as string).length));
    parts.push(<a href={`#schema-${name}`}>{`"#/components/schemas/${name}"`}</a>);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return <pre class="schema">{parts}</pre>;
};

/** A one-line summary of a parameter schema: type, enum, format and bounds. */
function brief(schema: SchemaLike | undefined): string {
  if (!schema) return '';
  const bits: string[] = [];
  const type = schema['type'];
  bits.push(Array.isArray(type) ? type.join(' | ') : typeof type === 'string' ? type : 'any');
  if (Array.isArray(schema['enum'])) bits.push(`one of ${(schema['enum'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
  for (const key of ['format', 'minimum', 'maximum', 'minLength', 'maxLength', 'default', 'pattern']) {
    if (schema[key] !== undefined) bits.push(`${key} ${typeof schema[key] === 'string' ? schema[key] : JSON.stringify(schema[key])}`);
  }
  return bits.join('; ');
}

const Content: FC<{ content: MediaTypes | undefined }> = ({ content }) => (
  <>
    {Object.entries(content ?? {}).map(([mediaType, media]) => (
      <div class="media">
        <code>{mediaType}</code>
        {media.schema !== undefined && <SchemaJson schema={media.schema} />}
      </div>
    ))}
  </>
);

const OperationView: FC<{ entry: Entry; doc: Document }> = ({ entry, doc }) => {
  const { op, method, path } = entry;
  const security = op.security ?? doc.security ?? [];
  const auth = security.length === 0 ? 'none' : security.map((s) => Object.keys(s).join(' + ')).join(' or ');
  return (
    <section class="op" id={entry.anchor}>
      <h3>
        <span class={`method ${method}`}>{method.toUpperCase()}</span> <code class="path">{path}</code>
      </h3>
      {op.summary && <p class="summary">{op.summary}</p>}
      {op.description && <p>{op.description}</p>}
      <p class="meta">
        operationId <code>{op.operationId ?? '—'}</code> · auth <code>{auth}</code>
      </p>
      {(op.parameters ?? []).length > 0 && (
        <>
          <h4>Parameters</h4>
          <table>
            <thead>
              <tr>
                <th>name</th>
                <th>in</th>
                <th>required</th>
                <th>schema</th>
                <th>description</th>
              </tr>
            </thead>
            <tbody>
              {(op.parameters ?? []).map((p) => (
                <tr>
                  <td>
                    <code>{p.name}</code>
                  </td>
                  <td>{p.in}</td>
                  <td>{p.required ? 'yes' : 'no'}</td>
                  <td>{brief(p.schema)}</td>
                  <td>{p.description ?? (typeof p.schema?.['description'] === 'string' ? p.schema['description'] : '')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {op.requestBody && (
        <>
          <h4>Request body{op.requestBody.required ? ' (required)' : ''}</h4>
          {op.requestBody.description && <p>{op.requestBody.description}</p>}
          <Content content={op.requestBody.content} />
        </>
      )}
      <h4>Responses</h4>
      <dl class="responses">
        {Object.entries(op.responses ?? {}).map(([status, response]) => (
          <>
            <dt class={`status s${status.slice(0, 1)}`}>{status}</dt>
            <dd>
              {response.description ?? ''}
              {Object.entries(response.headers ?? {}).map(([name, header]) => (
                <p class="meta">
                  header <code>{name}</code> {header.description ?? ''}
                </p>
              ))}
              <Content content={response.content} />
            </dd>
          </>
        ))}
      </dl>
    </section>
  );
};

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
main{max-width:70rem;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}
code,pre{font:13px/1.4 ui-monospace,monospace}
pre.schema{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:.6rem;overflow:auto;max-height:28rem}
.op{border:1px solid #d0d7de;border-radius:6px;padding:.3rem 1rem 1rem;margin:1.2rem 0}
.op h3{margin:.6rem 0 .2rem}.summary{font-weight:600;margin:.2rem 0}.meta{color:#57606a;font-size:13px}
.method{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;padding:0 .4em;color:#fff;font:600 13px/1.6 ui-monospace,monospace}
.get{background:#0969da}.post{background:#1a7f37}.put,.patch{background:#9a6700}.delete{background:#cf222e}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
dl.responses{display:grid;grid-template-columns:4rem 1fr;gap:.3rem .8rem}dt.status{font:600 14px ui-monospace,monospace}
.ref{margin:.2rem 0}.s2{color:#1a7f37}.s4{color:#9a6700}.s5{color:#cf222e}.media{margin:.3rem 0}
nav ul{columns:2;list-style:none;padding:0}nav li{margin:.1rem 0}
`;

const ReferencePage: FC<{ doc: Document }> = ({ doc }) => {
  const entries = operationsOf(doc);
  // Grouped by first tag, in the document's tag order; untagged operations last.
  const groups = new Map<string, Entry[]>((doc.tags ?? []).map((t) => [t.name, []]));
  for (const e of entries) {
    const tag = e.op.tags?.[0] ?? 'other';
    groups.set(tag, [...(groups.get(tag) ?? []), e]);
  }
  const describe = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${doc.info.title} ${doc.info.version} · API reference`}</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <main>
          <h1>
            {doc.info.title} <small>{doc.info.version}</small>
          </h1>
          <p>{doc.info.description ?? ''}</p>
          <p class="meta">
            Server <code>{(doc.servers ?? []).map((s) => s.url).join(', ') || '/'}</code> · machine-readable: <code>GET /api/v1/openapi.json</code> (OpenAPI 3.1)
          </p>
          <nav aria-label="Operations">
            <h2>Operations</h2>
            <ul>
              {entries.map((e) => (
                <li>
                  <a href={`#${e.anchor}`}>
                    <span class={`method ${e.method}`}>{e.method.toUpperCase()}</span> <code>{e.path}</code>
                  </a>{' '}
                  {e.op.summary ?? ''}
                </li>
              ))}
            </ul>
          </nav>
          {[...groups].map(([tag, ops]) =>
            ops.length === 0 ? null : (
              <>
                <h2 id={`tag-${tag}`}>{tag}</h2>
                {describe.get(tag) && <p>{describe.get(tag)}</p>}
                {ops.map((entry) => (
                  <OperationView entry={entry} doc={doc} />
                ))}
              </>
            ),
          )}
          <h2 id="schemas">Schemas</h2>
          {Object.entries(doc.components?.schemas ?? {}).map(([name, schema]) => (
            <section id={`schema-${name}`}>
              <h3>
                <code>{name}</code>
              </h3>
              <SchemaJson schema={schema} />
            </section>
          ))}
        </main>
      </body>
    </html>
  );
};

/** The reference page of an OpenAPI 3.1 document, as a complete HTML text. */
export function renderReference(doc: object): string {
  const html = (<ReferencePage doc={doc as Document} />).toString();
  if (typeof html !== 'string') throw new Error('the reference page must render synchronously');
  return `<!doctype html>${html}`;
}
