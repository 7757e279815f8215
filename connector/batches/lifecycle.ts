import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { apiError, httpStatus, retryAfterMs } from './api-errors.js';
import { withRetry, type RetryPolicy, type Sleep } from './retry.js';

export interface LifecycleOptions {
  pollIntervalMs: number;
  retry: RetryPolicy;
  sleep: Sleep;
  log: (message: string) => void;
}

/**
 * Creates the batch from a sealed spool's requests file. The SDK's own retries are off for create: a
 * create retried after the API accepted it makes a second, paid batch. Only answers that prove the
 * request was refused (429, 529, connection refused) are retried here; anything ambiguous fails the run
 * with the journal saying "submitting", for a human or a later run to reconcile.
 */
export async function createBatch(client: Anthropic, requestsPath: string, options: LifecycleOptions): Promise<MessageBatch> {
  const requests: Anthropic.Messages.BatchCreateParams.Request[] = [];
  const lines = createInterface({ input: createReadStream(requestsPath), crlfDelay: Infinity });
  for await (const line of lines) if (line) requests.push(JSON.parse(line));
  return withRetry(
    () => client.messages.batches.create({ requests }, { maxRetries: 0 }),
    (err) => {
      const status = httpStatus(err);
      const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      if (status === 429 && !(err instanceof Anthropic.APIError && err.errorCode?.includes('spend_limit'))) return retryAfterMs(err) ?? 0;
      if (status === 529 || refused) return 0;
      return undefined;
    },
    options.retry,
    options.sleep,
    (err, wait) => options.log(`create refused (${apiError(err, 'create').message}); retrying in ${wait} ms`),
  ).catch((err) => {
    throw apiError(err, 'creating a batch');
  });
}

/** Retrieve is idempotent, so any transient failure is retried; an early 404 right after create is too. */
function retryRetrieve(err: unknown, attempt: number): number | undefined {
  const status = httpStatus(err);
  if (status === 404) return attempt < 5 ? 0 : undefined;
  if (status === undefined || status === 408 || status === 409 || status === 429 || status >= 500) return retryAfterMs(err) ?? 0;
  return undefined;
}

/** Polls until the batch has ended, calling onProgress on every answer. */
export async function waitUntilEnded(
  client: Anthropic,
  batchId: string,
  options: LifecycleOptions,
  onProgress: (batch: MessageBatch) => void = () => undefined,
): Promise<MessageBatch> {
  for (;;) {
    const batch = await withRetry(() => client.messages.batches.retrieve(batchId), retryRetrieve, options.retry, options.sleep).catch((err) => {
      throw apiError(err, `polling batch ${batchId}`);
    });
    onProgress(batch);
    if (batch.processing_status === 'ended') return batch;
    await options.sleep(options.pollIntervalMs);
  }
}

/** Where each result line sits in the downloaded file, so joining reads one line at a time, not the file. */
export type ResultIndex = Map<string, { offset: number; length: number }>;

/**
 * Streams a batch's results into `path` (JSONL, one line per result) and indexes them by custom_id.
 * A download cut mid-body (undici "terminated") is redone from the start: the file is rewritten whole.
 */
export async function downloadResults(
  client: Anthropic,
  batchId: string,
  path: string,
  options: LifecycleOptions,
): Promise<{ index: ResultIndex; lines: number }> {
  return withRetry(
    async () => {
      const file = await open(path, 'w', 0o600);
      const index: ResultIndex = new Map();
      let offset = 0;
      let lines = 0;
      try {
        const decoder = await client.messages.batches.results(batchId);
        let buffered: string[] = [];
        let bufferedBytes = 0;
        const flush = async () => {
          if (!buffered.length) return;
          await file.write(buffered.join(''));
          buffered = [];
          bufferedBytes = 0;
        };
        for await (const result of decoder) {
          const line = JSON.stringify(result) + '\n';
          const length = Buffer.byteLength(line);
          index.set(result.custom_id, { offset, length });
          offset += length;
          lines++;
          buffered.push(line);
          bufferedBytes += length;
          if (bufferedBytes > 1 << 20) await flush();
        }
        await flush();
        await file.sync();
      } finally {
        await file.close();
      }
      return { index, lines };
    },
    (err, attempt) => (attempt < 4 && (retryRetrieve(err, attempt) !== undefined || isTerminated(err)) ? 0 : undefined),
    options.retry,
    options.sleep,
    (err, wait) => options.log(`results download for ${batchId} failed (${(err as Error).message}); retrying in ${wait} ms`),
  ).catch((err) => {
    throw apiError(err, `downloading results of batch ${batchId}`);
  });
}

function isTerminated(err: unknown): boolean {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  return (
    (e?.name === 'TypeError' && /terminated/i.test(e.message ?? '')) ||
    ['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_ABORTED'].includes(e?.cause?.code ?? '') ||
    /terminated|ECONNRESET|other side closed/i.test(e?.message ?? '')
  );
}
