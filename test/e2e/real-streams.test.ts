// Real sources' output that nobody on this project tuned the connector to (Jira, GitHub, BambooHR, logged by
// faros-ai/airbyte-connectors; see ../shared/airbyte-streams/README.md), piped through the built CLI as a
// platform would: one row per record, each STATE echoed as it came (only destinationStats added), every
// message on stdout valid against airbyte_protocol.yaml (checked by runCli), the data kept.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { REPO, emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';

/** CI places a copy of shared/ beside the clone; AIRBYTE_STREAMS_DIR points elsewhere (a worktree one level deeper). */
const STREAMS = process.env.AIRBYTE_STREAMS_DIR ?? resolve(REPO, '..', 'shared', 'airbyte-streams');
const SOURCES = ['faros-jira', 'faros-github', 'faros-bamboohr'];

const MESSAGE_TYPES = new Set(['RECORD', 'STATE', 'LOG', 'SPEC', 'CONNECTION_STATUS', 'CATALOG', 'TRACE', 'CONTROL']);

/** The Airbyte messages of a source's log, as their lines (a log may hold other lines too). */
function messageLines(source: string): string[] {
  return readFileSync(join(STREAMS, source, 'all-streams.log'), 'utf8')
    .split('\n')
    .filter((line) => {
      try {
        const m = JSON.parse(line) as { type?: unknown };
        return typeof m === 'object' && m !== null && MESSAGE_TYPES.has(m.type as string);
      } catch {
        return false;
      }
    });
}

/** A STATE line's `state` text as the source wrote it: the value after the envelope's "state" key. */
function sourceStateText(line: string): string {
  const at = /^\{\s*"type"\s*:\s*"STATE"\s*,\s*"state"\s*:\s*/.exec(line);
  expect(at, `a STATE line shaped {"type": "STATE", "state": …}: ${line.slice(0, 80)}`).not.toBeNull();
  return line.slice(at![0].length, line.lastIndexOf('}')).trimEnd();
}

/** Canonical JSON (keys sorted) to compare records as values, whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

describe('real Airbyte streams', () => {
  it('are there to read', () => {
    // Never skipped: a missing folder would hide every check below.
    expect(existsSync(STREAMS), `${STREAMS} (shared/airbyte-streams beside the clone, or AIRBYTE_STREAMS_DIR)`).toBe(
      true,
    );
  });

  it.each(SOURCES)('%s: one row per record, states echoed byte for byte, data kept', async (source) => {
    const dir = tempDir(`claude-batch-${source}-`);
    const destination = join(dir, 'out');
    const theirs = JSON.parse(readFileSync(join(STREAMS, source, 'config.json'), 'utf8')) as Record<string, unknown>;
    const config = writeJson(
      dir,
      'config.json',
      emulatorConfig(emu.url, destination, {
        prompt_template: theirs.prompt_template,
        max_tokens: theirs.max_tokens,
        max_requests_per_batch: 100,
      }),
    );
    const catalog = join(STREAMS, source, 'configured_catalog.json');
    const lines = messageLines(source);
    const inputs = lines.map((line) => ({ line, message: JSON.parse(line) as Record<string, any> }));
    const records = inputs
      .filter((m) => m.message.type === 'RECORD')
      .map((m) => m.message.record as { stream: string; data: unknown });
    const states = inputs.filter((m) => m.message.type === 'STATE');
    expect(records.length).toBeGreaterThan(50);

    const result = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: lines.join('\n') + '\n',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(traceErrors(result.messages)).toEqual([]);
    // Log lines name what they saw (these sources' STATEs have no `type`: LEGACY), never "undefined".
    const logs = result.messages.filter((m) => m.type === 'LOG').map((m) => String(m.log.message));
    expect(logs.filter((t) => /\bundefined\b/.test(t))).toEqual([]);

    // Rows = records, per stream, read back by DuckDB.
    const perStream = new Map<string, number>();
    for (const r of records) perStream.set(r.stream, (perStream.get(r.stream) ?? 0) + 1);
    const glob = `${destination}/**/*.parquet`;
    const rows = await duck(
      `SELECT split_part(filename, '/', -3) AS stream, count(*)::INT AS n FROM read_parquet('${glob}', filename = true) GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual([...perStream].sort(([a], [b]) => (a < b ? -1 : 1)).map(([stream, n]) => ({ stream, n })));

    // Each STATE echoed once, in order, its state text as the source wrote it plus destinationStats only.
    const echoed = result.stdout.split('\n').filter((l) => l.startsWith('{"type":"STATE"'));
    expect(echoed).toHaveLength(states.length);
    let counted = 0;
    for (const [i, line] of echoed.entries()) {
      const stats = /,"destinationStats":\{"recordCount":(\d+)\.0\}(\s*)\}\}$/.exec(line);
      expect(stats, line.slice(-120)).not.toBeNull();
      const kept = line.slice('{"type":"STATE","state":'.length, stats!.index) + stats![2] + '}';
      expect(kept).toBe(sourceStateText(states[i]!.line));
      counted += Number(stats![1]);
    }
    // LEGACY states count every record since the previous one: together, all records before the last state.
    const lastState = inputs.lastIndexOf(states.at(-1)!);
    expect(counted).toBe(
      states.length ? inputs.slice(0, lastState).filter((m) => m.message.type === 'RECORD').length : 0,
    );

    // Schemaless streams keep each whole record in _airbyte_data: the same values as the input.
    const data = await duck(`SELECT _airbyte_data::VARCHAR AS data FROM read_parquet('${glob}')`);
    const written = data.map((r) => canonical(JSON.parse(String(r.data)))).sort();
    expect(written).toEqual(records.map((r) => canonical(r.data)).sort());
  });
});
