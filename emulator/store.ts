import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rename } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  zeroCounts,
  type MessageBatchView,
  type RequestCounts,
  type ResultType,
  type StoredBatch,
} from './batch-record.js';
import type { Faults } from './faults.js';
import { LineWriter } from './line-writer.js';
import { opaqueId, rfc3339, seededRandom, shuffledOrder } from './random.js';
import type { CacheBook } from './responder.js';
import { lineHead, planResults, writeResult } from './result-lines.js';
import { resultsDamage, UNDAMAGED, type Damage } from './results-damage.js';
import { SubmissionLog } from './submission-log.js';
import { EmulatedHttpError, type BatchRequestInput } from './validate.js';

export type { MessageBatchView, ProcessingStatus, RequestCounts } from './batch-record.js';

const HOUR = 3_600_000;
const PROCESSING_WINDOW_MS = 24 * HOUR;
const RESULTS_KEPT_MS = 29 * 24 * HOUR;
/** A cancel takes this long to settle into `ended`. */
const CANCEL_SETTLE_MS = 20;

export interface StoreOptions {
  dir: string;
  now: () => number;
  /** How long a batch takes (API ms), from its creation index and its number of requests. */
  processingMs: (batchIndex: number, requests: number) => number;
  faults: () => Faults;
  models: ReadonlySet<string>;
  seed: number;
  shuffleResults: boolean;
  keepRequests: boolean;
  /** Overrides every model's own minimum (see minCacheableTokens in models.ts). */
  minCacheableTokens: number | undefined;
  persist: boolean;
}

const notFound = () => new EmulatedHttpError(404, 'not_found_error', 'Not found');

/** Batches and their lifecycle: in_progress → (canceling →) ended, driven lazily by the (virtual) clock. */
export class BatchStore {
  private readonly batches = new Map<string, StoredBatch>();
  private readonly requests = new Map<string, BatchRequestInput[]>();
  private readonly finalizing = new Map<string, Promise<void>>();
  private readonly failedTimes = new Map<string, number>();
  /** Every create per custom_id, on disk: counts without a map that grows with every request. */
  readonly submissionLog: SubmissionLog;
  private readonly cachedPrefixes = new Map<string, number>();
  private seq = 0;

  constructor(private readonly options: StoreOptions) {
    // Inside the destination's control folder when embedded: private, like the rest of the bookkeeping.
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.submissionLog = new SubmissionLog(options.dir, options.persist);
    if (options.persist) this.load();
  }

  private load(): void {
    for (const name of readdirSync(this.options.dir)) {
      if (!name.endsWith('.meta.json')) continue;
      const batch = JSON.parse(readFileSync(join(this.options.dir, name), 'utf8')) as StoredBatch;
      this.batches.set(batch.id, batch);
      this.seq = Math.max(this.seq, batch.seq + 1);
    }
  }

  private save(batch: StoredBatch): void {
    if (this.options.persist)
      writeFileSync(join(this.options.dir, `${batch.id}.meta.json`), JSON.stringify(batch), { mode: 0o600 });
  }

  private pendingPath(id: string) {
    return join(this.options.dir, `${id}.pending`);
  }
  resultsPath(id: string) {
    return join(this.options.dir, `${id}.jsonl`);
  }

  /** How many times each custom_id has been submitted, across all batches (since the data dir was new): a snapshot. */
  submissions(): ReadonlyMap<string, number> {
    return this.submissionLog.counts();
  }

  requestsOf(id: string): BatchRequestInput[] | undefined {
    return this.requests.get(id);
  }

  all(): StoredBatch[] {
    return [...this.batches.values()].sort((a, b) => a.seq - b.seq);
  }

  async create(requests: BatchRequestInput[]): Promise<StoredBatch> {
    const now = this.options.now();
    const faults = this.options.faults();
    const id = opaqueId('msgbatch_');
    const seq = this.seq++;
    const orderSeed = this.options.shuffleResults ? this.options.seed + seq : null;
    const decided = zeroCounts();
    const batch: StoredBatch = {
      id,
      seq,
      createdAt: now,
      expiresAt: now + PROCESSING_WINDOW_MS,
      endedAt: null,
      cancelInitiatedAt: null,
      status: 'in_progress',
      total: requests.length,
      processingMs: this.options.processingMs(seq, requests.length),
      neverFinish: faults.neverFinish,
      counts: zeroCounts(),
      notFoundLeft: faults.notFoundAfterCreate,
      pendingFormat: 2,
      orderSeed,
      decided,
    };
    // Answers are decided now, in request order (so prompt-cache writes precede reads)...
    const plan = planResults(requests, faults, decided, {
      models: this.options.models,
      minCacheableTokens: this.options.minCacheableTokens,
      cache: this.cacheBook(),
      failedTimes: this.failedTimes,
    });
    // ...and written in results order, a chunk at a time: the batch's lines are never all in memory.
    const order = orderSeed === null ? undefined : shuffledOrder(requests.length, seededRandom(orderSeed));
    const out = await LineWriter.open(this.pendingPath(id));
    try {
      for (let k = 0; k < requests.length; k++) {
        const index = order ? order[k]! : k;
        const wait = writeResult(out, requests[index]!, index, plan);
        if (wait) await wait;
      }
    } catch (err) {
      await out.end().catch(() => undefined);
      rmSync(this.pendingPath(id), { force: true });
      throw err;
    }
    await out.end();
    this.submissionLog.record(
      id,
      requests.map((r) => r.custom_id),
    );
    if (this.options.keepRequests) this.requests.set(id, requests);
    this.batches.set(id, batch);
    this.save(batch);
    return batch;
  }

  private cacheBook(): CacheBook {
    const now = this.options.now();
    return {
      touch: (key, ttlMs) => {
        const until = this.cachedPrefixes.get(key);
        this.cachedPrefixes.set(key, Math.max(until ?? 0, now + ttlMs));
        if (this.cachedPrefixes.size > 10_000) this.cachedPrefixes.delete(this.cachedPrefixes.keys().next().value!);
        return until !== undefined && until > now;
      },
    };
  }

  /** Requests waiting in the processing queue: those of every batch not ended by now (they leave with their batch). */
  queuedRequests(): number {
    let queued = 0;
    for (const batch of this.batches.values())
      if (batch.status !== 'ended' && this.options.now() < this.endAt(batch)) queued += batch.total;
    return queued;
  }

  /** When the batch ends: the first of finishing, a cancel settling, or the 24 h deadline. */
  private endAt(batch: StoredBatch): number {
    const finishAt = batch.neverFinish ? Infinity : batch.createdAt + Math.max(0, batch.processingMs);
    const cancelAt = batch.cancelInitiatedAt === null ? Infinity : batch.cancelInitiatedAt + CANCEL_SETTLE_MS;
    return Math.min(finishAt, cancelAt, batch.expiresAt);
  }

  /** The batch as of now: moves it along its lifecycle first. 404 for unknown or deleted ids. */
  async get(id: string, countsAsEarlyLookup = false): Promise<StoredBatch> {
    const batch = this.batches.get(id);
    if (!batch) throw notFound();
    if (countsAsEarlyLookup && batch.notFoundLeft > 0) {
      batch.notFoundLeft--;
      throw notFound();
    }
    await this.advance(batch);
    return batch;
  }

  /**
   * Ends the batch if, by now, it has ended: at whichever comes first of finishing, a cancel settling, or the
   * 24 h deadline. `ended_at` is that moment, not the moment someone happened to look.
   */
  private async advance(batch: StoredBatch): Promise<void> {
    if (batch.status === 'ended') return;
    const processedShare = (at: number) =>
      batch.neverFinish ? 0 : batch.processingMs <= 0 ? 1 : Math.min(1, (at - batch.createdAt) / batch.processingMs);
    const finishAt = batch.neverFinish ? Infinity : batch.createdAt + Math.max(0, batch.processingMs);
    const cancelAt = batch.cancelInitiatedAt === null ? Infinity : batch.cancelInitiatedAt + CANCEL_SETTLE_MS;
    const endAt = this.endAt(batch);
    if (this.options.now() < endAt) return;
    if (endAt === finishAt) await this.finalize(batch, 'expired', 1, endAt);
    else if (endAt === cancelAt)
      await this.finalize(batch, 'canceled', processedShare(batch.cancelInitiatedAt!), endAt);
    else await this.finalize(batch, 'expired', processedShare(batch.expiresAt), endAt);
  }

  /** Writes the final results file: requests not processed by now become `unprocessedAs`. */
  private finalize(
    batch: StoredBatch,
    unprocessedAs: 'canceled' | 'expired',
    processedShare: number,
    endedAt: number,
  ): Promise<void> {
    const running = this.finalizing.get(batch.id);
    if (running) return running;
    const done = (async () => {
      const processed = Math.floor(batch.total * processedShare);
      const damage = resultsDamage(batch, this.options.faults(), {
        seed: this.options.seed,
        now: this.options.now,
        failedTimes: this.failedTimes,
      });
      let counts: RequestCounts;
      if (processed >= batch.total && batch.decided && !damage) {
        // Every request ran and no fault touches the file: the pending file is the results file as it stands.
        await rename(this.pendingPath(batch.id), this.resultsPath(batch.id));
        counts = { ...batch.decided };
      } else {
        counts = await this.rewrite(batch, unprocessedAs, processed, damage ?? UNDAMAGED);
        rmSync(this.pendingPath(batch.id), { force: true });
      }
      batch.counts = counts;
      batch.status = 'ended';
      batch.endedAt = endedAt;
      this.save(batch);
    })();
    this.finalizing.set(batch.id, done);
    return done.finally(() => this.finalizing.delete(batch.id));
  }

  /**
   * Writes the results file from the pending one: requests from index `processed` on (in request order) become
   * `unprocessedAs`, and every line goes through `damage`. Returns the counts by result type.
   */
  private async rewrite(
    batch: StoredBatch,
    unprocessedAs: 'canceled' | 'expired',
    processed: number,
    damage: Damage,
  ): Promise<RequestCounts> {
    const counts = zeroCounts();
    const out = createWriteStream(this.resultsPath(batch.id), { mode: 0o600 });
    const current = batch.pendingFormat === 2;
    // Where each line of the pending file stands in request order: the creation's shuffle, made again.
    const order =
      current && batch.orderSeed != null ? shuffledOrder(batch.total, seededRandom(batch.orderSeed)) : undefined;
    const lines = createInterface({ input: createReadStream(this.pendingPath(batch.id)), crlfDelay: Infinity });
    let k = 0;
    for await (const line of lines) {
      let index: number;
      let type: ResultType;
      let customId: string;
      let text: string;
      if (current) {
        index = order ? order[k]! : k;
        [customId, type] = lineHead(line);
        text = line;
      } else {
        let at: string;
        [at, type, customId] = line.split('\t', 3) as [string, ResultType, string];
        index = Number(at);
        text = line.slice(at.length + type.length + customId.length + 3);
      }
      k++;
      if (index >= processed) {
        type = unprocessedAs;
        text = JSON.stringify({ custom_id: customId, result: { type: unprocessedAs } });
      }
      counts[type]++;
      for (const piece of damage.line(customId, text)) if (!out.write(piece)) await once(out, 'drain');
    }
    for (const piece of damage.end()) if (!out.write(piece)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    return counts;
  }

  async cancel(id: string): Promise<StoredBatch> {
    const batch = await this.get(id);
    if (batch.status === 'ended')
      throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} has already ended and cannot be canceled`);
    if (batch.status === 'in_progress') {
      batch.status = 'canceling';
      batch.cancelInitiatedAt = this.options.now();
      this.save(batch);
    }
    return batch;
  }

  async delete(id: string): Promise<void> {
    const batch = await this.get(id);
    if (batch.status !== 'ended') {
      throw new EmulatedHttpError(
        400,
        'invalid_request_error',
        `Batch ${id} is still processing; cancel it and wait for it to end before deleting`,
      );
    }
    this.batches.delete(id);
    this.requests.delete(id);
    for (const path of [this.resultsPath(id), join(this.options.dir, `${id}.meta.json`)]) rmSync(path, { force: true });
  }

  /** The results file of an ended batch, or the API's refusal. */
  async resultsFile(id: string): Promise<string> {
    const batch = await this.get(id, true);
    if (batch.status !== 'ended')
      throw new EmulatedHttpError(
        400,
        'invalid_request_error',
        `Batch ${id} has not finished processing; results are not available yet`,
      );
    if (this.isArchived(batch) || !existsSync(this.resultsPath(id))) throw notFound();
    return this.resultsPath(id);
  }

  private isArchived(batch: StoredBatch): boolean {
    return this.options.now() >= batch.createdAt + RESULTS_KEPT_MS;
  }

  view(batch: StoredBatch, origin: string): MessageBatchView {
    const ended = batch.status === 'ended';
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: batch.status,
      request_counts: ended ? { ...batch.counts } : { ...zeroCounts(), processing: batch.total },
      created_at: rfc3339(batch.createdAt),
      expires_at: rfc3339(batch.expiresAt),
      ended_at: batch.endedAt === null ? null : rfc3339(batch.endedAt),
      cancel_initiated_at: batch.cancelInitiatedAt === null ? null : rfc3339(batch.cancelInitiatedAt),
      archived_at: this.isArchived(batch) ? rfc3339(batch.createdAt + RESULTS_KEPT_MS) : null,
      results_url: ended ? `${origin}/v1/messages/batches/${batch.id}/results` : null,
    };
  }

  close(removeFiles: boolean): void {
    // A persisted log stays with the data dir (it audits every run against it); its text stays readable here.
    this.submissionLog.close(removeFiles);
    if (removeFiles) rmSync(this.options.dir, { recursive: true, force: true });
  }
}
