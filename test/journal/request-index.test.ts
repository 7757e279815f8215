// Guards the run's duplicate index on disk: the first seq of a request wins, lookups see what was just filed
// (before the held-back slot writes reach the file), growth keeps every entry and one file, close deletes it.
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUEST_INDEX_FILE, RequestIndex } from '../../connector/journal/request-index.js';
import { tempDir } from '../helpers/cli.js';

const idOf = (i: number) => 'r' + createHash('sha256').update(`req ${i}`).digest('base64url');

describe('RequestIndex', () => {
  it('keeps the first seq of each request through growth, answers absent requests with undefined, and leaves one file', () => {
    const dir = tempDir('request-index-');
    const index = new RequestIndex(join(dir, REQUEST_INDEX_FILE), { firstBits: 12 });
    const n = 12_000; // 4,096 slots to begin with, 0.7 load: this makes it grow three times
    for (let i = 0; i < n; i++) {
      index.add(idOf(i), Math.floor(i / 1000));
      if (i % 7 === 0) index.add(idOf(i), 999_999); // a later batch never takes a request over
      if (i % 997 === 0) expect(index.get(idOf(i))).toBe(Math.floor(i / 1000)); // seen at once
    }
    expect(index.size).toBe(n);
    const wrong: number[] = [];
    for (let i = 0; i < n; i++) if (index.get(idOf(i)) !== Math.floor(i / 1000)) wrong.push(i);
    expect(wrong).toEqual([]);
    for (let i = n; i < n + 3000; i++) expect(index.get(idOf(i))).toBeUndefined();
    expect(readdirSync(dir)).toEqual([`${REQUEST_INDEX_FILE}.3`]);
    index.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('starts afresh over what a killed attempt left', () => {
    const dir = tempDir('request-index-');
    writeFileSync(join(dir, `${REQUEST_INDEX_FILE}.3`), 'stale');
    writeFileSync(join(dir, 'journal.jsonl'), '');
    const index = new RequestIndex(join(dir, REQUEST_INDEX_FILE));
    expect(index.get(idOf(1))).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(['journal.jsonl', `${REQUEST_INDEX_FILE}.0`]);
    index.close();
  });
});
