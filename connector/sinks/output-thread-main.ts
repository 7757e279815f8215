// Entry of the output thread (see output-thread.ts): rebuilds the write context once from plain data, then
// runs one job per message, in order (index a results file, or write a batch), and replies with its result
// or its error.
import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectorConfig } from '../config/config.js';
import { Catalog } from '../config/catalog.js';
import { RequestBuilder } from '../requests/build.js';
import { streamSchemas, writeBatchOutput, type BatchWriteContext } from './batch-writer.js';
import { indexRound } from '../batches/results-file.js';
import { errorReply, type OutputDone, type OutputJob, type OutputReply, type OutputSetup } from './output-thread.js';
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

async function write(job: Extract<OutputJob, { kind: 'write' }>): Promise<OutputDone> {
  const cacheable: Array<[string, string]> = [];
  const remember = (entries: Array<[string, string]>) => {
    for (const e of entries) cacheable.push(e);
  };
  const ctx: BatchWriteContext = { ...base, runId: job.runId, ...(setup.remember ? { remember } : {}) };
  return { tallies: await writeBatchOutput(ctx, job.seq, job.recordsPath, job.results), cacheable };
}

let queue = Promise.resolve();
parentPort!.on('message', (job: OutputJob) => {
  queue = queue.then(async () => {
    let reply: OutputReply;
    try {
      reply = { id: job.id, ok: true, ...(job.kind === 'index' ? { index: await indexRound(job.path, job.round, job.expected) } : { done: await write(job) }) };
    } catch (err) {
      reply = errorReply(job.id, err);
    }
    parentPort!.postMessage(reply);
  });
});
