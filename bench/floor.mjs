#!/usr/bin/env node
// The CPU floor of the work one record needs, measured in this runtime on the bench's input: each essential
// step run alone, in one thread, with no durability, no bookkeeping and no overlap. It answers "how fast could
// any design built from these steps go on this machine", not "how fast is the connector". See bench/README.md.
// Run with `npm run bench:floor` (builds first), or after a build:
// node bench/floor.mjs [--n 100k] [--rounds 3] [--compression SNAPPY|ZSTD|GZIP|UNCOMPRESSED]
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { generateInput, catalog as benchCatalog } from './generate.mjs';
import { parseConfig } from '../dist/connector/config/config.js';
import { parseCatalog } from '../dist/connector/config/catalog.js';
import { RequestBuilder } from '../dist/connector/requests/build.js';
import { answerText } from '../dist/emulator/responder.js';
import { outcomeOf, putEnrichmentColumns } from '../dist/connector/batches/outcome.js';
import { recordDataText } from '../dist/connector/protocol/record-span.js';
import { coerceRecord } from '../dist/connector/sinks/coerce.js';
import { streamArrowSchema } from '../dist/connector/sinks/arrow-schema.js';
import { RollingParquetWriter, DEFAULT_PARQUET_OPTIONS } from '../dist/connector/sinks/parquet-file.js';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '100k' },
    rounds: { type: 'string', default: '3' },
    compression: { type: 'string', default: 'SNAPPY' },
  },
});
const n = Number(opts.n.replace(/k$/i, '000').replace(/m$/i, '000000'));
const rounds = Number(opts.rounds);
const dir = mkdtempSync(join(tmpdir(), 'claude-batch-floor-'));

/** Lines of a file, as strings: the file is read whole (a step's reading counts, but no streaming machinery). */
const linesOf = (path) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

/** Appends lines to a file in 256 KiB writes, as the spool does. */
class Sink {
  constructor(path) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.allocUnsafe(1 << 18);
    this.at = 0;
  }
  line(text) {
    const need = Buffer.byteLength(text) + 1;
    if (this.at + need > this.buf.length) this.flush();
    if (need > this.buf.length) {
      writeSync(this.fd, text + '\n');
      return;
    }
    this.at += this.buf.write(text, this.at);
    this.buf[this.at++] = 10;
  }
  flush() {
    if (this.at) writeSync(this.fd, this.buf, 0, this.at);
    this.at = 0;
  }
  close() {
    this.flush();
    closeSync(this.fd);
  }
}

const config = parseConfig({
  api_key: 'floor-key',
  destination_path: dir,
  model: 'claude-haiku-4-5',
  prompt_template: 'Summarise this record in one sentence.\n\n{{ body }}',
  max_tokens: 64,
});
const builder = new RequestBuilder(config);
const stream = parseCatalog(benchCatalog()).streams[0];
const schema = streamArrowSchema(stream.jsonSchema, builder.output.columns);

const inputPath = join(dir, 'input.jsonl');
await generateInput(inputPath, n, {});
/** Answers by custom_id, from the results step for the join step. */
let outcomes = new Map();

const steps = {
  /**
   * Parse an input line, keep its record's data as cut from the line (what a spool keeps), render the prompt,
   * serialise the request and hash it for the custom_id; write both lines.
   */
  'parse input, build + hash request': () => {
    const records = new Sink(join(dir, 'records.jsonl'));
    const requests = new Sink(join(dir, 'requests.jsonl'));
    for (const line of linesOf(inputPath)) {
      const message = JSON.parse(line);
      if (message.type !== 'RECORD') continue;
      records.line(recordDataText(line));
      requests.line(builder.build(message.record).serialized);
    }
    records.close();
    requests.close();
  },
  /** The API's side, as cheap as it gets: parse the request, make an answer, write its results line. */
  'answer (emulator side)': () => {
    const out = new Sink(join(dir, 'results.jsonl'));
    for (const line of linesOf(join(dir, 'requests.jsonl'))) {
      const request = JSON.parse(line);
      const a = answerText(request.params);
      out.line(
        JSON.stringify({
          custom_id: request.custom_id,
          result: {
            type: 'succeeded',
            message: {
              id: 'msg_floor',
              type: 'message',
              role: 'assistant',
              model: request.params.model,
              content: [{ type: 'text', text: a.text }],
              stop_reason: a.stopReason,
              stop_sequence: null,
              usage: {
                input_tokens: 300,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: a.outputTokens,
                service_tier: 'batch',
              },
            },
          },
        }),
      );
    }
    out.close();
  },
  /** Parse each results line into an outcome, by custom_id. */
  'parse results line': () => {
    outcomes = new Map();
    for (const line of linesOf(join(dir, 'results.jsonl'))) {
      const response = JSON.parse(line);
      outcomes.set(response.custom_id, outcomeOf(response));
    }
  },
  /** Join: parse the kept record, coerce its fields, add the answer's columns, encode the row into Parquet (--compression). */
  'join + Parquet row': async () => {
    const requests = linesOf(join(dir, 'requests.jsonl'));
    const writer = await RollingParquetWriter.create(join(dir, 'out.parquet'), schema, {
      ...DEFAULT_PARQUET_OPTIONS,
      compression: opts.compression,
    });
    let i = 0;
    for (const line of linesOf(join(dir, 'records.jsonl'))) {
      const customId = requests[i++].slice(14, 58);
      const { row } = coerceRecord(schema, JSON.parse(line));
      row._airbyte_raw_id = '7f3e2a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
      row._airbyte_extracted_at = 1_764_000_000_000_000;
      row._airbyte_generation_id = 1;
      row._airbyte_meta = '{"changes":[],"sync_id":1}';
      putEnrichmentColumns(row, outcomes.get(customId), 'msgbatch_floor', customId);
      row._claude_prompt_version = 'v1';
      row._claude_input_truncated = false;
      row._claude_attempt = 1;
      const flushing = writer.append(row);
      if (flushing) await flushing;
    }
    await writer.commit();
    parquetBytes = statSync(join(dir, 'out.parquet')).size;
  },
};
let parquetBytes = 0;

const best = {};
/** CPU time too (user + system), which a busy machine inflates less than the clock. */
const bestCpu = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(steps)) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run();
    const us = ((performance.now() - t0) * 1000) / n;
    const c = process.cpuUsage(c0);
    best[name] = Math.min(best[name] ?? Infinity, us);
    bestCpu[name] = Math.min(bestCpu[name] ?? Infinity, (c.user + c.system) / n);
  }
}
rmSync(dir, { recursive: true, force: true });

const total = Object.values(best).reduce((a, b) => a + b, 0);
console.log(
  `floor: node ${process.version}, ${n.toLocaleString('en-US')} records, best of ${rounds} rounds, µs per record (one thread)`,
);
console.log(
  `Parquet (${opts.compression}): ${(parquetBytes / 1e6).toFixed(1)} MB, ${(parquetBytes / n).toFixed(0)} bytes per record\n`,
);
console.log('| step | µs/record | CPU µs/record |\n| --- | ---: | ---: |');
for (const [name, us] of Object.entries(best))
  console.log(`| ${name} | ${us.toFixed(1)} | ${bestCpu[name].toFixed(1)} |`);
console.log(`| **all steps** | **${total.toFixed(1)}** |`);
const apiSide = best['answer (emulator side)'];
const rate = (us) => Math.round(2e6 / us).toLocaleString('en-US');
console.log(
  `\nOn 2 cores, every step overlapped perfectly and nothing else done (no durability, HTTP, state, GC of a long run):`,
);
console.log(`at most ${rate(total)} records/s with the emulator's step on the same cores (as in the benchmark),`);
console.log(`at most ${rate(total - apiSide)} records/s for the connector's steps alone.`);
