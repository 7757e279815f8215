// Entry of the Parquet output thread (see output-thread.ts): rebuilds the write context once from plain
// data, then writes one batch per message, in order, and replies with its tallies or its error.
import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectorConfig } from '../config/config.js';
import { Catalog } from '../config/catalog.js';
import { RequestBuilder } from '../requests/build.js';
import { streamSchemas, writeBatchOutput, type BatchWriteContext } from './batch-writer.js';
import { errorReply, type OutputJob, type OutputReply, type OutputSetup } from './output-thread.js';
import { parquetOptionsFrom } from './parquet-file.js';

const setup = workerData as OutputSetup;
// The builder is only asked for the output spec and prompt versions, neither of which involves the key.
const config = { ...setup.config, api_key: '' } as ConnectorConfig;
const builder = new RequestBuilder(config);
const catalog = new Catalog(setup.streams);
const base = {
  destination: config.destination_path,
  catalog,
  schemas: streamSchemas(catalog, builder.output),
  parquet: parquetOptionsFrom(config),
  output: builder.output,
  promptVersion: (stream: string, namespace: string | null) => builder.promptVersionFor(stream, namespace),
  writeFiles: true,
};

let queue = Promise.resolve();
parentPort!.on('message', (job: OutputJob) => {
  queue = queue.then(async () => {
    const cacheable: Array<[string, string]> = [];
    const ctx: BatchWriteContext = { ...base, runId: job.runId, ...(setup.remember ? { remember: (entries) => { for (const e of entries) cacheable.push(e); } } : {}) };
    let reply: OutputReply;
    try {
      const tallies = await writeBatchOutput(ctx, job.seq, job.recordsPath, job.results);
      reply = { id: job.id, ok: true, tallies, cacheable };
    } catch (err) {
      reply = errorReply(job.id, err);
    }
    parentPort!.postMessage(reply);
  });
});
