// Guards "pay once": identical requests anywhere in a run are sent once and answered for every record
// that made them (even across batches), checked with the emulator's submission counts and DuckDB.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { duck } from '../helpers/duckdb.js';
import { destinationSetup, submittedSince } from '../helpers/resume.js';
import { docs, recordLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

describe('pay once within a run', () => {
  it('sends a request repeated in a later batch once, and fans its answer out to every record', async () => {
    const { destination, write } = destinationSetup(emu);
    const originals = docs(20, 'dup');
    // 20 distinct records, then the first 10 again (other raw ids, same content): 30 rows, 20 requests.
    const input = [...originals, ...originals.slice(0, 10)].map((d) => recordLine('notes', { ...d }));
    const before = new Map(emu.submissions());
    const batchesBefore = (await emu.batches()).length;
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n, count(DISTINCT _airbyte_raw_id)::INT AS raw, count(DISTINCT _claude_output)::INT AS outputs, min(_claude_custom_id) AS c, min(_claude_status) AS s FROM read_parquet('${destination}/**/*.parquet') GROUP BY id ORDER BY id`,
    );
    expect(rows).toHaveLength(20);
    expect(rows.reduce((n, r) => n + Number(r.n), 0)).toBe(30);
    for (const r of rows) {
      expect(r.s).toBe('succeeded');
      expect(r.raw).toBe(r.n);
      expect(r.outputs).toBe(1);
    }
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.c)),
    );
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    expect((await emu.batches()).length - batchesBefore).toBe(2);
    // The run's duplicate index is scratch: gone once the run is done.
    expect(
      (readdirSync(destination, { recursive: true }) as string[]).filter((p) => p.includes('request-index')),
    ).toEqual([]);
  });
});

describe('pay once across runs: the result cache', () => {
  it('a second identical run submits nothing and writes the same answers with status cached', async () => {
    const { destination, write } = destinationSetup(emu);
    const input = docs(15, 'cache').map((d) => recordLine('notes', { ...d }));
    expect((await write(input)).code).toBe(0);
    const creates = emu.calls.create;
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    expect(emu.calls.create).toBe(creates);
    const rows = await duck(
      `SELECT run_id, id, _claude_status AS s, _claude_output AS o, _claude_attempt AS a FROM read_parquet('${destination}/**/*.parquet', hive_partitioning = true) ORDER BY id, run_id`,
    );
    expect(rows).toHaveLength(30);
    const runs = [...new Set(rows.map((r) => String(r.run_id)))].sort();
    const [firstRun, secondRun] = [rows.filter((r) => r.run_id === runs[0]), rows.filter((r) => r.run_id === runs[1])];
    expect(firstRun.every((r) => r.s === 'succeeded')).toBe(true);
    expect(secondRun.every((r) => r.s === 'cached' && r.a === 0n)).toBe(true);
    expect(secondRun.map((r) => r.o)).toEqual(firstRun.map((r) => r.o));
    const log = second.messages
      .filter((m) => m.type === 'LOG')
      .map((m) => String(m.log.message))
      .join('\n');
    expect(log).toMatch(/15 cached rows/);
  });

  it('never keeps an answer cut off by max_tokens: a second run sends those again, and only those', async () => {
    // The emulator's summaries are ~40 tokens: with max_tokens 20 the long bodies' answers are cut off.
    const { destination, write } = destinationSetup(emu, { max_tokens: 20 });
    const input = docs(12, 'cut').map((d, i) =>
      recordLine('notes', { ...d, body: i % 2 ? `${d.body} ${'and more words '.repeat(20)}` : 'ok' }),
    );
    expect((await write(input)).code).toBe(0);
    const first = await duck(
      `SELECT _claude_custom_id AS c, _claude_stop_reason AS r FROM read_parquet('${destination}/**/*.parquet')`,
    );
    const cut = first.filter((r) => r.r === 'max_tokens').map((r) => String(r.c));
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.length).toBeLessThan(first.length);
    const before = new Map(emu.submissions());
    expect((await write(input)).code).toBe(0);
    const sent = submittedSince(
      emu,
      before,
      first.map((r) => String(r.c)),
    );
    expect(
      [...sent]
        .filter(([, n]) => n > 0)
        .map(([c]) => c)
        .sort(),
    ).toEqual([...cut].sort());
  });

  it('serves an answer only to runs against the endpoint that gave it', async () => {
    const other = await startEmulator({ apiKeys: ['test-key'] });
    try {
      const { destination, write } = destinationSetup(emu);
      const input = docs(5, 'endpoint').map((d) => recordLine('notes', { ...d }));
      expect((await write(input)).code).toBe(0);
      // Another endpoint (think: the emulator first, then the real API) is asked again, then caches its own.
      const elsewhere = await write(input, { config: { base_url: other.url } });
      expect(elsewhere.code, elsewhere.stderr).toBe(0);
      expect(other.calls.create).toBe(1);
      expect((await write(input, { config: { base_url: other.url } })).code).toBe(0);
      expect(other.calls.create).toBe(1);
      const statuses = await duck(
        `SELECT run_id, min(_claude_status) AS s, max(_claude_status) AS t FROM read_parquet('${destination}/**/*.parquet', hive_partitioning = true) GROUP BY run_id ORDER BY run_id`,
      );
      expect(statuses.map((r) => [r.s, r.t])).toEqual([
        ['succeeded', 'succeeded'],
        ['succeeded', 'succeeded'],
        ['cached', 'cached'],
      ]);
    } finally {
      await other.close();
    }
  });

  // Root can still write to read-only files; an immutable file (chattr +i) refuses even root.
  const canFreeze = spawnSync('sh', ['-c', 'f=$(mktemp) && chattr +i "$f" && chattr -i "$f" && rm "$f"']).status === 0;
  it.skipIf(!canFreeze)(
    'a cache that cannot be opened or written is switched off with a warning; the run and its rows are unharmed',
    async () => {
      // Frozen files cannot be opened for writing; a frozen folder takes no new files (its checkpoint).
      for (const [frozen, warning] of [
        ['files', /this run goes on without it/],
        ['folder', /the cache is off for the rest of this run/],
      ] as const) {
        const { destination, write } = destinationSetup(emu);
        expect((await write(docs(4, `frozen-${frozen}-a`).map((d) => recordLine('notes', { ...d })))).code).toBe(0);
        const cacheDir = join(
          destination,
          '_claude_batch',
          readdirSync(join(destination, '_claude_batch')).find((n) => n.startsWith('cache'))!,
        );
        const targets = frozen === 'files' ? readdirSync(cacheDir).map((n) => join(cacheDir, n)) : [cacheDir];
        expect(spawnSync('chattr', ['+i', ...targets]).status).toBe(0);
        try {
          const second = await write(docs(6, `frozen-${frozen}-b`).map((d) => recordLine('notes', { ...d })));
          expect(second.code, second.stderr + JSON.stringify(second.messages.filter((m) => m.type === 'TRACE'))).toBe(
            0,
          );
          expect(
            second.messages.some(
              (m) =>
                m.type === 'LOG' &&
                m.log.level === 'WARN' &&
                /^result cache: /.test(m.log.message) &&
                warning.test(m.log.message),
            ),
          ).toBe(true);
        } finally {
          spawnSync('chattr', ['-i', ...targets]);
        }
        const rows = await duck(
          `SELECT _claude_status AS s FROM read_parquet('${destination}/**/*.parquet') WHERE id LIKE 'frozen-${frozen}-b%'`,
        );
        expect(rows.map((r) => r.s)).toEqual(Array(6).fill('succeeded'));
      }
    },
  );

  it('can be switched off', async () => {
    const { write } = destinationSetup(emu, { result_cache: { enabled: false } });
    const input = docs(5, 'nocache').map((d) => recordLine('notes', { ...d }));
    expect((await write(input)).code).toBe(0);
    const creates = emu.calls.create;
    expect((await write(input)).code).toBe(0);
    expect(emu.calls.create).toBe(creates + 1);
  });
});

describe('pay less', () => {
  it('marks the shared prefix with cache_control, and repeated prefixes bill as cache reads', async () => {
    // Over 4,096 tokens: the shortest prefix Haiku 4.5 caches.
    const system = `You are a meticulous records analyst. ${'Follow the house style guide carefully. '.repeat(450)}`;
    const { destination, write } = destinationSetup(emu, { system_prompt: system });
    expect((await write(docs(6, 'pc').map((d) => recordLine('notes', { ...d })))).code).toBe(0);
    const rows = await duck(
      `SELECT _claude_batch_id AS b, _claude_cache_read_tokens AS r, _claude_cache_write_tokens AS w FROM read_parquet('${destination}/**/*.parquet')`,
    );
    const sent = emu.requestsOf(String(rows[0]!.b))!;
    for (const r of sent)
      expect(r.params.system).toEqual([{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }]);
    expect(rows.filter((r) => Number(r.w) > 0)).toHaveLength(1);
    expect(rows.filter((r) => Number(r.r) > 0)).toHaveLength(5);
  });

  it('truncates each prompt to the input token budget, and says so on the row', async () => {
    const { estimateTokens } = await import('../../connector/requests/tokens.js');
    const { destination, write } = destinationSetup(emu, { max_input_tokens: 60 });
    const long = docs(4, 'tr').map((d, i) =>
      recordLine('notes', { ...d, body: i % 2 ? 'short body' : 'many words here '.repeat(200) }),
    );
    expect((await write(long)).code).toBe(0);
    const rows = await duck(
      `SELECT id, _claude_input_truncated AS t, _claude_batch_id AS b FROM read_parquet('${destination}/**/*.parquet') ORDER BY id`,
    );
    expect(rows.map((r) => r.t)).toEqual([true, false, true, false]);
    for (const r of emu.requestsOf(String(rows[0]!.b))!) {
      expect(estimateTokens(String((r.params.messages as Array<{ content: string }>)[0]!.content))).toBeLessThanOrEqual(
        60,
      );
    }
  });

  it('estimate submits nothing, and its figures match what the real run then submits', async () => {
    const { destination, write, estimate } = destinationSetup(emu, { max_requests_per_batch: 7 });
    const records = docs(20, 'est');
    const input = [...records, ...records.slice(0, 4)].map((d) => recordLine('notes', { ...d }));
    const creates = emu.calls.create;
    const est = await estimate(input);
    expect(emu.calls.create).toBe(creates);
    expect(est).toMatchObject({ records: 24, duplicates: 4, requests_to_send: 20, batches: 3, cached: 0 });
    expect(est.estimated_cost_usd).toBeGreaterThan(0);
    expect(est.same_work_synchronous_usd).toBeCloseTo(est.estimated_cost_usd * 2, 8);

    const before = new Map(emu.submissions());
    const batchesBefore = (await emu.batches()).length;
    expect((await write(input)).code).toBe(0);
    const rows = await duck(`SELECT DISTINCT _claude_custom_id AS c FROM read_parquet('${destination}/**/*.parquet')`);
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.c)),
    );
    expect([...sent.values()].reduce((a, b) => a + b, 0)).toBe(est.requests_to_send);
    expect((await emu.batches()).length - batchesBefore).toBe(est.batches);

    // And after that run, everything is cached: the estimate says nothing would be sent.
    const again = await estimate(input);
    expect(again).toMatchObject({ requests_to_send: 0, cached: 20, estimated_cost_usd: 0 });
  });

  it('ramps the first batches up (1,000 requests, then 2,000, ...) as estimate predicts; batch_ramp_up false fills each batch', async () => {
    const input = docs(3500, 'ramp').map((d) => recordLine('notes', { id: d.id, body: d.body }));
    const { write, estimate } = destinationSetup(emu, { max_requests_per_batch: 10_000 });
    expect(await estimate(input)).toMatchObject({ requests_to_send: 3500, batches: 3 });
    const from = (await emu.batches()).length;
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    const sizes = (await emu.batches())
      .slice(from)
      .map((b) => Object.values(b.request_counts).reduce((a, n) => a + n, 0));
    expect(sizes).toEqual([1000, 2000, 500]);
    const flat = destinationSetup(emu, { max_requests_per_batch: 10_000, batch_ramp_up: false });
    expect(await flat.estimate(input)).toMatchObject({ requests_to_send: 3500, batches: 1 });
  });

  it('the budget gate stops the run before a submission that would pass max_cost_usd', async () => {
    const tight = destinationSetup(emu, { max_cost_usd: 0.000001 });
    const creates = emu.calls.create;
    const stopped = await tight.write(docs(5, 'bud').map((d) => recordLine('notes', { ...d })));
    expect(stopped.code).not.toBe(0);
    const { traceErrors } = await import('../helpers/cli.js');
    const trace = traceErrors(stopped.messages)[0]!.trace.error;
    expect(trace.failure_type).toBe('config_error');
    expect(trace.message).toMatch(/over max_cost_usd \$0\.0000; already submitted: \$0\.0000/);
    expect(emu.calls.create).toBe(creates);

    // A budget for about one batch of 10: the first is submitted, the second is refused.
    const perRequest = 512 * 2.5e-6 + 30 * 0.5e-6; // max_tokens at $2.50/M output + ~30 input tokens at $0.50/M (Haiku 4.5, batch)
    const one = destinationSetup(emu, { max_cost_usd: perRequest * 12 });
    const partial = await one.write(docs(25, 'bud2').map((d) => recordLine('notes', { ...d })));
    expect(partial.code).not.toBe(0);
    expect(emu.calls.create).toBe(creates + 1);
    expect(traceErrors(partial.messages)[0]!.trace.error.message).toMatch(/submitting batch #1 \(10 requests/);
  });

  it('reports the estimated cost at batch prices and synchronously in the manifest', async () => {
    const { destination, write } = destinationSetup(emu);
    expect((await write(docs(6, 'cost').map((d) => recordLine('notes', { ...d })))).code).toBe(0);
    const { readdirSync, readFileSync } = await import('node:fs');
    const runs = `${destination}/_claude_batch/runs`;
    const manifest = JSON.parse(readFileSync(`${runs}/${readdirSync(runs)[0]}/manifest.json`, 'utf8'));
    expect(manifest.cost.priced).toBe(true);
    expect(manifest.cost.billed_requests).toBe(6);
    expect(manifest.cost.batch_usd).toBeGreaterThan(0);
    expect(manifest.cost.sync_usd).toBeCloseTo(manifest.cost.batch_usd * 2, 8);
    const expected = (manifest.tokens.input * 0.5 + manifest.tokens.output * 2.5) / 1e6;
    expect(manifest.cost.batch_usd).toBeCloseTo(expected, 6);
  });
});
