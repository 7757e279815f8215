// Guards the destination through the built CLI: hostile stream and namespace names stay inside it, each in
// its own folder; a destination that belongs to something else, or has a planted symlink, is refused
// before anything is sent; data files are 0644 and the connector's bookkeeping stays private.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { docSchema } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

function setup() {
  const root = tempDir('claude-batch-paths-e2e-');
  const destination = join(root, 'out');
  const config = writeJson(
    root,
    'config.json',
    emulatorConfig(emu.url, destination, { prompt_template: 'Summarise {{ body }}', progress_interval_seconds: 5 }),
  );
  return { root, destination, config };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const STREAMS: Array<{ name: string; namespace?: string }> = [
  { name: '../escape' },
  { name: '../../../../tmp/owned' },
  { name: '/abs/path' },
  { name: 'a/b' },
  { name: 'a_b' },
  { name: 'a\\b' },
  { name: '.' },
  { name: '..' },
  { name: 'run_id=evil' },
  { name: 'données' },
  { name: 'line\nbreak\u0000nul' },
  { name: 'x'.repeat(300) },
  { name: 'notes', namespace: '../..' },
  { name: 'notes', namespace: '_claude_batch' },
  { name: 'notes', namespace: 'default' },
  { name: 'notes' },
];

describe('stream and namespace names', () => {
  it('hostile names stay inside the destination, one folder per stream, one row per record', async () => {
    const { root, destination, config } = setup();
    const catalog = writeJson(root, 'catalog.json', {
      streams: STREAMS.map((s) => ({
        stream: {
          name: s.name,
          ...(s.namespace ? { namespace: s.namespace } : {}),
          json_schema: docSchema,
          supported_sync_modes: ['full_refresh'],
        },
        sync_mode: 'full_refresh',
        destination_sync_mode: 'append',
      })),
    });
    const input = STREAMS.map((s, i) =>
      JSON.stringify({
        type: 'RECORD',
        record: {
          stream: s.name,
          ...(s.namespace ? { namespace: s.namespace } : {}),
          data: { id: `id-${i}`, body: `record ${i}` },
          emitted_at: 1764000000000,
        },
      }),
    );
    const result = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: input.join('\n') + '\n',
    });
    expect(result.code, result.stderr + JSON.stringify(traceErrors(result.messages))).toBe(0);

    // Nothing was written beside the destination…
    expect(readdirSync(root).sort()).toEqual(['catalog.json', 'config.json', 'out']);
    // …every data file sits at <namespace>/<stream>/run_id=<id>/part-*.parquet, one folder per stream…
    const files = walk(destination)
      .map((p) => relative(destination, p))
      .filter((p) => !p.startsWith('_claude_batch/'));
    expect(files).toHaveLength(STREAMS.length);
    for (const f of files)
      expect(f).toMatch(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/run_id=[A-Za-z0-9_.-]+\/part-\d{5}\.parquet$/);
    expect(new Set(files.map((f) => f.split('/').slice(0, 2).join('/'))).size).toBe(STREAMS.length);
    // …no stream got the control folder, and every record is one row.
    expect(files.some((f) => f.startsWith('_claude_batch/'))).toBe(false);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n FROM read_parquet('${destination}/*/*/*/*.parquet') GROUP BY id ORDER BY id`,
    );
    expect(rows).toHaveLength(STREAMS.length);
    expect(rows.every((r) => r.n === 1)).toBe(true);

    // Data files are for readers (0644); the bookkeeping is private (0700 folders, 0600 journal).
    const umask = Number(
      execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.umask()))']).toString(),
    );
    for (const f of files) expect(statSync(join(destination, f)).mode & 0o777).toBe(0o644 & ~umask);
    const runs = join(destination, '_claude_batch', 'runs');
    const [run] = readdirSync(runs);
    expect(statSync(join(runs, run!)).mode & 0o777).toBe(0o700);
    expect(statSync(join(runs, run!, 'journal.jsonl')).mode & 0o777).toBe(0o600);
  });
});

describe('the destination itself', () => {
  const catalog = (root: string) =>
    writeJson(root, 'catalog.json', {
      streams: [
        {
          stream: { name: 'notes', json_schema: docSchema },
          sync_mode: 'full_refresh',
          destination_sync_mode: 'append',
        },
      ],
    });
  const record =
    JSON.stringify({ type: 'RECORD', record: { stream: 'notes', data: { id: '1', body: 'b' }, emitted_at: 1 } }) + '\n';

  it('write and check refuse a non-empty folder that is not ours, and send nothing', async () => {
    const { root, destination, config } = setup();
    mkdirSync(destination);
    writeFileSync(join(destination, 'thesis.docx'), 'years of work');
    const creates = emu.calls.create;
    const write = await runCli(['write', '--config', config, '--catalog', catalog(root)], { stdin: record });
    expect(write.code).not.toBe(0);
    const [trace] = traceErrors(write.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/not this connector's output/);
    expect(emu.calls.create).toBe(creates);
    expect(readdirSync(destination)).toEqual(['thesis.docx']);

    const check = await runCli(['check', '--config', config]);
    expect(check.code).toBe(0);
    const status = check.messages.find((m) => m.type === 'CONNECTION_STATUS')!.connectionStatus;
    expect(status.status).toBe('FAILED');
    expect(status.message).toMatch(/thesis\.docx/);
  });

  it('refuses a symlink planted in the destination, and writes nothing through it', async () => {
    const { root, destination, config } = setup();
    const outside = join(root, 'elsewhere');
    mkdirSync(outside);
    mkdirSync(join(destination, '_claude_batch'), { recursive: true });
    symlinkSync(outside, join(destination, 'default'));
    const write = await runCli(['write', '--config', config, '--catalog', catalog(root)], { stdin: record });
    expect(write.code).not.toBe(0);
    const [trace] = traceErrors(write.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
    expect(lstatSync(join(destination, 'default')).isSymbolicLink()).toBe(true);
  });
});
