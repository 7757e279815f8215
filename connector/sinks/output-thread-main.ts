// Entry of the output thread (see output-thread.ts): rebuilds the write context once from plain data, then
// runs one job per message, in order (index a results file, or write a batch), and replies with its result
// or its error.
import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectorConfig } from '../config/config.js';
import { Catalog } from '../config/catalog.js';
import { RequestBuilder } from '../requests/build.js';
import { writeBatchOutput, writeContextBase } from './batch-writer.js';
import { indexRound } from '../batches/results-file.js';
import { errorReply, type OutputJob, type OutputReply, type OutputSetup } from './output-thread.js';

const setup = workerData as OutputSetup;
// The builder is only asked for the output spec and prompt versions, neither of which involves the key.
const config = { ...setup.config, api_key: '' } as ConnectorConfig;
const base = writeContextBase(config, new Catalog(setup.streams), new RequestBuilder(config));

let queue = Promise.resolve();
parentPort!.on('message', (job: OutputJob) => {
  queue = queue.then(async () => {
    let reply: OutputReply;
    try {
      reply = {
        id: job.id,
        ok: true,
        ...(job.kind === 'index'
          ? { index: await indexRound(job.path, job.round, job.expected) }
          : {
              done: await writeBatchOutput(
                { ...base, runId: job.runId, keepAnswers: setup.keepAnswers },
                job.seq,
                job.recordsPath,
                job.results,
              ),
            }),
      };
    } catch (err) {
      reply = errorReply(job.id, err);
    }
    // The answers for the cache travel as bytes handed over, not copied.
    parentPort!.postMessage(reply, reply.ok && reply.done ? [reply.done.cacheable.records.buffer as ArrayBuffer] : []);
  });
});
