// The import graph of tunnel/src, server/src and client/src (read with the TypeScript compiler's own
// pre-processor, no bundler): no circle anywhere, and the edge modules (tunnel/src/modules) never
// import from the edge server (tunnel/src/edge) — modules are plugged into it, not the other way.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const REPO = path.resolve(__dirname, '../..');
const ROOTS = ['tunnel/src', 'server/src', 'client/src'].map((r) => path.join(REPO, r));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')])
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  return undefined;
}

/** file → the files it imports (type-only imports included: a circle of types is a circle too). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of ROOTS.flatMap(sources)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles.map((f) => resolve(file, f.fileName)).filter((f): f is string => !!f);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan), or a file importing itself. */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.map((f) => path.relative(REPO, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('import graph', () => {
  const graph = importGraph();

  it('reads the whole tree', () => {
    assert.ok(graph.size > 100, `only ${graph.size} files`);
  });

  it('has no circles', () => {
    assert.deepEqual(circles(graph), []);
  });

  it('tunnel/src/modules does not import from tunnel/src/edge', () => {
    const modules = path.join(REPO, 'tunnel/src/modules') + path.sep;
    const edge = path.join(REPO, 'tunnel/src/edge') + path.sep;
    const bad = [...graph]
      .filter(([f]) => f.startsWith(modules))
      .flatMap(([f, targets]) =>
        targets.filter((t) => t.startsWith(edge)).map((t) => `${path.relative(REPO, f)} → ${path.relative(REPO, t)}`),
      );
    assert.deepEqual(bad, []);
  });
});
