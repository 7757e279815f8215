// What the Parquet tests share: a schema with a column of every kind the connector writes, a temp folder per
// test file, and a writer of rows through the connector's own AtomicParquetFile.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Schema } from 'apache-arrow';
import { afterAll, beforeAll } from 'vitest';
import { columnKind, streamArrowSchema } from '../../connector/sinks/arrow-schema.js';
import { AtomicParquetFile, DEFAULT_PARQUET_OPTIONS, type ParquetOptions } from '../../connector/sinks/parquet-file.js';
import type { Row } from './parquet-readers.js';

/** One nullable column of each kind (integer, number, boolean, timestamp, date, string, json), then the connector's columns. */
export const EVERY_KIND = streamArrowSchema({
  properties: {
    i: { type: ['null', 'integer'] },
    x: { type: ['null', 'number'] },
    b: { type: ['null', 'boolean'] },
    t: { type: ['null', 'string'], format: 'date-time' },
    d: { type: ['null', 'string'], format: 'date' },
    s: { type: ['null', 'string'] },
    j: { type: ['null', 'object'] },
  },
});
/** [name, kind] of each column of EVERY_KIND, in file order. */
export const KINDS = EVERY_KIND.fields.map((f) => [f.name, columnKind(f)] as const);

/** A temp folder made before this file's tests and removed after them; returns a writer of files into it. */
export function parquetWriterInTempDir(
  prefix: string,
  schema: Schema = EVERY_KIND,
): (name: string, rows: Row[], options?: Partial<ParquetOptions>) => Promise<string> {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return async (name, rows, options = {}) => {
    const path = join(dir, name);
    const file = await AtomicParquetFile.create(path, schema, { ...DEFAULT_PARQUET_OPTIONS, ...options });
    for (const row of rows) await file.append(row);
    await file.commit();
    return path;
  };
}
