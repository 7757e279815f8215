import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { S3Server } from './s3.js';
import type { Store } from '../../connector/storage/store.js';
import { controlFor } from '../../connector/pipeline/run-registry.js';
import { expect } from 'vitest';
import type { RunningEmulator } from '../../emulator/index.js';
import { spawn } from 'node:child_process';
import { CLI, emulatorConfig, runCli, tempDir, writeJson, type CliResult } from './cli.js';
import { duck } from './duckdb.js';
import { catalogFor, docs, recordLine, stateLine } from './records.js';

/** Where a write is SIGKILLed (a failpoint) in the resume scenarios, and what that leaves behind. */
export const KILL_STAGES = [
  ['after_seal', 'a batch is sealed on disk but not yet submitted'],
  ['before_create', 'the journal says "submitting" but create was never called'],
  ['after_create', 'the API made the batch but its id never reached the journal'],
  ['after_submitted', 'the batch id is journaled and the batch is processing'],
  ['after_download', 'results are downloaded but not yet journaled'],
  ['mid_parquet', 'Parquet rows are in a temp file that was never renamed'],
  ['after_file_commit', 'a Parquet file is renamed into place but the batch is not marked finalised'],
  ['after_finalised:2', 'two batches are finalised and a STATE may have been echoed'],
] as const;

/** 25 records in stream "notes" with source STATEs after 8, 17 and 25: three batches at 10 per batch. */
export function syncInput(n = 25, prefix = 'doc'): string[] {
  const records = docs(n, prefix);
  const lines: string[] = [];
  records.forEach((d, i) => {
    lines.push(recordLine('notes', { ...d }));
    if (i + 1 === 8 || i + 1 === 17 || i + 1 === n) lines.push(stateLine('notes', `${prefix}-${i + 1}`, 0));
  });
  return lines;
}

/**
 * What a platform sends after a failed attempt: the input after the last source STATE the destination
 * echoed (the source restarts from that checkpoint), or all of it if none was echoed.
 */
export function resendAfterLastState(lines: string[], output: CliResult['messages']): string[] {
  const echoed = output.filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes');
  const last = echoed.at(-1);
  if (!last) return lines;
  const cursor = JSON.stringify(last.state.stream.stream_state);
  const at = lines.findIndex(
    (l) => l.includes('"STATE"') && JSON.stringify(JSON.parse(l).state.stream.stream_state) === cursor,
  );
  return lines.slice(at + 1);
}

let nextSyncId = 1000;

/**
 * A destination for resume scenarios: a local folder, or with `bucket` an `s3://` prefix on a real S3 API
 * server, where each write runs as a new pod would: with an empty working folder of its own
 * (CLAUDE_BATCH_WORK_DIR), so it can only resume from what the bucket holds. `local()` then downloads the
 * prefix into a folder (for DuckDB and the journals); for a local destination it is the destination.
 */
export function destinationSetup(
  emu: RunningEmulator,
  extra: Record<string, unknown> = {},
  where: { bucket?: S3Server } = {},
) {
  const dir = tempDir('claude-batch-resume-');
  const bucket = where.bucket;
  const prefix = `resume-${Math.random().toString(36).slice(2, 10)}`;
  const destination = bucket ? `s3://${bucket.bucket}/${prefix}` : join(dir, 'out');
  const workDirs: string[] = [];
  const configPath = (more: Record<string, unknown> = {}) =>
    writeJson(
      dir,
      `config-${Math.random().toString(36).slice(2)}.json`,
      emulatorConfig(emu.url, destination, {
        max_requests_per_batch: 10,
        progress_interval_seconds: 0.2,
        api_patience_seconds: 5,
        ...(bucket ? { s3: bucket.config() } : {}),
        ...extra,
        ...more,
      }),
    );
  /** A new pod's environment: an empty working folder of its own. */
  const pod = (env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv | undefined => {
    if (!bucket) return Object.keys(env).length ? env : undefined;
    const work = join(dir, `pod-${workDirs.length + 1}`);
    workDirs.push(work);
    return { CLAUDE_BATCH_WORK_DIR: work, ...env };
  };
  const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
  // Each write is a sync of its own (its own sync_id), as the platform's syncs are: a run that completed is
  // then never taken for an earlier attempt of the same sync (see test/e2e/resend-completed.test.ts for those).
  const syncCatalog = () => {
    const c = catalogFor(['notes']);
    for (const s of c.streams) s.sync_id = nextSyncId++;
    return writeJson(dir, `catalog-${nextSyncId}.json`, c);
  };
  const write = (
    stdin: string[],
    options: {
      env?: NodeJS.ProcessEnv;
      config?: Record<string, unknown>;
      onMessage?: NonNullable<Parameters<typeof runCli>[1]>['onMessage'];
    } = {},
  ) =>
    runCli(['write', '--config', configPath(options.config), '--catalog', syncCatalog()], {
      stdin: stdin.join('\n') + (stdin.length ? '\n' : ''),
      env: pod(options.env),
      onMessage: options.onMessage,
    });
  const command = (name: string, args: string[] = []) =>
    runCli([name, '--config', configPath(), ...args], { env: pod() });
  /** `estimate` prints one JSON object (not protocol messages): parsed here. */
  const estimate = async (stdin: string[]): Promise<Record<string, any>> => {
    const child = spawn(process.execPath, [CLI, 'estimate', '--config', configPath(), '--catalog', catalog], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stdin.end(stdin.join('\n') + '\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, out).toBe(0);
    return JSON.parse(out) as Record<string, any>;
  };
  const local = async (): Promise<string> => (bucket ? downloadPrefix(bucket.store(prefix)) : destination);
  return {
    dir,
    destination,
    write,
    command,
    estimate,
    local,
    workDirs,
    store: bucket ? () => bucket.store(prefix) : undefined,
  };
}

/** Downloads every object under a store into a fresh local folder, under the same keys. */
export async function downloadPrefix(store: Store): Promise<string> {
  const local = tempDir('claude-batch-download-');
  for await (const o of store.list('')) {
    const path = join(local, ...o.key.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    expect(await store.download(o.key, path)).toBe(true);
  }
  return local;
}

/** Each run's journal entries (runs by name: oldest first) as the destination's Store holds them, local or a bucket. */
export async function journalsOf(store: Store): Promise<Array<Array<Record<string, any>>>> {
  const runs = await controlFor(store, tempDir('claude-batch-reader-')).runs();
  return runs.map((r) => r.entries as unknown as Array<Record<string, any>>);
}

/** Every id once, and nothing else: the exactly-once promise, read back by DuckDB. */
export async function expectEachIdOnce(
  destination: string,
  ids: string[],
  status = 'succeeded',
): Promise<Array<Record<string, unknown>>> {
  const rows = await duck(
    `SELECT id, count(*)::INT AS n, min(_claude_status) AS status, min(_claude_custom_id) AS custom_id, min(_claude_output) AS output FROM read_parquet('${destination}/**/*.parquet') GROUP BY id ORDER BY id`,
  );
  expect(rows.map((r) => r.id)).toEqual([...ids].sort());
  for (const r of rows) {
    expect(r.n, `rows for ${r.id}`).toBe(1);
    expect(r.status, `status of ${r.id}`).toBe(status);
  }
  return rows;
}

/** How many times each custom_id was submitted since `before` (a snapshot of emu.submissions()). */
export function submittedSince(
  emu: RunningEmulator,
  before: Map<string, number>,
  ids: Iterable<string>,
): Map<string, number> {
  const now = emu.submissions();
  const out = new Map<string, number>();
  for (const id of ids) out.set(id, (now.get(id) ?? 0) - (before.get(id) ?? 0));
  return out;
}

export function journalOf(destination: string): Array<Record<string, any>> {
  const runs = join(destination, '_claude_batch', 'runs');
  return readdirSync(runs).flatMap((r) =>
    readFileSync(join(runs, r, 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>),
  );
}

export const idsOf = (n = 25, prefix = 'doc') => docs(n, prefix).map((d) => d.id);

/** Unique records per call (so custom_ids never repeat across tests sharing one emulator). */
export function freshInputs(prefix: string): (n?: number) => { input: string[]; ids: string[] } {
  let count = 0;
  return (n = 25) => {
    const p = `${prefix}${++count}`;
    return { input: syncInput(n, p), ids: idsOf(n, p) };
  };
}
