import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { BatchesApi, MessageBatch } from '../ports/batches-api.js';
import { transientError } from '../common/errors.js';
import { classifyApiFailure, RESULTS_NOT_READY } from './api-failure.js';
import { Interrupted } from './interrupted.js';
import { findUnrecordedBatches } from './reconcile.js';
import { withRetry, type RetryPolicy, type Sleep } from './retry.js';
import { forEachLine, joinedLines } from '../common/lines.js';

export interface LifecycleOptions {
  pollIntervalMs: number;
  retry: RetryPolicy;
  sleep: Sleep;
  /** The run's clock (ms): a batch's age for the early-404 window, an HTTP-date retry-after. */
  now: () => number;
  log: (message: string) => void;
  /** Set when the run is asked to stop: waits end early with an Interrupted error. */
  signal?: AbortSignal;
}

export { Interrupted };

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
 * of creating another (see findUnrecordedBatches). classifyApiFailure() says what each failure calls for:
 * a create it answers with `reconcile` leaves that doubt; `retry` and `pace` prove nothing was made. The
 * caller holds the destination's create gate throughout, so a doubt is settled before any other create of
 * ours can start. `refusedSleep`, when given, is the wait after a create the API refused to pace us (the
 * classifier's `pace`: a full queue, a rate limit), which admission control counts as a refusal; every
 * other retry (a 5xx, a timeout, a failed listing) waits on `sleep`.
 */
export async function submitBatch(
  api: BatchesApi,
  requestsPath: string,
  expected: { requests: number; since: Date; claimed: (id: string) => boolean; mayExist?: boolean },
  options: LifecycleOptions & { refusedSleep?: Sleep },
): Promise<Submitted> {
  const body = await createBody(requestsPath);
  // `mayExist`: an earlier process journaled this submission and died before recording its answer.
  let doubt = expected.mayExist === true;
  // Which call an attempt failed in: the listing that settles a doubt, or the create itself.
  let calling: 'list' | 'create' = 'list';
  // The last attempt was a create the API refused to pace us.
  let refused = false;
  return withRetry(
    async () => {
      checkStop(options);
      calling = 'list';
      if (doubt) {
        const [found, ...others] = await findUnrecordedBatches(api, expected);
        if (found) return { batch: found, reconciled: true, alternates: others.map((b) => b.id) };
        doubt = false;
      }
      calling = 'create';
      // A stream is read once, so each attempt gets its own; a file that changed under it fails on the
      // Content-Length, not silently.
      const batch = await api.create(body);
      return { batch, reconciled: false, alternates: [] };
    },
    (err, attempt) => {
      // A failed listing leaves the doubt as it was; a failed create sets it anew.
      const failure = classifyApiFailure(err, { call: calling, attempt, now: options.now() });
      if (calling === 'create') doubt = failure.action === 'reconcile';
      refused = calling === 'create' && failure.action === 'pace';
      return failure;
    },
    options.retry,
    (ms, wake) => (refused && options.refusedSleep ? options.refusedSleep(ms, wake) : options.sleep(ms, wake)),
    (_err, wait, failure) =>
      options.log(
        `create failed (${failure.error('create').message}); retrying in ${wait} ms${doubt ? ' after checking whether it went through' : ''}`,
      ),
  ).catch((err) => {
    if (err instanceof Interrupted) throw err;
    throw classifyApiFailure(err, { call: calling }).error('creating a batch');
  });
}

/** Retrieve is idempotent: transient failures are retried, and a 404 soon after the create too (see EARLY_404_WINDOW_MS). */
async function retrieve(
  api: BatchesApi,
  batchId: string,
  options: LifecycleOptions & { createdAt?: number },
): Promise<MessageBatch> {
  const context = {
    call: 'retrieve',
    ...(options.createdAt !== undefined ? { createdAt: options.createdAt } : {}),
  } as const;
  const classify = (err: unknown, attempt: number) =>
    classifyApiFailure(err, { ...context, attempt, now: options.now() });
  return withRetry(() => api.retrieve(batchId), classify, options.retry, options.sleep).catch((err) => {
    const failure = classifyApiFailure(err, { ...context, now: options.now() });
    if (failure.kind === 'not_found') throw new BatchLost(batchId, 'the API answers 404 (not found) for this batch id');
    throw failure.error(`polling batch ${batchId}`);
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
export async function downloadResults(
  api: BatchesApi,
  batchId: string,
  path: string,
  options: LifecycleOptions,
): Promise<number> {
  return withRetry(
    async () => {
      checkStop(options);
      const batch = await api.retrieve(batchId);
      if (!batch.results_url) {
        throw transientError(
          RESULTS_NOT_READY,
          `batch ${batchId} has no results_url yet (processing_status ${batch.processing_status})`,
        );
      }
      const response = await api.results(batch.results_url);
      return writeBody(response, path, options);
    },
    (err, attempt) => classifyApiFailure(err, { call: 'results', attempt, now: options.now() }),
    options.retry,
    options.sleep,
    (err, wait) =>
      options.log(
        `results download for ${batchId} failed (${(err as Error).message}); starting it again in ${wait} ms`,
      ),
  ).catch((err) => {
    if (err instanceof Interrupted) throw err;
    const failure = classifyApiFailure(err, { call: 'results' });
    if (failure.kind === 'not_found') throw new BatchLost(batchId, 'its results file is gone (HTTP 404)');
    throw failure.error(`downloading results of batch ${batchId}`);
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

/** Cancels a batch; an already-ended batch is not an error (there is nothing left to stop). */
export async function cancelBatch(api: BatchesApi, batchId: string): Promise<MessageBatch | undefined> {
  try {
    return await api.cancel(batchId);
  } catch (err) {
    const failure = classifyApiFailure(err, { call: 'cancel' });
    if (failure.action === 'settled') return undefined;
    throw failure.error(`cancelling batch ${batchId}`);
  }
}
