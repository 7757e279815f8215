import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/** One relative import (static, dynamic, `export … from`, type-only included) between two source files. */
export interface ImportEdge {
  from: string;
  to: string;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every .ts file under `dirs` (repo-relative, `/`-separated). */
export function sourceFiles(repo: string, dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(repo, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(repo, path)).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

/** The relative imports of `files`, resolved to repo-relative .ts paths. */
export function importEdges(repo: string, files: string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(repo, from), 'utf8');
    for (const m of text.matchAll(SPECIFIER)) {
      const to = normalize(join(dirname(from), m[1]!))
        .split(sep)
        .join('/')
        .replace(/\.js$/, '.ts');
      edges.push({ from, to });
    }
  }
  return edges;
}

/** The folder a file belongs to, one level below `root` (`connector/batches/x.ts` → `batches`; root files → `.`). */
export function folderOf(root: string, file: string): string {
  const rest = relative(root, file).split(sep);
  return rest.length > 1 ? rest[0]! : '.';
}

/** Strongly connected components with more than one node (or a self-loop): the cycles of a graph. */
export function cycles(nodes: Iterable<string>, edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) === order.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || edges.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of nodes) if (!order.has(v)) visit(v);
  return found;
}

/** The folder graph of `root` (edges between different folders only). */
export function folderGraph(root: string, edges: ImportEdge[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!from.startsWith(`${root}/`) || !to.startsWith(`${root}/`)) continue;
    const a = folderOf(root, from);
    const b = folderOf(root, to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  return graph;
}

/** The file graph of the given edges. */
export function fileGraph(edges: ImportEdge[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
  }
  return graph;
}
