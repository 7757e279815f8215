// Synthetic Airbyte protocol input for the benchmark: N RECORD messages of one stream (~1 KB of text in
// `body` plus typed fields), a STATE message after every 10,000 records (and after the last record), and
// the matching ConfiguredAirbyteCatalog. Deterministic: the same N always gives the same bytes.
import { createWriteStream } from 'node:fs';
// The emulator's seeded PRNG (bench builds first, so dist/ exists).
import { seededRandom as prng } from '../dist/emulator/random.js';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';

export const STREAM = 'bench_docs';
export const STATE_EVERY = 10_000;

export const JSON_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    amount: { type: ['null', 'number'] },
    active: { type: ['null', 'boolean'] },
    created_at: { type: ['null', 'string'], format: 'date-time' },
    body: { type: ['null', 'string'] },
  },
};

export function catalog() {
  return {
    streams: [
      {
        stream: { name: STREAM, json_schema: JSON_SCHEMA, supported_sync_modes: ['full_refresh', 'incremental'] },
        sync_mode: 'full_refresh',
        destination_sync_mode: 'append',
        generation_id: 1,
        minimum_generation_id: 0,
        sync_id: 1,
      },
    ],
  };
}

const WORDS = (
  'shipment invoice warehouse delivery customer order payment contract quarterly report supplier pallet ' +
  'freight schedule region account balance review audit inventory stock transfer carrier route dock ' +
  'manifest receipt approval signature renewal clause term notice letter summary forecast budget margin ' +
  'revenue expense ledger entry batch lot item unit price discount tax total due overdue pending settled ' +
  'north south east west central harbour depot terminal station customs broker import export container'
).split(' ');

/** A pool of sentences; each body is a random pick of them, so text varies but generation stays cheap. */
export function sentencePool(random, size = 2048) {
  const pool = [];
  for (let i = 0; i < size; i++) {
    const n = 8 + Math.floor(random() * 10);
    const words = [];
    for (let w = 0; w < n; w++) words.push(WORDS[Math.floor(random() * WORDS.length)]);
    const s = words.join(' ');
    pool.push(s[0].toUpperCase() + s.slice(1) + (random() < 0.2 ? ` ${Math.floor(random() * 100000)}` : '') + '.');
  }
  return pool;
}

const BASE_TIME = Date.UTC(2026, 0, 1);

/**
 * Writes `n` records (and STATE messages) as JSONL to `path`. Returns { bytes, records, states }.
 * `bodyBytes` is the approximate size of the `body` text.
 */
export async function generateInput(path, n, { bodyBytes = 1000, seed = 7 } = {}) {
  const random = prng(seed);
  const pool = sentencePool(random);
  const out = createWriteStream(path);
  let chunk = [];
  let chunkBytes = 0;
  let bytes = 0;
  let states = 0;
  const flush = async () => {
    if (!chunk.length) return;
    const text = chunk.join('');
    chunk = [];
    chunkBytes = 0;
    if (!out.write(text)) await once(out, 'drain');
  };
  const push = async (line) => {
    chunk.push(line);
    chunkBytes += line.length;
    bytes += Buffer.byteLength(line);
    if (chunkBytes >= 1 << 20) await flush();
  };
  let sinceState = 0;
  for (let i = 0; i < n; i++) {
    const id = `doc-${String(i).padStart(9, '0')}`;
    let body = `Record ${id}.`;
    while (body.length < bodyBytes) body += ' ' + pool[Math.floor(random() * pool.length)];
    const data = {
      id,
      seq: i,
      amount: Math.round(random() * 1_000_000) / 100,
      active: random() < 0.5,
      created_at: new Date(BASE_TIME + i * 1000).toISOString(),
      body,
    };
    await push(
      JSON.stringify({ type: 'RECORD', record: { stream: STREAM, data, emitted_at: BASE_TIME + 86_400_000 + i } }) +
        '\n',
    );
    sinceState++;
    if (sinceState === STATE_EVERY || i === n - 1) {
      states++;
      await push(
        JSON.stringify({
          type: 'STATE',
          state: {
            type: 'STREAM',
            stream: { stream_descriptor: { name: STREAM }, stream_state: { cursor: i } },
            sourceStats: { recordCount: sinceState },
          },
        }) + '\n',
      );
      sinceState = 0;
    }
  }
  await flush();
  out.end();
  await once(out, 'finish');
  return { bytes, records: n, states };
}

export async function writeCatalog(path) {
  await writeFile(path, JSON.stringify(catalog(), null, 2));
}
