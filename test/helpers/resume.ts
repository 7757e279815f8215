import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { RunningEmulator } from '../../emulator/index.js';
import { spawn } from 'node:child_process';
import { CLI, emulatorConfig, runCli, tempDir, writeJson, type CliResult } from './cli.js';
import { duck } from './duckdb.js';
import { catalogFor, docs, recordLine, stateLine } from './records.js';

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
  const at = lines.findIndex((l) => l.includes('"STATE"') && JSON.stringify(JSON.parse(l).state.stream.stream_state) === cursor);
  return lines.slice(at + 1);
}

let nextSyncId = 1000;

export function destinationSetup(emu: RunningEmulator, extra: Record<string, unknown> = {}) {
  const dir = tempDir('claude-batch-resume-');
  const destination = join(dir, 'out');
  const configPath = (more: Record<string, unknown> = {}) =>
    writeJson(
      dir,
      `config-${Math.random().toString(36).slice(2)}.json`,
      emulatorConfig(emu.url, destination, { max_requests_per_batch: 10, progress_interval_seconds: 0.2, api_patience_seconds: 5, ...extra, ...more }),
    );
  const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
  // Each write is a sync of its own (its own sync_id), as the platform's syncs are: a run that completed is
  // then never taken for an earlier attempt of the same sync (see test/e2e/resend-completed.test.ts for those).
  const syncCatalog = () => {
    const c = catalogFor(['notes']);
    for (const s of c.streams) s.sync_id = nextSyncId++;
    return writeJson(dir, `catalog-${nextSyncId}.json`, c);
  };
  const write = (stdin: string[], options: { env?: NodeJS.ProcessEnv; config?: Record<string, unknown>; onMessage?: NonNullable<Parameters<typeof runCli>[1]>['onMessage'] } = {}) =>
    runCli(['write', '--config', configPath(options.config), '--catalog', syncCatalog()], { stdin: stdin.join('\n') + (stdin.length ? '\n' : ''), env: options.env, onMessage: options.onMessage });
  const command = (name: string, args: string[] = []) => runCli([name, '--config', configPath(), ...args]);
  /** `estimate` prints one JSON object (not protocol messages): parsed here. */
  const estimate = async (stdin: string[]): Promise<Record<string, any>> => {
    const child = spawn(process.execPath, [CLI, 'estimate', '--config', configPath(), '--catalog', catalog], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stdin.end(stdin.join('\n') + '\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, out).toBe(0);
    return JSON.parse(out) as Record<string, any>;
  };
  return { dir, destination, write, command, estimate };
}

/** Every id once, and nothing else: the exactly-once promise, read back by DuckDB. */
export async function expectEachIdOnce(destination: string, ids: string[], status = 'succeeded'): Promise<Array<Record<string, unknown>>> {
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
export function submittedSince(emu: RunningEmulator, before: Map<string, number>, ids: Iterable<string>): Map<string, number> {
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
