// Guards "the key never leaves the process": the built CLI runs through ordinary and failing scenarios with a
// recognisable key, then every byte it printed and every file it (or the emulator) left — journal, manifest,
// spool, results, Parquet (uncompressed, so nothing hides in a compressed page), emulator data — is searched
// for the key and for its distinctive middle part.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { CLI, REPO, runCli, tempDir, traceErrors, writeJson, type CliResult } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { fakeKey } from '../helpers/fake-key.js';
import { catalogFor, docs, recordLine, stateLine } from '../helpers/records.js';

const MIDDLE = 'NOTAREALKEYsecretsSWEEP'.repeat(2);
const KEY = fakeKey(MIDDLE, 'AA');
const WRONG_MIDDLE = 'NOTAREALKEYwrongONE'.repeat(2);
const WRONG_KEY = fakeKey(WRONG_MIDDLE, 'BB');
const NEEDLES = [KEY, MIDDLE, WRONG_KEY, WRONG_MIDDLE, 'TESTSECRET'];

let emu: RunningEmulator;
const root = tempDir('claude-batch-secrets-');
const inputs = join(root, 'inputs'); // configs hold the key by design: not searched
const outputs = join(root, 'outputs'); // destinations and emulator data: searched
mkdirSync(inputs);
mkdirSync(outputs);
const printed: Array<{ scenario: string; text: string }> = [];

beforeAll(async () => {
  emu = await startEmulator({ apiKeys: [KEY], dataDir: join(outputs, 'emulator-data'), processingMs: 100 });
});
afterAll(() => emu.close());

let n = 0;
function scenario(extra: Record<string, unknown> = {}, options: { key?: string | null; base?: string } = {}) {
  const id = ++n;
  const destination = join(outputs, `dest-${id}`);
  const config = writeJson(inputs, `config-${id}.json`, {
    ...(options.key === null ? {} : { api_key: options.key ?? KEY }),
    base_url: options.base ?? emu.url,
    destination_path: destination,
    prompt_template: 'Summarise {{ id }}: {{ body }}',
    max_requests_per_batch: 10,
    poll_interval_seconds: 0.05,
    progress_interval_seconds: 0.1,
    api_patience_seconds: 5,
    compression: 'UNCOMPRESSED',
    ...extra,
  });
  const catalog = writeJson(inputs, `catalog-${id}.json`, catalogFor(['notes']));
  return { destination, config, catalog };
}

function input(count: number, prefix: string): string {
  const lines = docs(count, prefix).map((d) => recordLine('notes', { ...d }));
  lines.splice(Math.min(8, lines.length), 0, stateLine('notes', `${prefix}-8`, 8));
  return lines.join('\n') + '\n';
}

async function run(name: string, args: string[], options: Parameters<typeof runCli>[1] = {}): Promise<CliResult> {
  const result = await runCli(args, options);
  printed.push({ scenario: name, text: `${result.stdout}\n${result.stderr}` });
  return result;
}

/** `status` prints text (or pretty JSON), not protocol lines: run it without the protocol parser (async: the emulator lives in this process). */
function runPlain(name: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.on('error', reject);
    child.on('close', (code) => {
      printed.push({ scenario: name, text });
      resolve(code);
    });
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? filesUnder(path) : e.isFile() ? [path] : [];
  });
}

describe('the API key never leaves the process', () => {
  it('check succeeds with the key, and fails (from the SDK) with a wrong one', async () => {
    const ok = await run('check ok', ['check', '--config', scenario().config]);
    expect(ok.messages.find((m) => m.type === 'CONNECTION_STATUS')!.connectionStatus.status).toBe('SUCCEEDED');
    const wrong = await run('check wrong key', ['check', '--config', scenario({}, { key: WRONG_KEY }).config]);
    const status = wrong.messages.find((m) => m.type === 'CONNECTION_STATUS')!.connectionStatus;
    expect(status.status).toBe('FAILED');
    expect(status.message).toMatch(/401|authentication/);
  });

  it('write succeeds; write with a wrong key fails', async () => {
    const s = scenario();
    const ok = await run('write ok', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin: input(12, 'ok'),
    });
    expect(ok.code, ok.stderr).toBe(0);
    const w = scenario({}, { key: WRONG_KEY });
    const wrong = await run('write wrong key', ['write', '--config', w.config, '--catalog', w.catalog], {
      stdin: input(3, 'wk'),
    });
    expect(wrong.code).not.toBe(0);
    expect(traceErrors(wrong.messages)[0]!.trace.error.failure_type).toBe('config_error');
  });

  it('write with errored results, retried calls and a cut download', async () => {
    emu.faults.erroredShare = 0.4;
    emu.faults.erroredType = 'overloaded_error';
    emu.faults.http.push(
      { endpoint: 'retrieve', status: 500, calls: [1, 3] },
      { endpoint: 'create', status: 429, retryAfterMs: 50, calls: [1] },
    );
    emu.faults.dropResultsAfterLines = 2;
    emu.faults.dropResultsTimes = 1;
    emu.faults.resultsMalformedLines = 1;
    try {
      const s = scenario();
      const result = await run('write with retries', ['write', '--config', s.config, '--catalog', s.catalog], {
        stdin: input(15, 'er'),
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.messages.some((m) => m.type === 'LOG' && /retry|again|resubmitting/i.test(m.log.message))).toBe(
        true,
      );
    } finally {
      emu.resetFaults();
    }
  });

  it('write killed after submitting, resumed, then status', async () => {
    const s = scenario();
    const first = await run('write killed', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin: input(15, 'kill'),
      env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' },
    });
    expect(first.signal).toBe('SIGKILL');
    expect(await runPlain('status mid-run', ['status', '--config', s.config])).toBe(0);
    const second = await run('write resumed', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin: input(15, 'kill'),
    });
    expect(second.code, second.stderr).toBe(0);
    expect(await runPlain('status --json', ['status', '--config', s.config, '--json'])).toBe(0);
    expect(await runPlain('cancel (nothing left)', ['cancel', '--config', s.config])).toBe(0);
  });

  it('write that fails on a stream not in the catalog', async () => {
    const s = scenario();
    const stdin =
      recordLine('notes', { id: 'a', body: 'fine' }) +
      '\n' +
      recordLine('ghost', { id: 'b', body: 'unknown stream' }) +
      '\n';
    const result = await run('write unknown stream', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin,
    });
    expect(result.code).not.toBe(0);
    expect(traceErrors(result.messages)[0]!.trace.error.message).toMatch(/not in the configured catalog/);
  });

  it('the key from ANTHROPIC_API_KEY instead of the config', async () => {
    const s = scenario({}, { key: null });
    const check = await run('check env key', ['check', '--config', s.config], { env: { ANTHROPIC_API_KEY: KEY } });
    expect(check.messages.find((m) => m.type === 'CONNECTION_STATUS')!.connectionStatus.status).toBe('SUCCEEDED');
    const result = await run('write env key', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin: input(5, 'env'),
      env: { ANTHROPIC_API_KEY: KEY },
    });
    expect(result.code, result.stderr).toBe(0);
    const wrong = scenario({}, { key: null });
    const failed = await run('write env wrong key', ['write', '--config', wrong.config, '--catalog', wrong.catalog], {
      stdin: input(2, 'envw'),
      env: { ANTHROPIC_API_KEY: WRONG_KEY },
    });
    expect(failed.code).not.toBe(0);
  });

  it('the embedded emulator, whose batches live inside the destination', async () => {
    const s = scenario({}, { base: 'emulator' });
    const result = await run('write embedded', ['write', '--config', s.config, '--catalog', s.catalog], {
      stdin: input(5, 'emb'),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(s.destination, '_claude_batch', 'emulator')).length).toBeGreaterThan(0);
  });

  it('…and none of it contains the key: not stdout, stderr, journal, manifest, spool, Parquet or emulator data', async () => {
    expect(printed.length).toBeGreaterThanOrEqual(14);
    for (const { scenario: name, text } of printed) {
      for (const needle of NEEDLES) expect(text.includes(needle), `${needle} printed by "${name}"`).toBe(false);
    }
    // The search works: the configs (inputs, not searched) do hold the keys.
    const configs = filesUnder(inputs).map((f) => readFileSync(f));
    expect(configs.some((b) => b.includes(Buffer.from(KEY)))).toBe(true);
    expect(configs.some((b) => b.includes(Buffer.from(WRONG_KEY)))).toBe(true);
    const files = filesUnder(outputs);
    const kinds = new Set(
      files.map((f) =>
        f.endsWith('.parquet')
          ? 'parquet'
          : /journal\.jsonl$/.test(f)
            ? 'journal'
            : /manifest\.json$/.test(f)
              ? 'manifest'
              : /emulator/.test(f)
                ? 'emulator'
                : 'other',
      ),
    );
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['emulator', 'journal', 'manifest', 'parquet']));
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const needle of NEEDLES)
        expect(bytes.includes(Buffer.from(needle)), `${needle} in ${file} (${statSync(file).size} bytes)`).toBe(false);
    }
    // Parquet values decoded, too (in case a writer ever compresses or encodes a page).
    const rows = await duck(`SELECT * FROM read_parquet('${outputs}/**/*.parquet', union_by_name = true)`);
    expect(rows.length).toBeGreaterThan(0);
    const text = JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    for (const needle of NEEDLES) expect(text.includes(needle)).toBe(false);
  });
});
