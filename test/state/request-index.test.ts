// Guards the in-run duplicate index: a request sent in one batch must be found for every later identical
// record (or the run pays twice), with the seq of the first batch that carried it, however large the run.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestIndex } from '../../connector/state/request-index.js';
import { idFor } from '../cache/helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'request-index-'));
  dirs.push(d);
  return join(d, 'index');
};

describe('RequestIndex', () => {
  it('answers the first seq that carried a request, and nothing for one never sent', () => {
    const index = new RequestIndex(newDir());
    expect(index.get(idFor('a'))).toBeUndefined();
    index.add(idFor('a'), 0);
    index.add(idFor('b'), 3);
    index.add(idFor('a'), 7);
    expect([index.get(idFor('a')), index.get(idFor('b')), index.get(idFor('c'))]).toEqual([0, 3, undefined]);
    expect(index.size).toBe(2);
    index.close();
  });

  it('grows on disk past its first table and still finds every request with its seq', () => {
    const dir = newDir();
    const index = new RequestIndex(dir);
    const n = 120_000; // past 0.7 of the first 65,536 slots, and of the next 131,072
    for (let i = 0; i < n; i++) index.add(idFor(i), i % 1000);
    expect(index.size).toBe(n);
    const wrong: number[] = [];
    for (let i = 0; i < n; i++) if (index.get(idFor(i)) !== i % 1000) wrong.push(i);
    expect(wrong).toEqual([]);
    expect(index.get(idFor('never'))).toBeUndefined();
    expect(readdirSync(dir)).toEqual(['index-2.tbl']); // the outgrown tables are deleted
    index.close();
    expect(existsSync(dir)).toBe(false);
  });

  it('starts empty over whatever an earlier process left in its folder', () => {
    const dir = newDir();
    // What a killed process leaves: its tables, possibly half written.
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index-0.tbl'), Buffer.alloc(1000, 0xff));
    writeFileSync(join(dir, 'index-3.tbl'), 'junk');
    const index = new RequestIndex(dir); // a resumed run rebuilds the index from its spool
    expect(readdirSync(dir)).toEqual(['index-0.tbl']);
    expect(index.get(idFor('x'))).toBeUndefined();
    index.add(idFor('x'), 2);
    expect(index.get(idFor('x'))).toBe(2);
    index.close();
  });
});
