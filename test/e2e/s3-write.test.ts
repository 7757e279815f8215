// The built CLI writing to an S3 bucket on a real S3 API server (s3rver on loopback): the demo data lands as
// Parquet under the same Hive layout as on disk and reads back (downloaded) with DuckDB; the manifest is put
// last; overwrite prunes older runs in the bucket; a refused key and an unreachable endpoint fail as config
// and transient errors without the secret anywhere in the output.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, ofType, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor, docs, recordLine, stateLine } from '../helpers/records.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import type { Store } from '../../connector/storage/store.js';
import { startEmulator } from '../../emulator/index.js';

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.cleanup();
});

async function keysOf(store: Store, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** Downloads every object of the store into a local folder under the same keys. */
async function downloadAll(store: Store): Promise<string> {
  const local = tempDir('s3-download-');
  for (const key of await keysOf(store)) {
    const path = join(local, ...key.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    expect(await store.download(key, path)).toBe(true);
  }
  return local;
}

/** A config, catalog and environment for a write to `s3://<bucket>/<prefix>` (control state in its own work folder). */
function setup(
  prefix: string,
  config: Record<string, unknown>,
  catalog: unknown,
  s3config: Record<string, unknown> = s3.config(),
) {
  const dir = tempDir();
  return {
    args: [
      'write',
      '--config',
      writeJson(dir, 'config.json', { ...config, destination_path: `s3://${s3.bucket}/${prefix}`, s3: s3config }),
      '--catalog',
      writeJson(dir, 'catalog.json', catalog),
    ],
    env: { CLAUDE_BATCH_WORK_DIR: join(dir, 'work') },
  };
}

describe('write to an S3 bucket', () => {
  it('writes the demo data as Parquet in the bucket, readable with DuckDB, the manifest put last', async () => {
    const prefix = `demo-${randomBytes(4).toString('hex')}`;
    const sample = JSON.parse(readFileSync(join(REPO, 'samples/config.json'), 'utf8')) as Record<string, unknown>;
    const input = readFileSync(join(REPO, 'samples/messages.jsonl'), 'utf8');
    const { args, env } = setup(
      prefix,
      { ...sample, poll_interval_seconds: 0.05 },
      JSON.parse(readFileSync(join(REPO, 'samples/catalog.json'), 'utf8')),
    );
    const mark = (await s3.requests()).length;
    const result = await runCli(args, { stdin: input, env });
    expect(result.code, result.stderr).toBe(0);
    expect(traceErrors(result.messages)).toEqual([]);

    const store = s3.store(prefix);
    const keys = await keysOf(store);
    const parts = keys.filter((k) => k.endsWith('.parquet'));
    expect(parts.length).toBeGreaterThan(0);
    for (const k of parts)
      expect(k).toMatch(/^docs\/(business_documents|correspondence)\/run_id=[^/]+\/part-\d{5}(-\d+)?\.parquet$/);
    const manifestKey = keys.find((k) => /^_claude_batch\/runs\/[^/]+\/manifest\.json$/.test(k))!;
    expect(manifestKey).toBeDefined();
    const manifest = JSON.parse((await store.get(manifestKey))!.toString('utf8')) as {
      records_in: number;
      rows_out: number;
      streams: Array<{ files: string[] }>;
    };
    expect(manifest.streams.flatMap((s) => s.files).sort()).toEqual(parts.map((k) => `${store.location}/${k}`).sort());

    // The manifest is the commit marker: its PUT comes after every Parquet file's upload finished.
    const served = (await s3.requests()).slice(mark);
    const manifestPut = served.findIndex((r) => r.startsWith('PUT ') && r.includes('manifest.json'));
    const lastPart = served.findLastIndex((r) => /^(PUT|POST) [^ ]*\.parquet/.test(r));
    expect(manifestPut).toBeGreaterThan(lastPart);
    expect(lastPart).toBeGreaterThanOrEqual(0);

    // Downloaded and read as any warehouse would: one row per input record, each with its own answer.
    const inputRecords = input
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; record?: { stream: string; data: { id: string } } })
      .filter((m) => m.type === 'RECORD');
    const local = await downloadAll(store);
    const rows = await duck(
      `SELECT id, _claude_status, _claude_output, run_id FROM read_parquet('${local}/docs/**/*.parquet', hive_partitioning = true) ORDER BY id`,
    );
    expect(rows.map((r) => r.id)).toEqual(inputRecords.map((m) => m.record!.data.id).sort());
    expect(new Set(rows.map((r) => r._claude_status))).toEqual(new Set(['succeeded']));
    expect(rows.every((r) => typeof r._claude_output === 'string' && (r._claude_output as string).length > 0)).toBe(
      true,
    );
    expect(manifest.records_in).toBe(inputRecords.length);
    expect(manifest.rows_out).toBe(inputRecords.length);
    // Nothing was staged in the bucket under a temp name, and every staged file left the working folder.
    expect(keys.filter((k) => k.includes('.tmp'))).toEqual([]);
    const work = readdirSync(env.CLAUDE_BATCH_WORK_DIR, { recursive: true }) as string[];
    expect(work.filter((f) => f.includes('.parquet'))).toEqual([]);
    expect(work.some((f) => /(^|\/)docs\/business_documents\/run_id=[^/]+$/.test(f))).toBe(true);
  });

  it("overwrite: the second complete run removes the first run's objects from the bucket", async () => {
    const prefix = `ow-${randomBytes(4).toString('hex')}`;
    const catalog = catalogFor(['notes']);
    catalog.streams[0]!.destination_sync_mode = 'overwrite';
    const config = {
      base_url: 'emulator',
      prompt_template: 'Summarise {{ id }}: {{ body }}',
      poll_interval_seconds: 0.05,
      max_requests_per_batch: 5,
    };
    const run = async (n: number, tag: string) => {
      const { args, env } = setup(prefix, config, catalog);
      const lines = docs(n, tag).map((d) => recordLine('notes', { ...d }));
      const result = await runCli(args, { stdin: [...lines, stateLine('notes', n, n)].join('\n') + '\n', env });
      expect(result.code, result.stderr).toBe(0);
      expect(traceErrors(result.messages)).toEqual([]);
      return result;
    };
    await run(12, 'first');
    const store = s3.store(prefix);
    const firstRuns = new Set((await keysOf(store, 'default/notes/')).map((k) => k.split('/')[2]));
    expect(firstRuns.size).toBe(1);
    expect((await keysOf(store, 'default/notes/')).length).toBe(3);
    const second = await run(4, 'second');
    const left = await keysOf(store, 'default/notes/');
    const secondRuns = new Set(left.map((k) => k.split('/')[2]));
    expect(secondRuns.size).toBe(1);
    expect([...secondRuns][0]).not.toBe([...firstRuns][0]);
    expect(left).toHaveLength(1);
    expect(
      ofType(second.messages, 'LOG')
        .map((m) => m.log.message)
        .join('\n'),
    ).toMatch(/overwrite: removed 1 partitions of older runs \(s3:\/\//);
    const local = await downloadAll(store);
    const rows = await duck(`SELECT id FROM read_parquet('${local}/default/notes/**/*.parquet') ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual(docs(4, 'second').map((d) => d.id));
  });

  it('a refused key fails check and write as config errors, with the secret nowhere in the output', async () => {
    const secret = `wJalrXUtnFEMI/K7MDENG/${randomBytes(9).toString('hex')}`;
    const catalog = catalogFor(['notes']);
    const config = { base_url: 'emulator', prompt_template: 'Summarise {{ id }}', poll_interval_seconds: 0.05 };
    const { args, env } = setup(`denied-${randomBytes(4).toString('hex')}`, config, catalog, {
      ...s3.config(),
      access_key_id: 'AKIAUNKNOWNTOS3RVER',
      secret_access_key: secret,
      session_token: `${secret}-token`,
    });
    const write = await runCli(args, { stdin: recordLine('notes', { id: 'a', title: 't', body: 'b' }) + '\n', env });
    expect(write.code).not.toBe(0);
    const [trace] = traceErrors(write.messages);
    expect(trace?.trace.error.failure_type).toBe('config_error');
    expect(trace?.trace.error.message).toMatch(/access denied/);
    const check = await runCli(['check', '--config', args[2]!], { env });
    const status = ofType(check.messages, 'CONNECTION_STATUS')[0]!.connectionStatus;
    expect(status.status).toBe('FAILED');
    expect(status.message).toMatch(/s3:\/\/test-bucket\/denied-[0-9a-f]+ failed the list check: .*access denied/);
    for (const out of [write.stdout, write.stderr, check.stdout, check.stderr]) expect(out).not.toContain(secret);
  });

  it('an endpoint that refuses connections fails as a transient error naming it, without the secret', async () => {
    const dead = await startS3('dead-bucket');
    const deadConfig = { ...dead.config(), secret_access_key: `secret-${randomBytes(9).toString('hex')}` };
    await dead.cleanup();
    const catalog = catalogFor(['notes']);
    const { args, env } = setup(
      'p',
      { base_url: 'emulator', prompt_template: 'Summarise {{ id }}' },
      catalog,
      deadConfig,
    );
    const write = await runCli(args, { stdin: recordLine('notes', { id: 'a', title: 't', body: 'b' }) + '\n', env });
    expect(write.code).not.toBe(0);
    const [trace] = traceErrors(write.messages);
    expect(trace?.trace.error.failure_type).toBe('transient_error');
    expect(trace?.trace.error.message).toMatch(/cannot be reached/);
    expect(write.stdout + write.stderr).not.toContain(deadConfig.secret_access_key);
    const check = await runCli(['check', '--config', args[2]!], { env });
    expect(ofType(check.messages, 'CONNECTION_STATUS')[0]!.connectionStatus.message).toMatch(/cannot be reached/);
  });
});

describe('an S3 server that dies mid-run', () => {
  it('ends the run with a transient error once uploads fail, without the secret', async () => {
    // Batches take an hour on the emulator's clock: the server is stopped once the batch is submitted (a
    // signal on stdout), and only then is the clock moved on, so the upload is certain to meet a dead port.
    const emu = await startEmulator({ apiKeys: ['test-key'], processingMs: 3_600_000 });
    const dying = await startS3('dying-bucket');
    try {
      const secret = `secret-${randomBytes(9).toString('hex')}`;
      const dir = tempDir();
      const config = {
        api_key: 'test-key',
        base_url: emu.url,
        prompt_template: 'Summarise {{ id }}',
        poll_interval_seconds: 0.05,
        destination_path: `s3://${dying.bucket}/p`,
        s3: { ...dying.config(), secret_access_key: secret },
      };
      const args = [
        'write',
        '--config',
        writeJson(dir, 'config.json', config),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['notes'])),
      ];
      let stopped: Promise<void> | undefined;
      const result = await runCli(args, {
        stdin:
          docs(3)
            .map((d) => recordLine('notes', { ...d }))
            .join('\n') + '\n',
        env: { CLAUDE_BATCH_WORK_DIR: join(dir, 'work') },
        onMessage: (m) => {
          if (m.type === 'LOG' && / submitted as /.test(m.log.message) && !stopped) {
            stopped = dying.stop().then(() => emu.advance(3_600_001));
          }
        },
      });
      await stopped;
      expect(stopped).toBeDefined();
      expect(result.code).not.toBe(0);
      const [trace] = traceErrors(result.messages);
      expect(trace?.trace.error.failure_type).toBe('transient_error');
      // The first write after the batch ends meets the dead port: the journal's next entry (batch_ended) or,
      // past it, the results or the Parquet part; the error names the key, never a credential.
      expect(trace?.trace.error.message).toMatch(
        /cannot \w+ s3:\/\/dying-bucket\/p\/\S+: the endpoint cannot be reached/,
      );
      expect(result.stdout + result.stderr).not.toContain(secret);
    } finally {
      await dying.cleanup();
      await emu.close();
    }
  });
});

describe('object-store requests per 1,000 records (the README figure)', () => {
  it('counts what a run of 1,000 records with default batch and file sizes asks of the bucket', async () => {
    const prefix = `cost-${randomBytes(4).toString('hex')}`;
    const { args, env } = setup(
      prefix,
      { base_url: 'emulator', prompt_template: 'Summarise {{ id }}: {{ body }}', poll_interval_seconds: 0.05 },
      catalogFor(['notes']),
    );
    const lines = docs(1000).map((d) => recordLine('notes', { ...d }));
    const mark = (await s3.requests()).length;
    const result = await runCli(args, { stdin: [...lines, stateLine('notes', 1000, 1000)].join('\n') + '\n', env });
    expect(result.code, result.stderr).toBe(0);
    const served = (await s3.requests()).slice(mark);
    // The control state (journal, spool, lease, conditional-write probe) is counted apart from the output.
    const control = (url: string) =>
      /_claude_batch(%2F|\/)(runs|lease|probe)(%2F|\/)/.test(url) && !url.includes('manifest.json');
    const kind = (r: string) => {
      const [method, url] = r.split(' ') as [string, string];
      if (control(url)) {
        const what = /journal\.jsonl/.test(url)
          ? 'compact'
          : /journal(%2F|\/)/.test(url)
            ? 'journal'
            : /spool/.test(url)
              ? 'spool'
              : /lease/.test(url)
                ? 'lease'
                : /probe/.test(url)
                  ? 'probe'
                  : /written-records/.test(url)
                    ? 'written records'
                    : 'runs';
        return `control ${method === 'GET' && url.includes('list-type=2') ? 'LIST' : method === 'POST' ? 'DELETE_OBJECTS' : method} ${what}`;
      }
      if (method === 'GET' && url.includes('list-type=2')) return 'LIST';
      if (method === 'POST' && url.includes('?delete')) return 'DELETE_OBJECTS';
      return `${method} ${url.includes('manifest.json') ? 'manifest' : url.includes('.parquet') ? 'parquet' : url.includes('/check/') ? 'probe' : 'other'}`;
    };
    const counts: Record<string, number> = {};
    for (const r of served) counts[kind(r)] = (counts[kind(r)] ?? 0) + 1;
    const output = Object.fromEntries(Object.entries(counts).filter(([k]) => !k.startsWith('control ')));
    // A DeleteObjects names its keys in its body, not its URL: the check's probe (1) and, once the run is
    // complete, its journal entries and its spool (see below) are counted together here.
    expect(output).toEqual({ LIST: 4, 'PUT probe': 1, DELETE_OBJECTS: 3, 'PUT parquet': 1, 'PUT manifest': 1 });
    // What the control state writes: 11 journal entries (run, attempt, seal, submitting, submitted, ended,
    // downloaded, file, finalised, STATE, completed), the spooled records, requests and results, the lease
    // taken and given back, the compacted journal, two probe writes of conditional-write support, and (the
    // catalog carries a sync_id) the run's record fingerprints, for a new attempt of the sync in a new pod.
    const puts = Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('control PUT ')));
    expect(puts).toEqual({
      'control PUT journal': 11,
      'control PUT spool': 3,
      'control PUT lease': 2,
      'control PUT compact': 1,
      'control PUT probe': 2,
      'control PUT written records': 1,
    });
    // s3rver ignores If-None-Match, so each conditional create is emulated: a HEAD before and after the PUT.
    expect(counts['control HEAD journal']).toBe(22);
  });
});
