// Guards analysable output as a user opens it in DuckDB: schema-true column types for every JSON-schema
// shape, extracted fields as typed columns (json mode), normalised labels (label mode), lineage on every
// row, overwrite semantics, and transform mode piping enriched RECORDs into a second process.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { CLI, REPO, emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { columnTypes, duck } from '../helpers/duckdb.js';
import { assertProtocolOutput } from '../helpers/protocol-schema.js';
import { catalogFor, recordLine, stateLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

const everyShape = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    body: { type: ['null', 'string'] },
    count: { type: 'integer' },
    price: { type: ['null', 'number'] },
    paid: { type: 'boolean' },
    at: { type: 'string', format: 'date-time' },
    local_at: { type: 'string', airbyte_type: 'timestamp_without_timezone' },
    day: { type: 'string', format: 'date' },
    big: { type: 'number', airbyte_type: 'integer' },
    sender: { type: 'object', properties: { name: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' } },
    either: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
  },
};

function setup(config: Record<string, unknown>, catalog: unknown) {
  const dir = tempDir('claude-batch-typed-');
  const destination = join(dir, 'out');
  const configPath = writeJson(dir, 'config.json', emulatorConfig(emu.url, destination, config));
  const catalogPath = writeJson(dir, 'catalog.json', catalog);
  return { dir, destination, args: ['write', '--config', configPath, '--catalog', catalogPath] };
}

describe('typed output', () => {
  it('types every JSON-schema shape, nulls wrong-typed values with a change note, keeps nested values as JSON', async () => {
    const { destination, args } = setup({}, catalogFor(['shapes'], everyShape));
    const good = {
      id: 'a',
      body: 'fine',
      count: 3,
      price: 9.5,
      paid: true,
      at: '2026-03-01T10:00:00+02:00',
      local_at: '2026-03-01T10:00:00',
      day: '1969-07-20',
      big: 7,
      sender: { name: 'Ann' },
      tags: ['x', 'y'],
      either: 5,
    };
    const bad = {
      id: 'b',
      body: null,
      count: 'three',
      price: 'n/a',
      paid: 'yes',
      at: 'yesterday',
      day: '2026-13-45',
      big: 1.5,
      sender: 'not an object',
      tags: 'x',
      either: 'text',
    };
    const sparse = { id: 'c' };
    const result = await runCli(args, {
      stdin: [recordLine('shapes', good), recordLine('shapes', bad), recordLine('shapes', sparse)].join('\n'),
    });
    expect(result.code, result.stderr).toBe(0);
    const glob = `${destination}/**/*.parquet`;
    expect(await columnTypes(glob)).toMatchObject({
      id: 'VARCHAR',
      body: 'VARCHAR',
      count: 'BIGINT',
      price: 'DOUBLE',
      paid: 'BOOLEAN',
      at: 'TIMESTAMP WITH TIME ZONE',
      local_at: 'TIMESTAMP WITH TIME ZONE',
      day: 'DATE',
      big: 'BIGINT',
      sender: 'VARCHAR',
      tags: 'VARCHAR',
      either: 'VARCHAR',
      _airbyte_extracted_at: 'TIMESTAMP WITH TIME ZONE',
      _airbyte_generation_id: 'BIGINT',
      _claude_attempt: 'BIGINT',
      _claude_prompt_version: 'VARCHAR',
    });
    const rows = await duck(
      `SELECT id, count, price, paid, epoch_ms("at") AS at_ms, CAST("day" AS VARCHAR) AS day, big, sender->>'name' AS sender_name, tags, _airbyte_meta, _claude_attempt, _claude_prompt_version FROM read_parquet('${glob}') ORDER BY id`,
    );
    expect(rows[0]).toMatchObject({
      id: 'a',
      count: 3n,
      price: 9.5,
      paid: true,
      at_ms: BigInt(Date.parse('2026-03-01T08:00:00Z')),
      day: '1969-07-20',
      big: 7n,
      sender_name: 'Ann',
      tags: '["x","y"]',
      _claude_attempt: 1n,
    });
    expect(String(rows[0]!._claude_prompt_version)).toMatch(/^p[0-9a-f]{12}$/);
    const b = rows[1]!;
    expect([b.count, b.price, b.paid, b.at_ms, b.day, b.big]).toEqual([null, null, null, null, null, null]);
    const changes = JSON.parse(String(b._airbyte_meta)).changes as Array<{
      field: string;
      change: string;
      reason: string;
    }>;
    expect(changes.map((c) => c.field).sort()).toEqual(['at', 'big', 'count', 'day', 'paid', 'price']);
    expect(changes.every((c) => c.change === 'NULLED' && c.reason === 'DESTINATION_SERIALIZATION_ERROR')).toBe(true);
    expect(rows[2]).toMatchObject({ id: 'c', count: null, sender_name: null });
    expect(JSON.parse(String(rows[2]!._airbyte_meta)).changes).toEqual([]);
  });

  it('json mode: each property of the output schema is a typed column DuckDB can filter and aggregate', async () => {
    const schema = {
      type: 'object',
      properties: {
        category: { type: 'string', enum: ['invoice', 'letter'] },
        total: { type: 'number' },
        pages: { type: 'integer' },
        urgent: { type: 'boolean' },
        due: { type: 'string', format: 'date' },
      },
      required: ['category', 'total', 'pages', 'urgent', 'due'],
      additionalProperties: false,
    };
    const { destination, args } = setup(
      { output_mode: 'json', output_schema: schema, prompt_template: 'Extract from {{ id }}: {{ body }}' },
      catalogFor(['docs']),
    );
    const records = Array.from({ length: 12 }, (_, i) => ({
      id: `j${i}`,
      body:
        i % 2
          ? `Invoice ${i}: total due 1${i}.50 EUR by 2026-0${(i % 9) + 1}-15, 3 pages, payment overdue`
          : `Dear customer, a letter about ${i} things dated 2026-01-0${(i % 9) + 1}`,
    }));
    const result = await runCli(args, { stdin: records.map((r) => recordLine('docs', r)).join('\n') });
    expect(result.code, result.stderr).toBe(0);
    const glob = `${destination}/**/*.parquet`;
    expect(await columnTypes(glob)).toMatchObject({
      out_category: 'VARCHAR',
      out_total: 'DOUBLE',
      out_pages: 'BIGINT',
      out_urgent: 'BOOLEAN',
      out_due: 'DATE',
    });
    const agg = await duck(
      `SELECT out_category AS c, count(*)::INT AS n, sum(out_total) AS total, min(out_due) IS NOT NULL AS has_due FROM read_parquet('${glob}') WHERE _claude_status = 'succeeded' GROUP BY 1 ORDER BY 1`,
    );
    expect(agg.reduce((n, r) => n + Number(r.n), 0)).toBe(12);
    expect(agg.map((r) => r.c)).toEqual(['invoice', 'letter']);
    expect(agg.every((r) => typeof r.total === 'number' && r.has_due === true)).toBe(true);
    const sent = emu.requestsOf(
      String((await duck(`SELECT _claude_batch_id AS b FROM read_parquet('${glob}') LIMIT 1`))[0]!.b),
    )!;
    // The API's strict form (the SDK's own transform): an enum stands for its type.
    const strict = { ...schema, properties: { ...schema.properties, category: { enum: ['invoice', 'letter'] } } };
    expect(sent[0]!.params.output_config).toEqual({ format: { type: 'json_schema', schema: strict } });
  });

  it('json mode: a schema the API would refuse as written goes out in its strict form, and the answers are still held to all of it', async () => {
    // Open objects and numeric/length constraints: the emulator, like the API, refuses such a schema in a request.
    const schema = {
      type: 'object',
      properties: {
        total: { type: 'number', maximum: -1 },
        note: { type: 'string', maxLength: 500 },
        sender: { type: 'object', properties: { name: { type: 'string' } } },
      },
      required: ['total', 'note'],
    };
    const { destination, args } = setup(
      { output_mode: 'json', output_schema: schema, prompt_template: 'Extract from {{ id }}: {{ body }}' },
      catalogFor(['docs']),
    );
    const records = Array.from({ length: 4 }, (_, i) =>
      recordLine('docs', { id: `s${i}`, body: `Invoice ${i}: total 1${i}.50 EUR` }),
    );
    const result = await runCli(args, { stdin: records.join('\n') });
    expect(result.code, result.stderr).toBe(0);
    const glob = `${destination}/**/*.parquet`;
    const rows = await duck(
      `SELECT _claude_status AS s, _claude_error_type AS t, _claude_error AS e, _claude_batch_id AS b FROM read_parquet('${glob}')`,
    );
    expect(rows).toHaveLength(4);
    // Answered (no request refused), and every answer checked against the maximum the request could not carry.
    expect(
      rows.every(
        (r) => r.s === 'invalid_output' && r.t === 'invalid_output' && /total must be <= -1/.test(String(r.e)),
      ),
    ).toBe(true);
    const format = (
      emu.requestsOf(String(rows[0]!.b))![0]!.params.output_config as { format: { schema: Record<string, any> } }
    ).format;
    expect(format.schema.additionalProperties).toBe(false);
    expect(format.schema.properties.sender.additionalProperties).toBe(false);
    expect(format.schema.properties.total).toEqual({ type: 'number', description: '{maximum: -1}' });
    expect(format.schema.properties.note).toEqual({ type: 'string', description: '{maxLength: 500}' });
  });

  it('json mode: an answer cut off by max_tokens is invalid_output, and is retried once with twice the budget', async () => {
    const schema = {
      type: 'object',
      properties: { summary: { type: 'string' }, words: { type: 'integer' } },
      required: ['summary', 'words'],
    };
    const records = Array.from({ length: 5 }, (_, i) =>
      recordLine('docs', {
        id: `m${i}`,
        body: `A somewhat long body of text number ${i} about deliveries and invoices`,
      }),
    );
    const run = async (extra: Record<string, unknown>) => {
      const { destination, args } = setup(
        { output_mode: 'json', output_schema: schema, max_tokens: 14, ...extra },
        catalogFor(['docs']),
      );
      const result = await runCli(args, { stdin: records.join('\n') });
      expect(result.code, result.stderr).toBe(0);
      return duck(
        `SELECT _claude_status AS s, _claude_error AS e, _claude_attempt AS a, out_words AS w FROM read_parquet('${destination}/**/*.parquet')`,
      );
    };
    const retried = await run({});
    expect(retried.every((r) => r.s === 'succeeded' && r.a === 2n && typeof r.w === 'bigint')).toBe(true);
    const notRetried = await run({ retry_invalid_output: false });
    expect(notRetried.every((r) => r.s === 'invalid_output' && /truncated/.test(String(r.e)) && r.a === 1n)).toBe(true);
  });

  it('label mode: answers are normalised to a label, and an unusable answer is invalid_output, not a failed run', async () => {
    emu.faults.invalidOutputShare = 0.3;
    try {
      const { destination, args } = setup(
        {
          output_mode: 'label',
          labels: ['invoice', 'contract', 'letter'],
          prompt_template: 'Classify {{ id }}: {{ body }}',
        },
        catalogFor(['docs']),
      );
      const bodies = [
        'INVOICE total amount due, payment by IBAN',
        'This agreement between the parties, governing law clause',
        'Dear Ms Smith, yours sincerely',
      ];
      const records = Array.from({ length: 30 }, (_, i) => ({ id: `l${i}`, body: `${bodies[i % 3]} (${i})` }));
      const result = await runCli(args, { stdin: records.map((r) => recordLine('docs', r)).join('\n') });
      expect(result.code, result.stderr).toBe(0);
      const rows = await duck(
        `SELECT id, _claude_status AS s, _claude_output AS o, _claude_error AS e FROM read_parquet('${destination}/**/*.parquet') ORDER BY id`,
      );
      expect(rows).toHaveLength(30);
      const ok = rows.filter((r) => r.s === 'succeeded');
      const invalid = rows.filter((r) => r.s === 'invalid_output');
      expect(ok.length + invalid.length).toBe(30);
      expect(invalid.length).toBeGreaterThan(0);
      expect(ok.every((r) => ['invoice', 'contract', 'letter'].includes(String(r.o)))).toBe(true);
      expect(invalid.every((r) => /not one of the labels/.test(String(r.e)))).toBe(true);
      const expected = (id: string) => ['invoice', 'contract', 'letter'][Number(id.slice(1)) % 3];
      expect(ok.every((r) => r.o === expected(String(r.id)))).toBe(true);
    } finally {
      emu.resetFaults();
    }
  });

  it('overwrite: the new run replaces older partitions once complete; append_dedup is refused', async () => {
    const catalog = catalogFor(['notes']);
    catalog.streams[0]!.destination_sync_mode = 'overwrite';
    const { destination, args } = setup({}, catalog);
    const stdin = [recordLine('notes', { id: 'o1', body: 'x' }), recordLine('notes', { id: 'o2', body: 'y' })].join(
      '\n',
    );
    expect((await runCli(args, { stdin })).code).toBe(0);
    expect((await runCli(args, { stdin })).code).toBe(0);
    const runs = await duck(
      `SELECT DISTINCT run_id FROM read_parquet('${destination}/**/*.parquet', hive_partitioning = true)`,
    );
    expect(runs).toHaveLength(1);
    expect(await duck(`SELECT count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet')`)).toEqual([
      { n: 2 },
    ]);

    catalog.streams[0]!.destination_sync_mode = 'append_dedup';
    const dedup = setup({}, catalog);
    const refused = await runCli(dedup.args, { stdin });
    expect(refused.code).not.toBe(0);
    expect(traceErrors(refused.messages)[0]!.trace.error.message).toMatch(/append_dedup.*not supported/);
  });

  it('minimum_generation_id: data of lower generations goes once a run completes, data of the same generation stays', async () => {
    const catalog = catalogFor(['notes']);
    const { destination, args, dir } = setup({}, catalog);
    const run = async (prefix: string, n: number, mode: string, generation: number, minimum: number) => {
      Object.assign(catalog.streams[0]!, {
        destination_sync_mode: mode,
        generation_id: generation,
        minimum_generation_id: minimum,
      });
      writeJson(dir, 'catalog.json', catalog);
      const result = await runCli(args, {
        stdin: Array.from({ length: n }, (_, i) =>
          recordLine('notes', { id: `${prefix}${i}`, body: `${prefix} ${i}` }),
        ).join('\n'),
      });
      expect(result.code, result.stderr).toBe(0);
      return duck(
        `SELECT _airbyte_generation_id::INT AS g, count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet') GROUP BY 1 ORDER BY 1`,
      );
    };
    expect(await run('a', 3, 'append', 1, 0)).toEqual([{ g: 1, n: 3 }]);
    // A refresh: generation 2 with minimum 2 removes generation 1 once complete.
    expect(await run('b', 2, 'append', 2, 2)).toEqual([{ g: 2, n: 2 }]);
    // Another attempt of the same generation (the source resumed after what the first one wrote): both stay.
    expect(await run('c', 2, 'append', 2, 2)).toEqual([{ g: 2, n: 4 }]);
    expect(await run('d', 1, 'overwrite', 3, 3)).toEqual([{ g: 3, n: 1 }]);
    const manifests = readdirSync(join(destination, '_claude_batch', 'runs')).map((r) =>
      JSON.parse(readFileSync(join(destination, '_claude_batch', 'runs', r, 'manifest.json'), 'utf8')),
    );
    expect(manifests.map((m) => m.streams[0].generation_id).sort()).toEqual([1, 2, 2, 3]);
  });

  it('overwrite: a run whose source failed or called the stream incomplete keeps the older complete data', async () => {
    const catalog = catalogFor(['notes']);
    catalog.streams[0]!.destination_sync_mode = 'overwrite';
    const { destination, args } = setup({}, catalog);
    const records = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => recordLine('notes', { id: `${prefix}${i}`, body: `${prefix} ${i}` }));
    const count = async () =>
      (await duck(`SELECT count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet')`))[0]!.n;
    const incomplete = JSON.stringify({
      type: 'TRACE',
      trace: {
        type: 'STREAM_STATUS',
        emitted_at: 1,
        stream_status: { stream_descriptor: { name: 'notes' }, status: 'INCOMPLETE' },
      },
    });
    const failed = JSON.stringify({
      type: 'TRACE',
      trace: { type: 'ERROR', emitted_at: 1, error: { message: 'source crashed', failure_type: 'system_error' } },
    });
    expect((await runCli(args, { stdin: records('full', 5).join('\n') })).code).toBe(0);
    const partial = await runCli(args, { stdin: [...records('part', 3), incomplete].join('\n') });
    expect(partial.code).toBe(0);
    expect(partial.messages.some((m) => m.type === 'LOG' && /older runs of notes are kept/.test(m.log.message))).toBe(
      true,
    );
    expect(await count()).toBe(8);
    expect((await runCli(args, { stdin: [...records('err', 2), failed].join('\n') })).code).toBe(0);
    expect(await count()).toBe(10);
    // A complete run replaces all of them.
    expect((await runCli(args, { stdin: records('again', 4).join('\n') })).code).toBe(0);
    expect(await count()).toBe(4);
  });
});

describe('transform mode', () => {
  it('puts an ERROR trace on stdout, where the platform and the next destination read it; logs stay on stderr', async () => {
    const { args } = setup({ sink: 'records' }, catalogFor(['notes']));
    const result = await runCli(args, {
      stdin: [recordLine('notes', { id: 'n1', body: 'x' }), recordLine('elsewhere', { id: 'e1', body: 'y' })].join(
        '\n',
      ),
    });
    expect(result.code).not.toBe(0);
    const [trace] = traceErrors(result.messages);
    expect(trace!.trace.error).toMatchObject({
      failure_type: 'config_error',
      message: expect.stringMatching(/not in the configured catalog/),
    });
    expect(result.messages.filter((m) => m.type === 'LOG')).toEqual([]);
    expect(result.stderr).toMatch(/"type":"LOG"/);
  });

  it('pipes enriched RECORDs and in-order STATEs into a second process, logs on stderr', async () => {
    const first = setup({ sink: 'records', max_requests_per_batch: 4 }, catalogFor(['notes']));
    const secondDir = tempDir('claude-batch-second-');
    const secondDestination = join(secondDir, 'out');
    const secondConfig = writeJson(secondDir, 'config.json', {
      api_key: 'test-key',
      base_url: emu.url,
      destination_path: secondDestination,
      prompt_template: 'Translate {{ _claude_output }}',
      poll_interval_seconds: 0.05,
    });
    const secondCatalog = writeJson(
      secondDir,
      'catalog.json',
      catalogFor(['notes'], {
        type: 'object',
        properties: { id: { type: 'string' }, _claude_output: { type: 'string' }, _claude_status: { type: 'string' } },
      }),
    );
    const input = [
      ...Array.from({ length: 6 }, (_, i) => recordLine('notes', { id: `p${i}`, body: `body ${i}` })),
      stateLine('notes', 6, 6),
      ...Array.from({ length: 3 }, (_, i) => recordLine('notes', { id: `p${6 + i}`, body: `body ${6 + i}` })),
      stateLine('notes', 9, 3),
    ].join('\n');

    // source | destination-claude-batch (transform) | destination-claude-batch (parquet)
    const transform = spawn(process.execPath, [CLI, ...first.args], {
      cwd: REPO,
      env: { PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const downstream = spawn(process.execPath, [CLI, 'write', '--config', secondConfig, '--catalog', secondCatalog], {
      cwd: REPO,
      env: { PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let between = '';
    let transformErr = '';
    let downstreamOut = '';
    transform.stdout.setEncoding('utf8').on('data', (c: string) => {
      between += c;
      downstream.stdin.write(c);
    });
    transform.stdout.on('end', () => downstream.stdin.end());
    transform.stderr.setEncoding('utf8').on('data', (c: string) => (transformErr += c));
    downstream.stdout.setEncoding('utf8').on('data', (c: string) => (downstreamOut += c));
    transform.stdin.end(input + '\n');
    const [code1, code2] = await Promise.all([
      new Promise((r) => transform.on('close', r)),
      new Promise((r) => downstream.on('close', r)),
    ]);
    expect(code1, transformErr).toBe(0);
    expect(code2, downstreamOut).toBe(0);
    assertProtocolOutput(between, 'transform stdout');
    assertProtocolOutput(downstreamOut, 'downstream stdout');

    const messages = between
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    expect(new Set(messages.map((m) => m.type))).toEqual(new Set(['RECORD', 'STATE']));
    const records = messages.filter((m) => m.type === 'RECORD');
    expect(records).toHaveLength(9);
    for (const r of records) {
      expect(r.record.stream).toBe('notes');
      expect(r.record.data._claude_status).toBe('succeeded');
      expect(String(r.record.data._claude_output)).toContain(r.record.data.id);
      expect(typeof r.record.emitted_at).toBe('number');
    }
    // Protocol order: each source STATE comes after every RECORD that preceded it in the input.
    const order = messages
      .filter((m) => m.type === 'RECORD' || m.state?.stream?.stream_descriptor?.name === 'notes')
      .map((m) => (m.type === 'STATE' ? `S${m.state.stream.stream_state.cursor}` : 'R'));
    expect(order.indexOf('S6')).toBeGreaterThanOrEqual(6);
    expect(order.indexOf('S9')).toBe(order.length - 1);
    expect(transformErr).toMatch(/"type":"LOG"/);

    const rows = await duck(
      `SELECT id, _claude_output AS o FROM read_parquet('${secondDestination}/**/*.parquet') ORDER BY id`,
    );
    expect(rows).toHaveLength(9);
    expect(rows.every((r) => String(r.o).startsWith('[emulator]'))).toBe(true);
  });
});
