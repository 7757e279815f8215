// Guards the files a real run writes, as readers other than DuckDB see them: the built CLI enriches the samples
// (300 records of two streams: text, date-time, date, number, integer, boolean, object and array fields) on
// its embedded emulator, and every Parquet file is read by hyparquet, arrow-rs (parquet-wasm) and DuckDB, which
// must agree cell by cell, with every record's fields equal to what the source sent.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { canon, READERS } from '../helpers/parquet-readers.js';

const SAMPLES = join(REPO, 'samples');
const catalog = JSON.parse(readFileSync(join(SAMPLES, 'catalog.json'), 'utf8')) as {
  streams: Array<{
    stream: { name: string; json_schema: { properties: Record<string, { type: string[]; format?: string }> } };
  }>;
};
const input = readFileSync(join(SAMPLES, 'messages.jsonl'), 'utf8');
const records = input
  .split('\n')
  .filter((l) => l.includes('"RECORD"'))
  .map(
    (l) => (JSON.parse(l) as { record: { stream: string; data: Record<string, unknown>; emitted_at: number } }).record,
  );

type Prop = { type: string[]; format?: string };

/** Whether a source value fits its property's column (else the row holds null and `_airbyte_meta` says so). */
function fits(prop: Prop, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (prop.format === 'date-time' || prop.format === 'date')
    return typeof v === 'string' && !Number.isNaN(Date.parse(v));
  if (prop.type.includes('integer')) return Number.isSafeInteger(v);
  if (prop.type.includes('number')) return typeof v === 'number';
  if (prop.type.includes('boolean')) return typeof v === 'boolean';
  if (prop.type.includes('string')) return typeof v === 'string';
  return true;
}

/** What a reader must give back for a source value of this JSON-schema property, in canon's form. */
function expected(prop: Prop, v: unknown): unknown {
  if (v === undefined || v === null || !fits(prop, v)) return null;
  if (prop.format === 'date-time') return String(BigInt(Date.parse(v as string)) * 1000n);
  if (prop.format === 'date') return Date.parse(`${v as string}T00:00:00Z`) / 86_400_000;
  if (prop.type.includes('integer')) return String(BigInt(v as number));
  if (prop.type.includes('object') || prop.type.includes('array')) return v; // compared parsed (JSON text in the file)
  return canon(v);
}

function parquetFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((p) => p.endsWith('.parquet') && !p.startsWith('_claude_batch'))
    .map((p) => join(root, p));
}

describe('Parquet of an end-to-end run, read by independent readers', () => {
  it.each([
    ['SNAPPY', { row_group_size: 16 }],
    ['ZSTD', { compression: 'ZSTD' }],
  ])('%s: every reader gives back every record as the source sent it', async (_codec, extra) => {
    const dir = tempDir();
    const destination = join(dir, 'out');
    const sampleConfig = JSON.parse(readFileSync(join(SAMPLES, 'config.json'), 'utf8')) as Record<string, unknown>;
    const config = writeJson(dir, 'config.json', { ...sampleConfig, destination_path: destination, ...extra });
    const result = await runCli(['write', '--config', config, '--catalog', join(SAMPLES, 'catalog.json')], {
      stdin: input,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(traceErrors(result.messages)).toEqual([]);

    const seen = new Map<string, number>();
    const files = parquetFiles(destination);
    expect(files.length).toBeGreaterThan(1);
    for (const file of files) {
      const stream = catalog.streams.find((s) => file.includes(`/${s.stream.name}/`))!;
      const [first, ...others] = await Promise.all(Object.values(READERS).map((read) => read(file)));
      // The three readers agree on every cell, the enrichment columns included.
      others.forEach((rows, k) => expect(rows, `${Object.keys(READERS)[k + 1]} vs hyparquet: ${file}`).toEqual(first));
      for (const row of first!) {
        // A record is its stream, id and emission time (the samples re-send some ids later, changed, as sources do).
        const id = String(row.id);
        const at = (r: (typeof records)[number]) => String(BigInt(r.emitted_at) * 1000n);
        const source = records.find(
          (r) => r.stream === stream.stream.name && r.data.id === id && at(r) === row._airbyte_extracted_at,
        )!;
        expect(source, `${id} at ${String(row._airbyte_extracted_at)}`).toBeDefined();
        const key = `${source.stream}/${id}/${source.emitted_at}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        const nulled = (
          JSON.parse(row._airbyte_meta as string) as { changes: Array<{ field: string; change: string }> }
        ).changes;
        for (const [name, prop] of Object.entries(stream.stream.json_schema.properties)) {
          const wasNulled = nulled.some((c) => c.field === name && c.change === 'NULLED');
          expect(wasNulled, `${id}.${name} listed as NULLED`).toBe(!fits(prop, source.data[name]));
          const got: unknown =
            prop.type.includes('object') || prop.type.includes('array')
              ? row[name] === null
                ? null
                : JSON.parse(row[name] as string)
              : row[name];
          expect(got, `${id}.${name}`).toEqual(expected(prop, source.data[name]));
        }
        expect(row._claude_status).toBe('succeeded');
      }
    }
    // Every record exactly once.
    expect(seen.size).toBe(records.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });
});
