// Guards the emulator's cheap paths against what they replaced: the summary against split(/\s+/), the prompt-cache key against hashing every block, hand-built results lines against JSON.stringify, pooled ids, the submission counts kept on disk, partial processing in request order whatever the shuffle (also after a restart), and results files written in chunks.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { opaqueId, seededRandom } from '../../emulator/random.js';
import { promptTokens, summarise } from '../../emulator/responder.js';
import { ask, HAIKU, harnessPerTest, KEY, resultsById, start, succeeded, textOf, type Harness } from './helpers.js';
import { paidTwice, readSubmissionLog } from '../../emulator/submission-log.js';

const harness = harnessPerTest();

/** The results file as the server sends it. */
async function rawResults(h: Harness, id: string): Promise<string> {
  const res = await fetch(`${h.emu.url}/v1/messages/batches/${id}/results`, {
    headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
  });
  expect(res.status).toBe(200);
  return res.text();
}

const WHITESPACE = Array.from({ length: 65536 }, (_, c) => String.fromCharCode(c)).filter((c) => /\s/.test(c));

describe('summarise', () => {
  const reference = (document: string) => {
    const words = document.split(/\s+/).filter(Boolean);
    return `[emulator] Summary: ${words.slice(0, 20).join(' ')}${words.length > 20 ? ' …' : ''} (${words.length} words)`;
  };

  it('says what split(/\\s+/) says, for every whitespace code unit and random text', () => {
    expect(WHITESPACE.length).toBeGreaterThan(20);
    const pieces = [...WHITESPACE, 'a', 'bc', 'é', '日本', '😀', '\ud800', '\u180e', '\u200b', '.'];
    const random = seededRandom(7);
    for (let t = 0; t < 5000; t++) {
      let text = '';
      const length = Math.floor(random() * 80);
      for (let i = 0; i < length; i++) text += pieces[Math.floor(random() * pieces.length)];
      expect(summarise(text), JSON.stringify(text)).toBe(reference(text));
    }
  });

  it('…and for ASCII text, which it counts two bytes at a time', () => {
    const pieces = [' ', '\t', '\n', '\r', '\v', '\f', 'a', 'bc', 'def', '.'];
    const random = seededRandom(11);
    for (let t = 0; t < 5000; t++) {
      let text = '';
      const length = Math.floor(random() * (t % 50 === 0 ? 8000 : 90));
      for (let i = 0; i < length; i++) text += pieces[Math.floor(random() * pieces.length)];
      expect(summarise(text), JSON.stringify(text)).toBe(reference(text));
    }
  });

  it('counts past its 32 Ki-unit window and at the edges', () => {
    const cases = [
      '',
      ' ',
      'a',
      ' a ',
      'a '.repeat(20),
      'a '.repeat(21),
      ' a'.repeat(21),
      'x'.repeat(70_000),
      'w '.repeat(40_000),
      `${' '.repeat(40_000)}late words here`,
    ];
    for (const text of cases) expect(summarise(text)).toBe(reference(text));
  });
});

describe('promptTokens', () => {
  // The key as it was first computed: every block hashed, a copy of the digest taken at each mark.
  const reference = (params: Parameters<typeof promptTokens>[0]) => {
    type Block = { type: string; text?: string; cache_control?: unknown };
    const blocksOf = (c: string | Block[] | undefined): Block[] =>
      c === undefined ? [] : typeof c === 'string' ? [{ type: 'text', text: c }] : c;
    const blocks = [...blocksOf(params.system), ...params.messages.flatMap((m) => blocksOf(m.content))];
    const ttlOf = (cc: unknown) => ((cc as { ttl?: string }).ttl === '1h' ? '1h' : '5m');
    let total = 3;
    let cachedPrefix = 0;
    let ttl = '5m';
    let prefixKey = '';
    const prefix = createHash('sha256').update(`${params.model ?? ''}\u0000`);
    const mark = (cc: unknown) => {
      cachedPrefix = total;
      ttl = ttlOf(cc);
      prefixKey = prefix.copy().digest('hex');
    };
    for (const block of blocks) {
      const text = block.text ?? JSON.stringify(block);
      total += Math.ceil(text.length / 4);
      prefix.update(`${text}\u0000`);
      if (block.cache_control) mark(block.cache_control);
    }
    if (params.cache_control) mark(params.cache_control);
    return { total, cachedPrefix, prefixKey, ttl };
  };
  const long = 'House rules apply. '.repeat(100);
  const cases: Array<Parameters<typeof promptTokens>[0]> = [
    { model: HAIKU, messages: [{ role: 'user', content: 'no marks at all' }] },
    {
      model: HAIKU,
      system: [{ type: 'text', text: long, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'q' }],
    },
    {
      model: HAIKU,
      system: [
        { type: 'text', text: long, cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'second', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
      messages: [
        { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'after' }] },
        { role: 'assistant', content: 'a' },
      ],
    },
    {
      system: long,
      cache_control: { type: 'ephemeral', ttl: '1h' },
      messages: [{ role: 'user', content: 'whole prompt' }],
    },
    {
      model: HAIKU,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', cache_control: { type: 'ephemeral' } },
            { type: 'text', text: 'x' },
          ],
        },
      ],
    },
  ];

  it('gives the same totals, cached prefix, TTL and key as hashing every block', () => {
    for (const params of cases) expect(promptTokens(params)).toEqual(reference(params));
  });
});

describe('ids', () => {
  it('keep the API shapes and do not repeat', () => {
    const ids = Array.from({ length: 20_000 }, () => opaqueId('msg_emulator_'));
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^msg_emulator_01[0-9A-Za-z]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(opaqueId('req_011C', 20)).toMatch(/^req_011C01[0-9A-Za-z]{20}$/);
    expect(opaqueId('', 70_000)).toMatch(/^01[0-9A-Za-z]{70000}$/);
  });
});

describe('results lines', () => {
  it('are exactly what JSON.stringify writes, keys in the order the API sends them', async () => {
    const h = await harness({ minCacheableTokens: 10, faults: { erroredShare: 0.2, expiredShare: 0.1 } });
    const system = [
      {
        type: 'text' as const,
        text: 'Cached rules with "quotes", \\ and \u2028. '.repeat(20),
        cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
      },
    ];
    const requests = [
      ...Array.from({ length: 30 }, (_, i) =>
        ask(`r${i}`, `Text "${i}" with \\ back\nslash, tab\t, é 日本 😀 \ud800 and ${'word '.repeat(i)}`, { system }),
      ),
      ask('bad', 'x', { model: 'claude-nope' }),
      ask('short', 'a b c d e f g h i j k l m n o p', { max_tokens: 2 }),
    ];
    const batch = await h.client.messages.batches.create({ requests });
    await resultsById(h.client, batch.id);
    const lines = (await rawResults(h, batch.id)).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(requests.length);
    const types = new Set<string>();
    for (const line of lines) {
      const parsed = JSON.parse(line) as { result: { type: string; message?: Record<string, unknown> } };
      expect(JSON.stringify(parsed)).toBe(line);
      types.add(parsed.result.type);
      const message = parsed.result.message;
      if (!message) continue;
      expect(Object.keys(message)).toEqual([
        'id',
        'type',
        'role',
        'model',
        'content',
        'stop_reason',
        'stop_sequence',
        'stop_details',
        'container',
        'diagnostics',
        'usage',
      ]);
      expect(Object.keys(message.usage as object)).toEqual([
        'input_tokens',
        'output_tokens',
        'cache_creation_input_tokens',
        'cache_read_input_tokens',
        'cache_creation',
        'inference_geo',
        'output_tokens_details',
        'server_tool_use',
        'service_tier',
        'speed',
      ]);
    }
    expect([...types].sort()).toEqual(['errored', 'expired', 'succeeded']);
  });

  it('a batch far bigger than one write chunk, and a line bigger than a chunk, come back whole', async () => {
    const h = await harness({ keepRequests: false });
    const huge = 'y'.repeat(60_000);
    const requests = [
      ...Array.from({ length: 1500 }, (_, i) => ask(`n${i}`, `${'filler text '.repeat(40)} ${i}`)),
      ask('huge', `${huge} tail`, { max_tokens: 64_000 }),
    ];
    const batch = await h.client.messages.batches.create({ requests });
    const results = await resultsById(h.client, batch.id);
    expect(results.size).toBe(requests.length);
    expect(textOf(succeeded(results.get('huge')))).toContain(huge);
    expect(textOf(succeeded(results.get('n1499')))).toMatch(/\(81 words\)$/);
  });
});

describe('partial processing', () => {
  const T0 = Date.parse('2026-03-01T00:00:00Z');
  const requests = Array.from({ length: 40 }, (_, i) => ask(`p${i}`, `text ${i}`));
  const processedIds = (results: Map<string, { type: string }>) =>
    requests.map((r) => r.custom_id).filter((id) => results.get(id)!.type === 'succeeded');

  it('a cancel halfway keeps the first half in request order, whatever order the file is in', async () => {
    const h = await harness({ now: () => T0, processingMs: 1000 });
    const batch = await h.client.messages.batches.create({ requests });
    h.emu.advance(500);
    await h.client.messages.batches.cancel(batch.id);
    h.emu.advance(100);
    const results = await resultsById(h.client, batch.id);
    expect(processedIds(results)).toEqual(requests.slice(0, 20).map((r) => r.custom_id));
    const order = (await rawResults(h, batch.id))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    expect(order).not.toEqual(requests.map((r) => r.custom_id));
  });

  it('…also when the batch ends after a restart with another seed and no shuffling', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-data-'));
    const first = await start({ dataDir, now: () => T0, processingMs: 1000 });
    const batch = await first.client.messages.batches.create({ requests });
    first.emu.advance(250);
    await first.client.messages.batches.cancel(batch.id);
    await first.emu.close();
    const second = await harness({ dataDir, now: () => T0 + 400, seed: 7, shuffleResults: false });
    const results = await resultsById(second.client, batch.id);
    expect(processedIds(results)).toEqual(requests.slice(0, 10).map((r) => r.custom_id));
  });

  it('reads a batch an older emulator left pending (index, type and custom_id before each line)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-data-'));
    const id = 'msgbatch_01OlderEmulatorPendingBatch';
    const meta = {
      id,
      seq: 0,
      createdAt: T0,
      expiresAt: T0 + 86_400_000,
      endedAt: null,
      cancelInitiatedAt: T0 + 500,
      status: 'canceling',
      total: 3,
      processingMs: 1000,
      neverFinish: false,
      counts: { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      notFoundLeft: 0,
    };
    const line = (i: number) => JSON.stringify({ custom_id: `old${i}`, result: { type: 'expired' } });
    writeFileSync(join(dataDir, `${id}.meta.json`), JSON.stringify(meta));
    writeFileSync(
      join(dataDir, `${id}.pending`),
      [2, 0, 1].map((i) => `${i}\texpired\told${i}\t${line(i)}\n`).join(''),
    );
    const h = await harness({ dataDir, now: () => T0 + 600 });
    const ended = await h.client.messages.batches.retrieve(id);
    expect(ended.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 0, canceled: 2, expired: 1 });
    const results = await resultsById(h.client, id);
    expect([0, 1, 2].map((i) => results.get(`old${i}`)?.type)).toEqual(['expired', 'canceled', 'canceled']);
  });
});

describe('submissions', () => {
  it('counts every custom_id per submission, as snapshots, also after close; a data dir keeps the log across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-data-'));
    const h = await start({ dataDir });
    const first = await h.client.messages.batches.create({ requests: [ask('a', 'x'), ask('b', 'y')] });
    const before = h.emu.submissions();
    const second = await h.client.messages.batches.create({ requests: [ask('a', 'x'), ask('c', 'z')] });
    expect(before).toEqual(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    );
    expect(h.emu.submissions()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    await h.emu.close();
    await h.emu.close();
    expect(h.emu.submissions()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
      ]),
    );
    // Another process audits it from the data dir: every create per custom_id, in order.
    const log = readSubmissionLog(dataDir);
    expect(log.get('a')).toEqual([first.id, second.id]);
    expect(paidTwice(log)).toEqual(new Map([['a', [first.id, second.id]]]));
    // A restart goes on with the same log.
    const again = await harness({ dataDir });
    const third = await again.client.messages.batches.create({ requests: [ask('b', 'y')] });
    expect(again.emu.submissions()).toEqual(
      new Map([
        ['a', 2],
        ['b', 2],
        ['c', 1],
      ]),
    );
    expect(again.emu.submissionLog().get('b')).toEqual([first.id, third.id]);
    await again.emu.close();
  });
});
