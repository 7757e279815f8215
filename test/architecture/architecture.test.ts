// Guards the layering of #16: no folder-level import cycle, building blocks that depend on nothing, the
// emulator apart from the connector, and no module over 400 lines. Run alone: `npm run check:architecture`.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { cycles, fileGraph, folderGraph, folderOf, importEdges, sourceFiles } from './import-graph.js';

const REPO = resolve(import.meta.dirname, '../..');
const files = sourceFiles(REPO, ['connector', 'emulator']);
const edges = importEdges(REPO, files);
const MAX_LINES = 400;

describe('architecture', () => {
  it('has no import cycle between the folders of connector/', () => {
    const graph = folderGraph('connector', edges);
    expect(cycles(graph.keys(), graph)).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const graph = fileGraph(edges);
    expect(cycles(graph.keys(), graph)).toEqual([]);
  });

  it('keeps connector/common/ free of imports from the rest of the connector', () => {
    const outward = edges.filter(
      (e) => e.from.startsWith('connector/common/') && !e.to.startsWith('connector/common/'),
    );
    expect(outward).toEqual([]);
  });

  it('keeps connector/types/ to types: it imports only other types and declares no code', () => {
    const typeFiles = files.filter((f) => f.startsWith('connector/types/'));
    expect(typeFiles.length).toBeGreaterThan(0);
    expect(edges.filter((e) => e.from.startsWith('connector/types/') && !e.to.startsWith('connector/types/'))).toEqual(
      [],
    );
    const code = typeFiles.flatMap((f) => runtimeStatements(f, readFileSync(join(REPO, f), 'utf8')));
    expect(code).toEqual([]);
    // The checker itself: code, or an import that is not type-only, is found.
    expect(
      runtimeStatements('x.ts', "import { a } from './a.js';\nexport const b = 1;\nexport interface C { c: number }"),
    ).toEqual(["x.ts: import { a } from './a.js';", 'x.ts: export const b = 1;']);
  });

  it('lets nothing import the CLI entry files', () => {
    const entries = new Set(['connector/cli.ts', 'connector/cli-main.ts', 'connector/demo.ts']);
    expect(edges.filter((e) => entries.has(e.to) && e.from !== 'connector/cli.ts')).toEqual([]);
  });

  it('keeps the emulator apart: it imports nothing from connector/', () => {
    const intoConnector = edges.filter((e) => e.from.startsWith('emulator/') && !e.to.startsWith('emulator/'));
    expect(intoConnector).toEqual([]);
    expect(files.some((f) => f.startsWith('emulator/'))).toBe(true);
  });

  it(`has no module over ${MAX_LINES} lines in connector/`, () => {
    const long = files
      .filter((f) => f.startsWith('connector/'))
      .map((f) => ({ file: f, lines: readFileSync(join(REPO, f), 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    const graph = folderGraph('connector', [
      { from: 'connector/a/x.ts', to: 'connector/b/y.ts' },
      { from: 'connector/b/y.ts', to: 'connector/c/z.ts' },
      { from: 'connector/c/z.ts', to: 'connector/a/w.ts' },
      { from: 'connector/c/z.ts', to: 'connector/d/v.ts' },
    ]);
    expect(cycles(graph.keys(), graph)).toEqual([['a', 'b', 'c']]);
    expect(folderOf('connector', 'connector/cli.ts')).toBe('.');
  });
});

/** The statements of a module that would emit JavaScript: anything but type declarations and type-only imports/exports. */
function runtimeStatements(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  return source.statements
    .filter((st) => {
      if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) return false;
      if (ts.isImportDeclaration(st)) return !st.importClause?.isTypeOnly;
      if (ts.isExportDeclaration(st)) return !st.isTypeOnly;
      return true;
    })
    .map((st) => `${file}: ${st.getText(source)}`);
}
