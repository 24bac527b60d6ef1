/**
 * The layers as drawn in src/store/port.ts, checked on every test run: no import cycle between
 * files (type-only imports included: they mark a layer pointing the wrong way just the same), and
 * no import across a boundary the design forbids.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Files of src/ (relative, e.g. `store/port.ts`) and what each imports: other files, or packages by name. */
function importGraph(): Map<string, { files: string[]; packages: string[] }> {
  const graph = new Map<string, { files: string[]; packages: string[] }>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const files: string[] = [];
    const packages: string[] = [];
    for (const m of [...text.matchAll(IMPORT), ...text.matchAll(DYNAMIC)]) {
      const spec = m[1] as string;
      if (!spec.startsWith('.')) {
        packages.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
        continue;
      }
      const base = resolve(dirname(file), spec).replace(/\.js$/, '');
      const target = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((p) => {
        try {
          return statSync(p).isFile();
        } catch {
          return false;
        }
      });
      if (target) files.push(relative(SRC, target));
    }
    graph.set(relative(SRC, file), { files, packages });
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, { files: string[] }>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)?.files ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.files.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, { files }]) => files.map((to) => ({ from, to })));
const packageEdges = [...graph].flatMap(([from, { packages }]) => packages.map((to) => ({ from, to })));

/** The composition root: the only files that may choose an adapter. */
const ROOT = new Set(['main.ts', 'daemon.ts', 'deps.ts', 'demo.ts', 'status.ts', 'storage.ts']);
const inAdapter = (f: string) => f.startsWith('store/sqlite/') || f.startsWith('store/postgres/') || f.startsWith('db/');

const key = (e: { from: string; to: string }) => `${e.from} -> ${e.to}`;

describe('layers', () => {
  it('reads the source tree (the check below is not vacuous)', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('has no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps the domain pure: domain/ imports only domain/', () => {
    expect(edges.filter((e) => e.from.startsWith('domain/') && !e.to.startsWith('domain/'))).toEqual([]);
  });

  it('lets only the composition root and the adapters themselves import an adapter', () => {
    expect(edges.filter((e) => inAdapter(e.to) && !inAdapter(e.from) && !ROOT.has(e.from)).map(key)).toEqual([]);
  });

  it('never lets the port import an adapter or a feature that imports one', () => {
    const port = ['store/port.ts', 'store/funnel.ts', 'store/reconcile.ts'];
    expect(edges.filter((e) => port.includes(e.from) && inAdapter(e.to))).toEqual([]);
  });

  it('keeps database drivers inside the adapters', () => {
    const drivers = ['better-sqlite3', 'pg', 'drizzle-orm'];
    expect(packageEdges.filter((e) => drivers.includes(e.to) && !inAdapter(e.from) && !ROOT.has(e.from)).map(key)).toEqual([]);
  });
});
