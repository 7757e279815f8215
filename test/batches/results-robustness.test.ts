// Guards results handling against a damaged results file: the download keeps the raw bytes (one bad line
// never kills it), and indexing skips blank, malformed and foreign lines, keeps unknown result types, and
// lets the last of duplicate lines win. Also the emulator's results-file fault knobs that the e2e tests use.
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadResults, type LifecycleOptions } from '../../connector/batches/lifecycle.js';
import { statSync, utimesSync } from 'node:fs';
import { indexResults, ParsedAnswers, ResultLines } from '../../connector/batches/results-file.js';
import { createApiClient } from '../../connector/batches/client.js';
import { sdkBatchesApi } from '../../connector/ports/sdk-batches-api.js';
import { ask, KEY, retrieveEnded, start, type Harness } from '../emulator/helpers.js';
import type { Outcome, ResultIndex, ResultLocation } from '../../connector/types/shared.js';

/** One answer read back by its location, parsed (what the batch writer does per row). */
/** The answer at `at`, read both ways ResultLines reads (held in memory, and by positional reads), which must agree. */
async function readResult(path: string, at: ResultLocation | undefined): Promise<unknown> {
  if (!at) return undefined;
  const texts: string[] = [];
  for (const bytes of [Infinity, 0]) {
    const budget = { bytes };
    const lines = await ResultLines.open([path], budget);
    try {
      texts.push(lines.line(at));
    } finally {
      await lines.close();
    }
    expect(budget.bytes).toBe(bytes === 0 ? 0 : Infinity);
  }
  expect(texts[0]).toBe(texts[1]);
  return JSON.parse(texts[0]!);
}

const dir = mkdtempSync(join(tmpdir(), 'claude-batch-results-'));
let file = 0;
const fileWith = (content: string | Buffer) => {
  const path = join(dir, `results-${++file}.jsonl`);
  writeFileSync(path, content);
  return path;
};

const succeededLine = (id: string, text = `answer ${id}`) =>
  JSON.stringify({
    custom_id: id,
    result: {
      type: 'succeeded',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 3, output_tokens: 4 },
      },
    },
  });

async function scan(path: string, expected: string[]) {
  const index: ResultIndex = new Map();
  const outcomes = new Map<string, Outcome>();
  const counts = await indexResults(path, 0, index, new Set(expected), (id, o) => outcomes.set(id, o));
  return { index, outcomes, counts };
}

describe('indexResults', () => {
  it('skips blank and malformed lines, ignores foreign ids, keeps unknown types, and the last duplicate wins', async () => {
    const lines = [
      succeededLine('a'),
      '',
      '   ',
      '{"custom_id":"b","result":{"type":"succ', // cut off
      '<html>502</html>',
      '[1,2,3]',
      '{"custom_id":"c"}', // no result
      '{"custom_id":"c","result":{}}', // result without type
      '{"custom_id":"c","result":{"type":"succeeded","message":{"content":"x"}}}', // unreadable message
      '"just a string"',
      JSON.stringify({ custom_id: 'd', result: { type: 'deferred' } }),
      succeededLine('stranger'),
      succeededLine('e', 'first'),
      JSON.stringify({
        custom_id: 'e',
        result: { type: 'errored', error: { type: 'error', error: { type: 'api_error', message: 'boom' } } },
      }),
      succeededLine('f', 'kept') + '\r',
      succeededLine('f', 'final') + '\r',
      '  ' + JSON.stringify({ custom_id: 'g', result: { type: 'expired' } }),
    ];
    const bad = Buffer.concat([
      Buffer.from('{"custom_id":"h","result":{"type":"succeeded","x":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}}\n'),
    ]);
    const path = fileWith(
      Buffer.concat([
        Buffer.from(lines.join('\n') + '\n'),
        bad,
        Buffer.from(JSON.stringify({ custom_id: 'i', result: { type: 'canceled' } })),
      ]),
    );
    const { index, outcomes, counts } = await scan(path, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
    expect(counts).toEqual({ lines: 9, unknown: 1, malformed: 8, duplicates: 2, blank: 2 });
    expect([...outcomes.keys()].sort()).toEqual(['a', 'd', 'e', 'f', 'g', 'i']);
    expect(outcomes.get('d')).toMatchObject({ status: 'errored', errorType: 'unknown_result_type' });
    expect(outcomes.get('e')).toMatchObject({ status: 'errored', errorType: 'api_error' });
    expect(outcomes.get('g')).toEqual({ status: 'expired' });
    expect(outcomes.get('i')).toEqual({ status: 'canceled' });
    // The index points at exactly the winning line's bytes.
    expect(await readResult(path, index.get('f'))).toMatchObject({
      custom_id: 'f',
      result: { message: { content: [{ text: 'final' }] } },
    });
    expect(await readResult(path, index.get('g'))).toEqual({ custom_id: 'g', result: { type: 'expired' } });
    expect(await readResult(path, index.get('i'))).toEqual({ custom_id: 'i', result: { type: 'canceled' } });
    expect(await readResult(path, index.get('e'))).toMatchObject({ result: { type: 'errored' } });
  });

  it('handles an empty file and a file of only blank lines', async () => {
    expect((await scan(fileWith(''), ['a'])).counts).toEqual({
      lines: 0,
      unknown: 0,
      malformed: 0,
      duplicates: 0,
      blank: 0,
    });
    expect((await scan(fileWith('\n\n\r\n'), ['a'])).counts.blank).toBe(3);
  });

  it('indexes lines that span read chunks', async () => {
    const big = succeededLine('big', 'x'.repeat(200_000));
    const { index, outcomes } = await scan(fileWith(`${succeededLine('a')}\n${big}\n${succeededLine('b')}`), [
      'a',
      'big',
      'b',
    ]);
    expect(outcomes.size).toBe(3);
    const path = join(dir, `results-${file}.jsonl`);
    expect(((await readResult(path, index.get('big'))) as any).result.message.content[0].text).toHaveLength(200_000);
    expect(((await readResult(path, index.get('b'))) as any).custom_id).toBe('b');
  });
});

describe('ParsedAnswers: each answer line parsed once, by the index pass, for the join', () => {
  const indexKeeping = async (parsed: ParsedAnswers, path: string, ids: string[]) => {
    const index: ResultIndex = new Map();
    const outcomes = new Map<string, Outcome>();
    await indexResults(
      path,
      0,
      index,
      new Set(ids),
      (id, o) => outcomes.set(id, o),
      (stats) => parsed.keep(path, stats),
    );
    return { index, outcomes };
  };

  it('hands the join the very outcome the index pass parsed, held in memory or read positionally', async () => {
    const ids = ['a', 'b', 'c'];
    const path = fileWith(ids.map((id) => succeededLine(id)).join('\n') + '\n');
    const parsed = new ParsedAnswers();
    const { index, outcomes } = await indexKeeping(parsed, path, ids);
    expect(parsed.heldBytes).toBe(statSync(path).size - 3);
    for (const bytes of [Infinity, 0]) {
      const lines = await ResultLines.open([path], { bytes }, parsed);
      for (const id of ids) expect(lines.outcome(index.get(id)!)).toBe(outcomes.get(id));
      await lines.close();
    }
    expect(parsed.heldBytes).toBeGreaterThan(0); // kept until a join is done with the file
    const lines = await ResultLines.open([path], { bytes: Infinity }, parsed);
    await lines.close(true);
    expect(parsed.heldBytes).toBe(0);
  });

  it('never answers from the parse of an earlier version of the file', async () => {
    const path = fileWith(succeededLine('a', 'old answer') + '\n');
    const parsed = new ParsedAnswers();
    const { index } = await indexKeeping(parsed, path, ['a']);
    // Downloaded again, same length, same place in the file, another answer (and mtime moved on).
    writeFileSync(path, succeededLine('a', 'new answer') + '\n');
    utimesSync(path, new Date(), new Date(Date.now() + 5_000));
    const lines = await ResultLines.open([path], { bytes: Infinity }, parsed);
    expect(lines.outcome(index.get('a')!)).toMatchObject({ status: 'succeeded', output: 'new answer' });
    await lines.close(true);
  });

  it('keeps at most its limit of line bytes, then no more until a join lets go; the rest is parsed by the join', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `id${String(i).padStart(2, '0')}`); // lines of one length
    const content = ids.map((id) => succeededLine(id)).join('\n') + '\n';
    const lineBytes = Buffer.byteLength(succeededLine(ids[0]!));
    const parsed = new ParsedAnswers(lineBytes * 25);
    const [first, second, third] = [fileWith(content), fileWith(content), fileWith(content)];
    const one = await indexKeeping(parsed, first, ids);
    const two = await indexKeeping(parsed, second, ids);
    expect(parsed.heldBytes).toBe(lineBytes * 25); // all of the first file, 5 lines of the second
    // The first file, joined first, has every outcome; the second has 5, and the join parses the rest alike.
    const join = async (path: string, found: { index: ResultIndex; outcomes: Map<string, Outcome> }) => {
      const lines = await ResultLines.open([path], { bytes: Infinity }, parsed);
      let same = 0;
      for (const id of ids) {
        const got = lines.outcome(found.index.get(id)!);
        expect(got).toEqual(found.outcomes.get(id));
        if (got === found.outcomes.get(id)) same++;
      }
      await lines.close(true);
      return same;
    };
    expect(await join(first, one)).toBe(20);
    expect(parsed.heldBytes).toBe(lineBytes * 5);
    const three = await indexKeeping(parsed, third, ids); // room again, for 20 lines
    expect(await join(second, two)).toBe(5);
    expect(await join(third, three)).toBe(20);
    expect(parsed.heldBytes).toBe(0);
  });
});

describe('downloadResults against the emulator', () => {
  let open: Harness[] = [];
  afterEach(async () => {
    await Promise.all(open.map((h) => h.emu.close()));
    open = [];
  });
  const lifecycle: LifecycleOptions = {
    pollIntervalMs: 0,
    retry: { baseMs: 1, capMs: 5, patienceMs: 5000 },
    sleep: async () => undefined,
    now: () => 0,
    log: () => undefined,
  };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `req-${String(i).padStart(3, '0')}`);

  async function batchWith(faults: Record<string, unknown>, n = 20) {
    const h = await start({ faults });
    open.push(h);
    const api = createApiClient({ apiKey: KEY, baseURL: h.emu.url });
    const batch = await h.client.messages.batches.create({ requests: ids(n).map((id) => ask(id, `document ${id}`)) });
    await retrieveEnded(h.client, batch.id);
    const path = join(dir, `download-${++file}.jsonl`);
    const lines = await downloadResults(sdkBatchesApi(api.client), batch.id, path, lifecycle);
    await api.close();
    return { h, path, lines, ...(await scan(path, ids(n))) };
  }

  it('keeps the raw body: byte for byte what the emulator serves', async () => {
    const { h, path, lines, counts } = await batchWith({});
    expect(lines).toBe(20);
    expect(counts).toMatchObject({ lines: 20, unknown: 0, malformed: 0 });
    const served = readFileSync(join(path));
    const body = Buffer.from(
      await (
        await fetch((await h.client.messages.batches.retrieve((await h.emu.batches())[0]!.id)).results_url!, {
          headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
        })
      ).arrayBuffer(),
    );
    expect(served.equals(body)).toBe(true);
  });

  it('resultsMalformedLines: those lines are skipped and counted, never fatal', async () => {
    const { counts, outcomes, lines } = await batchWith({ resultsMalformedLines: 6 });
    expect(lines).toBe(20);
    // Six junk lines, one of them blank.
    expect(counts).toMatchObject({ lines: 14, malformed: 5, blank: 1 });
    expect(outcomes.size).toBe(14);
  });

  it('resultsTruncateAfterLines: the body ends cleanly after n lines', async () => {
    const { counts, outcomes, lines } = await batchWith({ resultsTruncateAfterLines: 7 });
    expect(lines).toBe(7);
    expect(counts).toMatchObject({ lines: 7, malformed: 0 });
    expect(outcomes.size).toBe(7);
  });

  it('resultsMissingShare: those custom_ids have no line', async () => {
    const { outcomes, counts } = await batchWith({ resultsMissingShare: 0.5 });
    expect(outcomes.size).toBeGreaterThan(0);
    expect(outcomes.size).toBeLessThan(20);
    expect(counts.malformed).toBe(0);
  });

  it('resultsUnknownTypeShare: kept, as errored unknown_result_type', async () => {
    const { outcomes } = await batchWith({ resultsUnknownTypeShare: 0.5 });
    const unknown = [...outcomes.values()].filter(
      (o) => o.status === 'errored' && o.errorType === 'unknown_result_type',
    );
    expect(outcomes.size).toBe(20);
    expect(unknown.length).toBeGreaterThan(0);
    expect(unknown.length).toBeLessThan(20);
  });

  it('resultsStrayLines: extra lines for ids never sent are ignored and counted', async () => {
    const { outcomes, counts, lines } = await batchWith({ resultsStrayLines: 4 });
    expect(lines).toBe(24);
    expect(counts).toMatchObject({ lines: 24, unknown: 4 });
    expect(outcomes.size).toBe(20);
  });

  it('line faults hit a custom_id only resultsFaultAttempts times: a resubmission comes back whole', async () => {
    const h = await start({
      faults: { resultsMalformedLines: 3, resultsMissingShare: 0.3, resultsTruncateAfterLines: 12 },
    });
    open.push(h);
    const api = createApiClient({ apiKey: KEY, baseURL: h.emu.url });
    const first = await h.client.messages.batches.create({ requests: ids(20).map((id) => ask(id, `document ${id}`)) });
    await retrieveEnded(h.client, first.id);
    const p1 = join(dir, `download-${++file}.jsonl`);
    await downloadResults(sdkBatchesApi(api.client), first.id, p1, lifecycle);
    const one = await scan(p1, ids(20));
    const lost = ids(20).filter((id) => !one.outcomes.has(id));
    expect(lost.length).toBeGreaterThan(3);
    const second = await h.client.messages.batches.create({ requests: lost.map((id) => ask(id, `document ${id}`)) });
    await retrieveEnded(h.client, second.id);
    const p2 = join(dir, `download-${++file}.jsonl`);
    await downloadResults(sdkBatchesApi(api.client), second.id, p2, lifecycle);
    const two = await scan(p2, lost);
    expect(two.outcomes.size).toBe(lost.length);
    await api.close();
  });

  it('restarts a download cut mid-body and keeps only the complete file', async () => {
    const logs: string[] = [];
    const h = await start({ faults: { dropResultsAfterLines: 5, dropResultsTimes: 2 } });
    open.push(h);
    const api = createApiClient({ apiKey: KEY, baseURL: h.emu.url });
    const batch = await h.client.messages.batches.create({ requests: ids(20).map((id) => ask(id, `document ${id}`)) });
    await retrieveEnded(h.client, batch.id);
    const path = join(dir, `download-${++file}.jsonl`);
    expect(
      await downloadResults(sdkBatchesApi(api.client), batch.id, path, { ...lifecycle, log: (m) => logs.push(m) }),
    ).toBe(20);
    expect(logs.filter((m) => /starting it again/.test(m))).toHaveLength(2);
    expect((await scan(path, ids(20))).outcomes.size).toBe(20);
    await api.close();
  });
});
