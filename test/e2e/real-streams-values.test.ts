// Guards, on real sources' output (../shared/airbyte-streams: Jira, GitHub, BambooHR syncs nobody tuned the
// connector to), that every value written is the value the source sent: _airbyte_data of a schemaless
// stream, the typed columns plus _airbyte_additional_properties of a typed one, and the transform's RECORDs.
// Values are compared as canonical JSON that keeps numbers as decimal text (never through a double), so a
// rounded 12345678901234567890 or a lost key would show.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { REPO, emulatorConfig, runCli, tempDir, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';

// CI puts shared/ beside the clone; a worktree one level further down finds it one more level up.
const candidates = [
  resolve(REPO, '..', 'shared', 'airbyte-streams'),
  resolve(REPO, '..', '..', 'shared', 'airbyte-streams'),
];
const STREAMS = candidates.find((dir) => existsSync(dir)) ?? candidates[0]!;
const folders = readdirSync(STREAMS, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

/**
 * A canonical form of a JSON text, written for this test (independent of the connector's scanner): keys
 * sorted (the last of a repeated key kept, as JSON.parse does), strings re-encoded, numbers as
 * sign + significant digits + exponent, exactly as written.
 */
function canonical(text: string, spans?: Map<string, [number, number]>): string {
  let i = 0;
  const path: string[] = [];
  const space = () => {
    while (' \t\n\r'.includes(text[i] ?? 'x')) i++;
  };
  const value = (): string => {
    space();
    const c = text[i]!;
    if (c === '{') {
      i++;
      const members = new Map<string, string>();
      space();
      if (text[i] === '}') return (i++, '{}');
      for (;;) {
        space();
        const key = JSON.parse(str()) as string;
        space();
        i++; // ':'
        path.push(key);
        space();
        const start = i;
        members.set(key, value());
        spans?.set(path.join('/'), [start, i]);
        path.pop();
        space();
        if (text[i++] === '}') break;
      }
      return `{${[...members]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
        .join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      space();
      if (text[i] === ']') return (i++, '[]');
      for (;;) {
        items.push(value());
        space();
        if (text[i++] === ']') break;
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return JSON.stringify(JSON.parse(str()));
    const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?|^true|^false|^null/.exec(text.slice(i, i + 400))!;
    i += m[0].length;
    if (m[2] === undefined) return m[0];
    const digits = (m[2] + (m[3] ?? '')).replace(/^0+/, '');
    const trimmed = digits.replace(/0+$/, '');
    if (!trimmed) return '0';
    return `${m[1]}${trimmed}e${Number(m[4] ?? 0) - (m[3] ?? '').length + digits.length - trimmed.length}`;
  };
  const str = () => {
    const start = i;
    for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    return text.slice(start, ++i);
  };
  return value();
}

/** The input's records: stream, parsed data, the canonical form of the data and its exact text. */
function recordsOf(
  folder: string,
): Array<{ stream: string; data: Record<string, unknown>; canon: string; text: string }> {
  const out: Array<{ stream: string; data: Record<string, unknown>; canon: string; text: string }> = [];
  for (const line of readFileSync(join(STREAMS, folder, 'all-streams.log'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { type: string; record?: { stream: string; data: Record<string, unknown> } };
    if (m.type !== 'RECORD') continue;
    const spans = new Map<string, [number, number]>();
    canonical(line, spans);
    const [start, end] = spans.get('record/data')!;
    out.push({ stream: m.record!.stream, data: m.record!.data, canon: dataCanon(line), text: line.slice(start, end) });
  }
  return out;
}

/** canonical() of the `data` member of a RECORD line: the line's canonical text, cut at its data member. */
function dataCanon(line: string): string {
  const canon = canonical(line);
  const at = canon.indexOf('"data":') + '"data":'.length;
  // canonical() sorted the members, so data's value runs until the brace that balances its own.
  let depth = 0;
  for (let i = at; ; i++) {
    const c = canon[i];
    if (c === '"') {
      for (i++; canon[i] !== '"'; i++) if (canon[i] === '\\') i++;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    if ((c === '}' || c === ']') && --depth === 0) return canon.slice(at, i + 1);
  }
}

const sorted = (values: string[]) => [...values].sort();
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** A typed schema from what the records hold: integers, numbers, strings, booleans, objects, arrays. */
function inferredSchema(records: Array<{ data: Record<string, unknown> }>, raw: string[]): Record<string, unknown> {
  const types = new Map<string, Set<string>>();
  records.forEach((r, n) => {
    for (const [key, v] of Object.entries(r.data)) {
      const seen = types.get(key) ?? new Set<string>();
      types.set(key, seen);
      if (v === null) continue;
      // A number's type by its text: one the source wrote without a fraction or exponent is an integer.
      const integral =
        typeof v === 'number' &&
        new RegExp(`${JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:\\s*-?\\d+\\s*[,}]`).test(
          raw[n]!,
        );
      seen.add(Array.isArray(v) ? 'array' : typeof v === 'number' ? (integral ? 'integer' : 'number') : typeof v);
    }
  });
  const properties: Record<string, unknown> = {};
  for (const [key, seen] of types) {
    const [only] = seen;
    properties[key] = seen.size === 0 ? { type: ['null', 'string'] } : seen.size === 1 ? { type: ['null', only] } : {};
  }
  return { type: 'object', properties };
}

async function run(folder: string, catalog: unknown, extra: Record<string, unknown> = {}) {
  const dir = tempDir('claude-batch-real-values-');
  const destination = join(dir, 'out');
  const example = JSON.parse(readFileSync(join(STREAMS, folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, {
      prompt_template: example.prompt_template,
      max_tokens: example.max_tokens,
      ...extra,
    }),
  );
  const catalogPath = writeJson(dir, 'catalog.json', catalog);
  const r = await runCli(['write', '--config', config, '--catalog', catalogPath], {
    stdin: readFileSync(join(STREAMS, folder, 'all-streams.log'), 'utf8'),
  });
  expect(r.code, r.stderr).toBe(0);
  return { destination, r };
}

describe('the comparison', () => {
  it('tells numbers apart that a double would not, and ignores spelling and key order', () => {
    expect(canonical('{"a": 12345678901234567890}')).not.toBe(canonical('{"a":12345678901234567000}'));
    expect(canonical('{"a": 0.1000000000000000055511151231257827}')).not.toBe(canonical('{"a":0.1}'));
    expect(canonical('{"b": [1.0, 1E2], "a": "\\u00e9"}')).toBe(canonical('{"a":"é","b":[1,100]}'));
  });

  it('has the real streams to read', () => {
    expect(folders.length, STREAMS).toBeGreaterThanOrEqual(3);
  });
});

describe.each(folders)('real stream %s: values written are the values sent', (folder) => {
  const configured = JSON.parse(readFileSync(join(STREAMS, folder, 'configured_catalog.json'), 'utf8')) as {
    streams: Array<{ stream: { name: string; json_schema: unknown } }>;
  };
  const records = recordsOf(folder);
  const rawLines = readFileSync(join(STREAMS, folder, 'all-streams.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"RECORD"'));

  it('schemaless: _airbyte_data of every row, and every transform RECORD, is its record', async () => {
    const { destination, r } = await run(folder, configured, { sink: 'both' });
    const rows = await duck(
      `SELECT _airbyte_data FROM read_parquet('${destination}/**/*.parquet', union_by_name = true)`,
    );
    // Byte for byte the text the source wrote (its spacing included), not merely an equal value.
    expect(sorted(rows.map((row) => String(row._airbyte_data)))).toEqual(sorted(records.map((x) => x.text)));
    // The transform's RECORDs, in input order: the record's data plus the _claude_* fields.
    const emitted = r.stdout.split('\n').filter((l) => l.startsWith('{"type":"RECORD"'));
    expect(
      emitted.map((l) => {
        const data = JSON.parse(dataCanon(l)) as Record<string, unknown>;
        for (const key of Object.keys(data)) if (key.startsWith('_claude_')) delete data[key];
        return data;
      }),
    ).toEqual(records.map((x) => JSON.parse(x.canon) as unknown));
  }, 120_000);

  it('typed: the columns plus _airbyte_additional_properties of every row are its record', async () => {
    const byStream = new Map<string, number[]>();
    records.forEach((x, n) => byStream.set(x.stream, [...(byStream.get(x.stream) ?? []), n]));
    const schemas = new Map<string, Record<string, unknown>>();
    const catalog = {
      streams: configured.streams.map((s) => {
        const mine = byStream.get(s.stream.name) ?? [];
        const schema = inferredSchema(
          mine.map((n) => records[n]!),
          mine.map((n) => rawLines[n]!),
        );
        schemas.set(s.stream.name, schema);
        return { ...s, stream: { ...s.stream, json_schema: schema } };
      }),
    };
    const { destination } = await run(folder, catalog);
    for (const [stream, indices] of byStream) {
      const properties = schemas.get(stream)!.properties as Record<string, { type?: string[] }>;
      const glob = `${destination}/default/${stream}/**/*.parquet`;
      const columns = new Set(
        (await duck(`DESCRIBE SELECT * FROM read_parquet(${sqlString(glob)})`)).map((c) => String(c.column_name)),
      );
      const rows = await duck(`SELECT * FROM read_parquet(${sqlString(glob)})`);
      const rebuilt = rows.map((row) => {
        const members = new Map<string, string>();
        for (const [key, schema] of Object.entries(properties)) {
          const v = row[key];
          if (!columns.has(key) || v === null || v === undefined) continue;
          const type = schema.type?.[1];
          members.set(
            key,
            type === 'object' || type === 'array' || type === undefined
              ? String(v)
              : typeof v === 'string'
                ? JSON.stringify(v)
                : String(v),
          );
        }
        const extra = row._airbyte_additional_properties;
        if (typeof extra === 'string')
          for (const [key, text] of Object.entries(JSON.parse(canonical(extra)) as Record<string, unknown>))
            members.set(key, JSON.stringify(text));
        return canonical(`{${[...members].map(([k, t]) => `${JSON.stringify(k)}:${t}`).join(',')}}`);
      });
      // A declared field sent as null has a null column, as one left out does: compare without those.
      const expected = indices.map((n) => {
        const data = JSON.parse(records[n]!.canon) as Record<string, unknown>;
        for (const key of Object.keys(data)) if (data[key] === null && columns.has(key)) delete data[key];
        return canonical(JSON.stringify(data));
      });
      expect(sorted(rebuilt), stream).toEqual(sorted(expected));
    }
  }, 120_000);
});
