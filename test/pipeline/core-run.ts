// One write run over the in-memory ports of fakes.ts, set up the same way for every test that drives the core
// (test/pipeline, test/commands): a `notes` stream, a local destination, a manual clock, a fake API and sink.
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseCatalog } from '../../connector/config/catalog.js';
import { parseConfig } from '../../connector/config/config.js';
import { RequestBuilder } from '../../connector/requests/build.js';
import { MessageWriter } from '../../connector/protocol/writer.js';
import { WriteRun, type WriteRunOptions } from '../../connector/pipeline/write-run.js';
import { tempDir } from '../helpers/cli.js';
import { FakeBatchesApi, FakeSink, ManualClock, stdout, type Answer } from './fakes.js';

export const catalogRaw = {
  streams: [
    {
      stream: {
        name: 'notes',
        json_schema: { type: 'object', properties: { id: { type: 'integer' }, body: { type: 'string' } } },
      },
      destination_sync_mode: 'append',
    },
  ],
};

export const record = (id: number, body = `note ${id}`) =>
  JSON.stringify({ type: 'RECORD', record: { stream: 'notes', data: { id, body }, emitted_at: 1 } });
export const state = (cursor: number) =>
  JSON.stringify({
    type: 'STATE',
    state: { type: 'STREAM', stream: { stream_descriptor: { name: 'notes' }, stream_state: { cursor } } },
  });

export function setup(extra: Record<string, unknown> = {}, answer?: (customId: string, attempt: number) => Answer) {
  const dir = tempDir('claude-batch-core-');
  const raw = {
    base_url: 'emulator',
    destination_path: join(dir, 'dest'),
    prompt_template: 'Summarise: {{ body }}',
    result_cache: { enabled: false },
    emit_run_state: false,
    ...extra,
  };
  const config = parseConfig(raw, {});
  const catalog = parseCatalog(catalogRaw);
  const clock = new ManualClock();
  const api = new FakeBatchesApi(clock, answer);
  const events: string[] = [];
  const sink = new FakeSink(events);
  const builder = new RequestBuilder(config);
  /** The custom_id write gives a record's request (the same builder, so the test does not restate the hash). */
  const idOf = (line: string) =>
    builder.build((JSON.parse(line) as { record: Parameters<RequestBuilder['build']>[0] }).record, {}).customId;
  const start = (lines: string[], more: Partial<WriteRunOptions> = {}) => {
    const out = stdout(events);
    const run = new WriteRun({
      config,
      catalog,
      api,
      input: Readable.from(lines.map((l) => l + '\n')),
      writer: new MessageWriter(out.stream),
      lifecycle: { pollIntervalMs: 30_000, retry: { baseMs: 1000, capMs: 60_000, patienceMs: 600_000 } },
      clock,
      sink,
      ...more,
    });
    return { out, done: run.run() };
  };
  return { dir, raw, config, clock, api, sink, events, idOf, start };
}

export const states = (lines: Array<Record<string, unknown>>) =>
  lines
    .filter((m) => m.type === 'STATE')
    .map((m) => (m.state as { stream: { stream_state: { cursor: number } } }).stream.stream_state.cursor);
