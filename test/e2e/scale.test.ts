// Guards the connector at the API's own limits, through the CLI against a time-scaled emulator (API hours pass
// in wall seconds; the connector divides its waits by the same CLAUDE_BATCH_TIME_SCALE): a processing queue
// full for far longer than api_patience_seconds is waited out, never a failed sync; max_queued_requests keeps
// creates under the queue limit; the run STATE goes out at least every 15 minutes while a batch takes hours; and
// a batch that hits the 24 h limit has only its expired requests sent again.
// Outcomes are fixed by the emulator's model (queue counts, processed share at expiry), not by timing.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../emulator/index.js';
import { emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor, recordLine, stateLine } from '../helpers/records.js';

const HOUR = 3_600_000;
let emu: RunningEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function sync(options: EmulatorOptions, records: number, extra: Record<string, unknown>, tail = '') {
  emu = await startEmulator({ apiKeys: ['test-key'], ...options });
  const dir = tempDir('claude-batch-scale-');
  const destination = join(dir, 'out');
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, { poll_interval_seconds: 30, batch_ramp_up: false, ...extra }),
  );
  const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
  const input =
    Array.from({ length: records }, (_, i) =>
      recordLine('notes', { id: `n${String(i).padStart(3, '0')}`, body: `note ${i}` }),
    ).join('\n') + tail;
  const result = await runCli(['write', '--config', config, '--catalog', catalog], {
    stdin: input,
    env: { CLAUDE_BATCH_TIME_SCALE: String(options.clockFactor) },
  });
  const rows =
    result.code === 0
      ? await duck(
          `SELECT id, _claude_status AS s, _claude_attempt::INTEGER AS a FROM read_parquet('${destination}/**/*.parquet') ORDER BY id`,
        )
      : [];
  return { result, rows, emu };
}

describe('at the account limits (time-scaled emulator)', () => {
  it('waits out a processing queue full for two API hours with api_patience_seconds 3, and pays once', async () => {
    // Queue of 5 requests, batches of 5 that take an API hour each: every create after the first is refused
    // (429 + retry-after) until the batch before has ended. 3,600× : an API hour is a wall second.
    const { result, rows, emu } = await sync(
      { clockFactor: 3600, processingMs: HOUR, limits: { maxQueuedRequests: 5 } },
      15,
      { max_requests_per_batch: 5, api_patience_seconds: 3 },
    );
    expect(result.code, JSON.stringify(traceErrors(result.messages)) + result.stderr).toBe(0);
    expect(rows).toHaveLength(15);
    expect(rows.every((r) => r.s === 'succeeded' && r.a === 1)).toBe(true);
    expect(emu.limitStats().refusedQueue).toBeGreaterThan(0);
    expect(emu.limitStats().peakQueued).toBe(5);
    expect([...emu.submissions().values()].every((n) => n === 1)).toBe(true);
    const batches = await emu.batches();
    expect(batches).toHaveLength(3);
    // Each batch went in once the one before had ended: the queue was never overfull, and never idle long.
    for (let i = 1; i < batches.length; i++)
      expect(Date.parse(batches[i]!.created_at)).toBeGreaterThanOrEqual(Date.parse(batches[i - 1]!.ended_at!));
  });

  it('with max_queued_requests, holds creates back itself: the queue limit is never hit', async () => {
    const { result, rows, emu } = await sync(
      { clockFactor: 3600, processingMs: HOUR, limits: { maxQueuedRequests: 10 } },
      15,
      { max_requests_per_batch: 5, max_queued_requests: 5, api_patience_seconds: 3 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(rows).toHaveLength(15);
    expect(emu.limitStats()).toMatchObject({ refusedQueue: 0, peakQueued: 5 });
  });

  it('checkpoints at least every 15 minutes while a batch takes two hours (the run STATE, when the sync takes it)', async () => {
    // One batch of two API hours: besides the run STATEs at submission and at the end, one every 15 API minutes.
    const { result } = await sync(
      { clockFactor: 3600, processingMs: 2 * HOUR },
      3,
      {},
      '\n' + stateLine('notes', 3, 3),
    );
    expect(result.code, result.stderr).toBe(0);
    const runStates = result.messages.filter(
      (m) => m.type === 'STATE' && m.state.stream.stream_descriptor.name === '_claude_batch_run',
    );
    expect(runStates.length).toBeGreaterThanOrEqual(6);
  });

  it('resubmits only the requests that expired at 24 h under the scaled clock', async () => {
    // The first batch would take 48 API hours: at its 24 h deadline the first half (request order) has run, the
    // rest expires. 36,000× : 10 API hours a wall second.
    const processingMs = (batch: number) => (batch === 0 ? 48 * HOUR : HOUR);
    const { result, rows, emu } = await sync({ clockFactor: 36_000, processingMs }, 10, { max_requests_per_batch: 10 });
    expect(result.code, result.stderr).toBe(0);
    expect(rows.map((r) => [r.id, r.s, r.a])).toEqual(
      Array.from({ length: 10 }, (_, i) => [`n${String(i).padStart(3, '0')}`, 'succeeded', i < 5 ? 1 : 2]),
    );
    const sent = [...emu.submissions().values()];
    expect(sent.filter((n) => n === 2)).toHaveLength(5);
    expect(sent.filter((n) => n === 1)).toHaveLength(5);
    const [first, second] = await emu.batches();
    expect(first!.request_counts).toMatchObject({ succeeded: 5, expired: 5 });
    expect(Date.parse(first!.ended_at!) - Date.parse(first!.created_at)).toBe(24 * HOUR);
    expect(second!.request_counts).toMatchObject({ succeeded: 5 });
  });
});
