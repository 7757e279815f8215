// A seeded random-kill campaign (issue 14): a sync of three interleaved streams with STATEs, against an emulator
// that answers create with 500 after making the batch, 500 before, 429s, errored and expired results, is
// SIGKILLed again and again at seeded instants (a failpoint's n-th pass, or the n-th line on stdout: events, not
// delays) and restarted as a platform does: each stream from the last STATE it received, sometimes everything.
// The emulator itself is restarted once per campaign (its submission log persists in its data dir). After each
// campaign: every id is exactly one row (DuckDB), no custom_id was sent again while an earlier submission of
// it could still answer (the emulator's log and results), and every STATE reached stdout only after the rows
// it covers were in committed files.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../emulator/index.js';
import { seededRandom } from '../../emulator/random.js';
import { emulatorConfig, runCli, tempDir, traceErrors, writeJson, type CliResult } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor } from '../helpers/records.js';
import { idsOf, resend, sourceInput, STREAMS, type Line } from './platform.js';

const FAILPOINTS = [
  'after_seal',
  'before_create',
  'after_create',
  'after_submitted',
  'after_download',
  'mid_parquet',
  'after_file_commit',
  'after_finalised',
  'after_state_journaled',
];

interface Figures {
  seed: number;
  kills: number;
  restarts: number;
  emulatorRestarts: number;
  fullResends: number;
  rows: number;
  submissions: number;
  batches: number;
  resentAfterFailure: number;
}

/** One state check: the parquet files that existed when a STATE reached stdout. */
interface StateSeen {
  stream: string;
  at: number;
  files: Set<string>;
}

/**
 * The committed Parquet files. Only the data folder is walked: the control folder's spool folders are removed
 * while the write runs, and a recursive walk that meets one vanishing fails. Append mode removes no data file.
 */
const parquetFiles = (destination: string) => {
  const data = join(destination, 'default');
  if (!existsSync(data)) return new Set<string>();
  return new Set(
    (readdirSync(data, { recursive: true }) as string[])
      .filter((p) => p.endsWith('.parquet'))
      .map((p) => join(data, p)),
  );
};

async function campaign(seed: number, killsWanted: number): Promise<Figures> {
  const random = seededRandom(seed);
  const dir = tempDir('claude-batch-chaos-');
  const destination = join(dir, 'out');
  const dataDir = join(dir, 'emulator');
  const emulatorOptions = (port?: number): EmulatorOptions => ({
    apiKeys: ['test-key'],
    dataDir,
    seed,
    ...(port ? { port } : {}),
    processingMs: (i) => Math.floor(seededRandom(seed * 1000 + i)() * 300),
    faults: {
      erroredShare: 0.05,
      erroredType: 'api_error',
      expiredShare: 0.03,
      http: [
        { endpoint: 'create', status: 500, afterEffect: true, probability: 0.15, retryAfterMs: 20 },
        { endpoint: 'create', status: 500, probability: 0.05, retryAfterMs: 20 },
        { endpoint: 'create', status: 429, probability: 0.1, retryAfterMs: 20 },
        { endpoint: 'retrieve', status: 429, probability: 0.05, retryAfterMs: 20 },
      ],
    },
  });
  let emu: RunningEmulator = await startEmulator(emulatorOptions());
  const input = sourceInput(seed, 60);
  const ids = idsOf(input);
  const catalog = writeJson(dir, 'catalog.json', catalogFor(STREAMS));
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, {
      max_requests_per_batch: 15,
      batch_ramp_up: false,
      progress_interval_seconds: 0.5,
      api_patience_seconds: 60,
    }),
  );
  const lastSeen = new Map<string, number>();
  const states: StateSeen[] = [];
  const figures: Figures = {
    seed,
    kills: 0,
    restarts: 0,
    emulatorRestarts: 0,
    fullResends: 0,
    rows: 0,
    submissions: 0,
    batches: 0,
    resentAfterFailure: 0,
  };
  const restartEmulatorAt = 1 + Math.floor(random() * killsWanted);
  let sent: Line[] = input;
  try {
    for (let attempt = 0; ; attempt++) {
      const last = figures.kills >= killsWanted;
      const byLine = random() < 0.4;
      const failpoint = `${FAILPOINTS[Math.floor(random() * FAILPOINTS.length)]}:${1 + Math.floor(random() * 2)}`;
      const killAtLine = 1 + Math.floor(random() * 20);
      let lines = 0;
      const result: CliResult = await runCli(['write', '--config', config, '--catalog', catalog], {
        stdin: sent.map((l) => l.text).join('\n') + '\n',
        env: !last && !byLine ? { CLAUDE_BATCH_FAILPOINT: failpoint } : {},
        onMessage: (m, child) => {
          if (m.type === 'STATE') {
            const name = m.state.stream.stream_descriptor.name as string;
            if (STREAMS.includes(name)) {
              const at = m.state.stream.stream_state.cursor as number;
              states.push({ stream: name, at, files: parquetFiles(destination) });
              lastSeen.set(name, Math.max(lastSeen.get(name) ?? 0, at));
            }
          }
          if (!last && byLine && ++lines === killAtLine) child.kill('SIGKILL');
        },
      });
      if (result.signal !== 'SIGKILL') {
        expect(
          result.code,
          `attempt ${attempt}: ${result.stderr}\n${JSON.stringify(traceErrors(result.messages))}`,
        ).toBe(0);
        break; // the sync succeeded: a platform sends nothing more
      }
      figures.kills++;
      figures.restarts++;
      if (figures.kills === restartEmulatorAt) {
        const port = emu.port;
        await emu.close();
        emu = await startEmulator(emulatorOptions(port));
        figures.emulatorRestarts++;
      }
      const everything = random() < 0.25;
      if (everything) figures.fullResends++;
      sent = resend(input, lastSeen, everything);
    }
    await audit(emu, destination, ids, states, figures);
  } finally {
    await emu.close();
  }
  return figures;
}

async function audit(
  emu: RunningEmulator,
  destination: string,
  ids: string[],
  states: StateSeen[],
  figures: Figures,
): Promise<void> {
  // Every id exactly once.
  const rows = await duck(
    `SELECT data.id AS id, filename, _claude_custom_id AS c FROM read_parquet('${destination}/**/*.parquet', filename = true, union_by_name = true) AS data`,
  );
  const byId = new Map<string, { files: string[]; custom: string }>();
  for (const r of rows) {
    const e = byId.get(String(r.id)) ?? { files: [], custom: String(r.c) };
    e.files.push(String(r.filename));
    byId.set(String(r.id), e);
  }
  expect([...byId.keys()].sort()).toEqual([...ids].sort());
  const twice = [...byId].filter(([, e]) => e.files.length !== 1).map(([id]) => id);
  expect(twice, 'ids with more than one row').toEqual([]);
  figures.rows = rows.length;

  // No custom_id sent again while an earlier submission of it could still answer: each earlier batch that carried
  // it had ended, and answered it with a failure worth a retry, before the next create carried it.
  const log = emu.submissionLog();
  const views = new Map((await emu.batches()).map((b) => [b.id, b]));
  const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url, maxRetries: 5 });
  const answers = new Map<string, Map<string, string>>();
  const answerOf = async (batchId: string, customId: string) => {
    if (!answers.has(batchId)) {
      const m = new Map<string, string>();
      for await (const r of await client.messages.batches.results(batchId)) m.set(r.custom_id, r.result.type);
      answers.set(batchId, m);
    }
    return answers.get(batchId)!.get(customId);
  };
  const paidTwice: string[] = [];
  for (const [customId, batches] of log) {
    figures.submissions += batches.length;
    for (let k = 1; k < batches.length; k++) {
      const earlier = views.get(batches[k - 1]!)!;
      const later = views.get(batches[k]!)!;
      const ended = earlier.ended_at !== null && Date.parse(earlier.ended_at) <= Date.parse(later.created_at);
      const answer = ended ? await answerOf(earlier.id, customId) : undefined;
      if (answer === 'errored' || answer === 'expired') figures.resentAfterFailure++;
      else paidTwice.push(`${customId}: ${earlier.id} (${answer ?? 'still processing'}) then ${later.id}`);
    }
  }
  expect(paidTwice, 'custom_ids sent again while an earlier submission could still answer').toEqual([]);
  figures.batches = views.size;

  // Each STATE reached stdout only once every record it covers was a row in a committed file.
  const late: string[] = [];
  for (const s of states) {
    for (const line of ids.filter((id) => id.includes(`-${s.stream}-`))) {
      const at = Number(line.slice(line.lastIndexOf('-') + 1));
      if (at >= s.at) continue;
      if (!s.files.has(byId.get(line)!.files[0]!)) late.push(`${s.stream}@${s.at}: ${line}`);
    }
  }
  expect(late.slice(0, 5), 'rows a STATE was echoed before').toEqual([]);
}

describe('random-kill campaign', { timeout: 300_000 }, () => {
  it('seeded campaigns until ≥ 30 SIGKILLs: every id one row, nothing paid twice, STATEs after their rows', async () => {
    // A campaign ends when a run completes before its kill came (a platform then sends nothing more); more
    // campaigns follow, with the next seeds, until the kills add up (at most six).
    const all: Figures[] = [];
    for (let seed = 1401; all.reduce((n, f) => n + f.kills, 0) < 30 && all.length < 6; seed++) {
      const f = await campaign(seed, 12);
      all.push(f);
      console.log(
        `chaos campaign seed ${f.seed}: ${f.kills} SIGKILLs, ${f.restarts} restarts (${f.fullResends} re-sending everything), ${f.emulatorRestarts} emulator restarts, ` +
          `${f.rows} rows, ${f.submissions} submissions in ${f.batches} batches (${f.resentAfterFailure} after an errored/expired answer, 0 paid twice)`,
      );
    }
    const total = (k: keyof Figures) => all.reduce((n, f) => n + f[k], 0);
    console.log(
      `chaos total: ${all.length} campaigns, ${total('kills')} SIGKILLs, ${total('restarts')} restarts, ${total('rows')} rows, ${total('submissions')} submissions`,
    );
    expect(total('kills')).toBeGreaterThanOrEqual(30);
  });
});
