import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import Anthropic from '@anthropic-ai/sdk';
import type { BatchesApi, MessageBatch } from '../ports/batches-api.js';
import { ConnectorError } from '../common/errors.js';
import { apiError, httpStatus, isPacing, retryAfterMs } from './api-errors.js';
import { findUnrecordedBatches } from './reconcile.js';
import { withRetry, type RetryPolicy, type Sleep } from './retry.js';
import { forEachLine, joinedLines } from '../common/lines.js';

export interface LifecycleOptions {
  pollIntervalMs: number;
  retry: RetryPolicy;
  sleep: Sleep;
  log: (message: string) => void;
  /** Set when the run is asked to stop: waits end early with an Interrupted error. */
  signal?: AbortSignal;
}

/** Thrown out of a wait when the run is stopping (SIGTERM/SIGINT, or submit_only's "don't wait"). */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

/** The API no longer knows this batch, or its results are gone: its requests must be sent again. */
export class BatchLost extends Error {
  constructor(
    readonly batchId: string,
    readonly reason: string,
  ) {
    super(`batch ${batchId} is lost: ${reason}`);
    this.name = 'BatchLost';
  }
}

function checkStop(options: LifecycleOptions): void {
  if (options.signal?.aborted) throw new Interrupted();
}

const BODY_HEAD = Buffer.from('{"requests":[');
const BODY_TAIL = Buffer.from(']}');
const COMMA = 0x2c;

/** A create body streamed from a sealed requests file: its exact size, and a fresh stream of it per attempt. */
export interface CreateBody {
  requests: number;
  bytes: number;
  chunks(): AsyncGenerator<Buffer>;
}

/**
 * The create body, `{"requests":[` + the file's request lines joined by `,` + `]}`, from the spooled bytes as
 * they are: each request was serialised once, when it was spooled, and is neither parsed nor re-encoded here
 * (the batch size limit was measured on exactly these bytes). It is streamed, never held whole: a body is
 * up to 256 MB, and the HTTP stack copied a Buffer body three times over. A first pass sizes it (so it goes
 * out with a Content-Length, not chunked) and checks each line: one that does not look like a JSON object
 * is parsed, so a damaged file fails here as it always did, not at the API.
 */
export async function createBody(path: string): Promise<CreateBody> {
  let requests = 0;
  let bytes = BODY_HEAD.length + BODY_TAIL.length - 1;
  await forEachLine(path, (buf, start, end) => {
    if (buf[start] !== 0x7b || buf[end - 1] !== 0x7d) JSON.parse(buf.toString('utf8', start, end));
    requests++;
    bytes += end - start + 1; // the line and the comma before it (none before the first)
  });
  if (requests === 0) bytes++;
  return {
    requests,
    bytes,
    async *chunks() {
      yield BODY_HEAD;
      yield* joinedLines(path, COMMA);
      yield BODY_TAIL;
    },
  };
}

/** A refusal that proves no batch was made: safe to create again without looking. */
function provablyRefused(err: unknown): boolean {
  const status = httpStatus(err);
  const code = (err as { cause?: { code?: string } }).cause?.code;
  return (status !== undefined && status >= 400 && status < 500) || code === 'ECONNREFUSED';
}

/** A create's outcome: the batch, and for one found by listing, the other candidates it may have been. */
export interface Submitted {
  batch: MessageBatch;
  reconciled: boolean;
  /** Further unclaimed batches that matched as well: adopted in turn if the first answers none of ours. */
  alternates: string[];
}

/**
 * Creates a batch from a requests file, never paying twice. The SDK's own retries are off: a create
 * retried after the API accepted it makes a second, paid batch. After any answer that leaves doubt
 * (5xx, timeout, a reset connection) the recent batches are listed first, and the batches that match this
 * submission (same request count, created since `since`, not claimed by any journal) are adopted instead
 * of creating another (see findUnrecordedBatches). 429/529 and refused connections are retried with
 * backoff within the patience. The caller holds the destination's create gate throughout, so a doubt is
 * settled before any other create of ours can start.
 */
export async function submitBatch(
  api: BatchesApi,
  requestsPath: string,
  expected: { requests: number; since: Date; claimed: (id: string) => boolean; mayExist?: boolean },
  options: LifecycleOptions,
): Promise<Submitted> {
  const body = await createBody(requestsPath);
  // `mayExist`: an earlier process journaled this submission and died before recording its answer.
  let doubt = expected.mayExist === true;
  return withRetry(
    async () => {
      checkStop(options);
      if (doubt) {
        const [found, ...others] = await findUnrecordedBatches(api, expected);
        if (found) return { batch: found, reconciled: true, alternates: others.map((b) => b.id) };
        doubt = false;
      }
      try {
        // A stream is read once, so each attempt gets its own; a file that changed under it fails on the
        // Content-Length, not silently.
        const batch = await api.create(body);
        return { batch, reconciled: false, alternates: [] };
      } catch (err) {
        doubt = !provablyRefused(err);
        throw err;
      }
    },
    (err) => {
      if (err instanceof Interrupted) return undefined;
      const status = httpStatus(err);
      if (status === 429) {
        if (err instanceof Anthropic.APIError && err.errorCode?.includes('spend_limit')) return undefined;
        return retryAfterMs(err) ?? 0;
      }
      if (status !== undefined && status < 500) return undefined;
      return retryAfterMs(err) ?? 0;
    },
    options.retry,
    options.sleep,
    (err, wait) => options.log(`create failed (${apiError(err, 'create').message}); retrying in ${wait} ms${doubt ? ' after checking whether it went through' : ''}`),
    isPacing,
  ).catch((err) => {
    if (err instanceof Interrupted) throw err;
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

/** The API may not know a batch for a short while after create; after this, a 404 means it is gone. */
const EARLY_404_WINDOW_MS = 2 * 60_000;

async function retrieve(api: BatchesApi, batchId: string, options: LifecycleOptions & { createdAt?: number }): Promise<MessageBatch> {
  const young = options.createdAt === undefined || Date.now() - options.createdAt < EARLY_404_WINDOW_MS;
  const decide = (err: unknown, attempt: number) => (httpStatus(err) === 404 && !young ? undefined : retryRetrieve(err, attempt));
  return withRetry(() => api.retrieve(batchId), decide, options.retry, options.sleep, undefined, isPacing).catch((err) => {
    if (httpStatus(err) === 404) throw new BatchLost(batchId, 'the API answers 404 (not found) for this batch id');
    throw apiError(err, `polling batch ${batchId}`);
  });
}

/**
 * Polls until the batch has ended. With `once`, returns after one look (ended or not): submit_only runs
 * collect what has finished without waiting for the rest.
 */
export async function waitUntilEnded(
  api: BatchesApi,
  batchId: string,
  options: LifecycleOptions & { once?: boolean; createdAt?: number },
  onProgress: (batch: MessageBatch) => void = () => undefined,
): Promise<MessageBatch> {
  for (;;) {
    checkStop(options);
    const batch = await retrieve(api, batchId, options);
    onProgress(batch);
    if (batch.processing_status === 'ended' || options.once) return batch;
    await options.sleep(options.pollIntervalMs);
  }
}

/**
 * Streams a batch's results into `path` exactly as the API sent them (raw JSONL bytes, never re-encoded), and
 * returns how many lines the body had. Lines are not parsed here: one malformed, blank or unexpected line must
 * not cost the whole download; indexResults() sorts them out. A download cut mid-body (undici "terminated",
 * a reset) is redone from the start and the file rewritten whole, so a partial file is never used.
 */
export async function downloadResults(api: BatchesApi, batchId: string, path: string, options: LifecycleOptions): Promise<number> {
  return withRetry(
    async () => {
      checkStop(options);
      const batch = await api.retrieve(batchId);
      if (!batch.results_url) {
        throw new Error(`batch ${batchId} has no results_url yet (processing_status ${batch.processing_status})`);
      }
      const response = await api.results(batch.results_url);
      return writeBody(response, path, options);
    },
    (err, attempt) => {
      if (err instanceof Interrupted) return undefined;
      if (isTerminated(err)) return attempt < 8 ? 0 : undefined;
      return retryRetrieve(err, attempt);
    },
    options.retry,
    options.sleep,
    (err, wait) => options.log(`results download for ${batchId} failed (${(err as Error).message}); starting it again in ${wait} ms`),
    isPacing,
  ).catch((err) => {
    if (err instanceof Interrupted) throw err;
    if (httpStatus(err) === 404) throw new BatchLost(batchId, 'its results file is gone (HTTP 404)');
    if (err instanceof ConnectorError) throw err;
    throw apiError(err, `downloading results of batch ${batchId}`);
  });
}

/** Our own files never follow a symlink someone planted where they go. */
const WRITE_NOFOLLOW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | (fsConstants.O_NOFOLLOW ?? 0);

/** Copies a response body to `path` chunk by chunk (no whole-body buffering), fsyncs it, and counts its lines. */
async function writeBody(response: Response, path: string, options: LifecycleOptions): Promise<number> {
  const body = response.body;
  if (!body) throw new Error('the results response has no body');
  let file;
  try {
    file = await open(path, WRITE_NOFOLLOW, 0o600);
  } catch (err) {
    await body.cancel().catch(() => undefined);
    throw err;
  }
  let newlines = 0;
  let last = 0x0a;
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      if (options.signal?.aborted) throw new Interrupted();
      if (chunk.length === 0) continue;
      await file.write(chunk);
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) newlines++;
      last = chunk[chunk.length - 1]!;
    }
    await file.sync();
  } catch (err) {
    await body.cancel().catch(() => undefined);
    throw err;
  } finally {
    await file.close();
  }
  return newlines + (last === 0x0a ? 0 : 1);
}

function isTerminated(err: unknown): boolean {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  return (
    (e?.name === 'TypeError' && /terminated/i.test(e.message ?? '')) ||
    ['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_ABORTED'].includes(e?.cause?.code ?? '') ||
    /terminated|ECONNRESET|other side closed/i.test(e?.message ?? '')
  );
}

/** Cancels a batch; an already-ended batch is not an error (there is nothing left to stop). */
export async function cancelBatch(api: BatchesApi, batchId: string): Promise<MessageBatch | undefined> {
  try {
    return await api.cancel(batchId);
  } catch (err) {
    const status = httpStatus(err);
    if (status === 400 || status === 404 || status === 409) return undefined;
    throw apiError(err, `cancelling batch ${batchId}`);
  }
}
