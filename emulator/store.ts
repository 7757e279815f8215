import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { answerText, answerUsage, type CacheBook, type ResponderParams } from './responder.js';
import { ERROR_MESSAGES, type Faults } from './faults.js';
import { opaqueId, rfc3339, seededRandom, shuffledOrder, unitHash } from './random.js';
import { EmulatedHttpError, validateParams, type BatchRequestInput, type ParamsProblem } from './validate.js';
import { MAX_INPUT_TOKENS, minCacheableTokens } from './models.js';
import { SubmissionLog } from './submission-log.js';

const HOUR = 3_600_000;
const PROCESSING_WINDOW_MS = 24 * HOUR;
const RESULTS_KEPT_MS = 29 * 24 * HOUR;
/** A cancel takes this long to settle into `ended`. */
const CANCEL_SETTLE_MS = 20;

export type ProcessingStatus = 'in_progress' | 'canceling' | 'ended';
export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}
type ResultType = 'succeeded' | 'errored' | 'canceled' | 'expired';

/** One batch as the emulator keeps it. Results live on disk (one line per request), never in memory. */
interface StoredBatch {
  id: string;
  seq: number;
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  cancelInitiatedAt: number | null;
  status: ProcessingStatus;
  total: number;
  processingMs: number;
  neverFinish: boolean;
  counts: RequestCounts;
  notFoundLeft: number;
  /**
   * 2: the `.pending` file holds the final result lines, in results order. Absent (batches persisted by an older
   * emulator): `index \t type \t custom_id \t result-line` lines.
   */
  pendingFormat?: 2;
  /** The seed the results order was shuffled with; null: request order. */
  orderSeed?: number | null;
  /** request_counts if every request is processed (the pending file's own counts). */
  decided?: RequestCounts;
}

/** What create decided for each request, in request order; the result lines are written from it afterwards. */
interface Plan {
  /** Per request: one of the kinds below, plus TTL_1H when its cache write was a 1-hour one. */
  kinds: Uint8Array;
  /** Per request: input, cache-read and cache-write tokens (succeeded requests only). */
  usage: Float64Array;
  /** The validation problem of each invalid request, by index. */
  problems: Map<number, ParamsProblem>;
  erroredType: string;
}
const INVALID = 1;
const ERRORED = 2;
const EXPIRED = 3;
const SUCCEEDED = 4;
const SUCCEEDED_UNUSABLE = 5;
const KIND = 7;
const TTL_1H = 8;
/** Results are written in pieces of this many bytes. */
const CHUNK_BYTES = 128 * 1024;
/** A results line starts `{"custom_id":"<id>","result":{"type":"<type>"` (custom_ids need no JSON escaping). */
const LINE_HEAD = '{"custom_id":"';
const TYPE_AFTER_ID = '","result":{"type":"';

const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

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

export interface MessageBatchView {
  id: string;
  type: 'message_batch';
  processing_status: ProcessingStatus;
  request_counts: RequestCounts;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

const notFound = () => new EmulatedHttpError(404, 'not_found_error', 'Not found');
const zeroCounts = (): RequestCounts => ({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 });

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
    if (this.options.persist) writeFileSync(join(this.options.dir, `${batch.id}.meta.json`), JSON.stringify(batch), { mode: 0o600 });
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
    const plan = this.plan(requests, faults, decided);
    // ...and written in results order, a chunk at a time: the batch's lines are never all in memory.
    const order = orderSeed === null ? undefined : shuffledOrder(requests.length, seededRandom(orderSeed));
    const out = await LineWriter.open(this.pendingPath(id));
    try {
      for (let k = 0; k < requests.length; k++) {
        const index = order ? order[k]! : k;
        const wait = this.writeResult(out, requests[index]!, index, plan);
        if (wait) await wait;
      }
    } catch (err) {
      await out.end().catch(() => undefined);
      rmSync(this.pendingPath(id), { force: true });
      throw err;
    }
    await out.end();
    this.submissionLog.record(id, requests.map((r) => r.custom_id));
    if (this.options.keepRequests) this.requests.set(id, requests);
    this.batches.set(id, batch);
    this.save(batch);
    return batch;
  }

  /**
   * Everything about each request's result that depends on what came before it — fault attempts per custom_id,
   * prompt-cache writes and reads — decided in request order, and the counts of the result types into `counts`.
   */
  private plan(requests: BatchRequestInput[], faults: Faults, counts: RequestCounts): Plan {
    const n = requests.length;
    const plan: Plan = { kinds: new Uint8Array(n), usage: new Float64Array(n * 3), problems: new Map(), erroredType: faults.erroredType };
    const failsFirst = (kind: string, id: string, share: number, attempts: number) => {
      if (share <= 0 || unitHash(kind, id) >= share) return false;
      const key = `${kind}:${id}`;
      const times = this.failedTimes.get(key) ?? 0;
      if (times >= attempts) return false;
      this.failedTimes.set(key, times + 1);
      return true;
    };
    const cache = this.cacheBook();
    for (let i = 0; i < n; i++) {
      const request = requests[i]!;
      const id = request.custom_id;
      const problem = validateParams(request.params, this.options.models);
      if (problem) {
        plan.kinds[i] = INVALID;
        plan.problems.set(i, problem);
        counts.errored++;
      } else if (failsFirst('errored', id, faults.erroredShare, faults.erroredAttempts)) {
        plan.kinds[i] = ERRORED;
        counts.errored++;
      } else if (failsFirst('expired', id, faults.expiredShare, faults.expiredAttempts)) {
        plan.kinds[i] = EXPIRED;
        counts.expired++;
      } else {
        const unusable = faults.invalidOutputShare > 0 && unitHash('invalid', id) < faults.invalidOutputShare;
        const usage = answerUsage(request.params as unknown as ResponderParams, cache, this.options.minCacheableTokens ?? minCacheableTokens(request.params.model as string));
        const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
        if (prompt > MAX_INPUT_TOKENS) {
          plan.kinds[i] = INVALID;
          plan.problems.set(i, { type: 'invalid_request_error', message: `prompt is too long: ${prompt} tokens > ${MAX_INPUT_TOKENS} maximum` });
          counts.errored++;
          continue;
        }
        plan.kinds[i] = (unusable ? SUCCEEDED_UNUSABLE : SUCCEEDED) | (usage.cacheTtl === '1h' ? TTL_1H : 0);
        plan.usage[i * 3] = usage.inputTokens;
        plan.usage[i * 3 + 1] = usage.cacheReadTokens;
        plan.usage[i * 3 + 2] = usage.cacheWriteTokens;
        counts.succeeded++;
      }
    }
    return plan;
  }

  /**
   * Writes the results line of request `index`, as planned. A succeeded line is built as text, one JSON.stringify
   * per string, exactly what JSON.stringify of { custom_id, result: { type: 'succeeded', message } } gives.
   */
  private writeResult(out: LineWriter, request: BatchRequestInput, index: number, plan: Plan): Promise<void> | undefined {
    const id = request.custom_id;
    const kind = plan.kinds[index]! & KIND;
    if (kind === INVALID) {
      const problem = plan.problems.get(index)!;
      return out.line(JSON.stringify({ custom_id: id, result: errorBody(problem.type, problem.message) }));
    }
    if (kind === ERRORED) return out.line(JSON.stringify({ custom_id: id, result: errorBody(plan.erroredType, ERROR_MESSAGES[plan.erroredType] ?? 'Error') }));
    if (kind === EXPIRED) return out.line(JSON.stringify({ custom_id: id, result: { type: 'expired' } }));
    const params = request.params as unknown as ResponderParams;
    const a = answerText(params, kind === SUCCEEDED_UNUSABLE);
    const input = num(plan.usage[index * 3]!);
    const read = num(plan.usage[index * 3 + 1]!);
    const write = num(plan.usage[index * 3 + 2]!);
    const ttl1h = (plan.kinds[index]! & TTL_1H) !== 0;
    const head =
      `{"custom_id":${JSON.stringify(id)},"result":{"type":"succeeded","message":{"id":"${opaqueId('msg_emulator_')}",` +
      `"type":"message","role":"assistant","model":${JSON.stringify(params.model)},"content":[{"type":"text","text":`;
    // Only numbers and fixed ASCII: the tail can be written as latin1.
    const asciiTail =
      `,"citations":null}],"stop_reason":"${a.stopReason}","stop_sequence":null,"stop_details":null,"container":null,` +
      `"diagnostics":null,"usage":{"input_tokens":${input},"output_tokens":${num(a.outputTokens)},` +
      `"cache_creation_input_tokens":${write},"cache_read_input_tokens":${read},` +
      `"cache_creation":{"ephemeral_1h_input_tokens":${ttl1h ? write : '0'},"ephemeral_5m_input_tokens":${ttl1h ? '0' : write}},` +
      `"inference_geo":null,"output_tokens_details":null,"server_tool_use":null,"service_tier":"batch","speed":null}}}}`;
    return out.line(head, JSON.stringify(a.text), asciiTail);
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
    for (const batch of this.batches.values()) if (batch.status !== 'ended' && this.options.now() < this.endAt(batch)) queued += batch.total;
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
    else if (endAt === cancelAt) await this.finalize(batch, 'canceled', processedShare(batch.cancelInitiatedAt!), endAt);
    else await this.finalize(batch, 'expired', processedShare(batch.expiresAt), endAt);
  }

  /** Writes the final results file: requests not processed by now become `unprocessedAs`. */
  private finalize(batch: StoredBatch, unprocessedAs: 'canceled' | 'expired', processedShare: number, endedAt: number): Promise<void> {
    const running = this.finalizing.get(batch.id);
    if (running) return running;
    const done = (async () => {
      const processed = Math.floor(batch.total * processedShare);
      const damage = this.resultsDamage(batch);
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
  private async rewrite(batch: StoredBatch, unprocessedAs: 'canceled' | 'expired', processed: number, damage: Damage): Promise<RequestCounts> {
    const counts = zeroCounts();
    const out = createWriteStream(this.resultsPath(batch.id), { mode: 0o600 });
    const current = batch.pendingFormat === 2;
    // Where each line of the pending file stands in request order: the creation's shuffle, made again.
    const order = current && batch.orderSeed != null ? shuffledOrder(batch.total, seededRandom(batch.orderSeed)) : undefined;
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

  /**
   * The results-file faults for one batch, as a filter over its lines in file order: each line comes out as
   * itself, as junk, or not at all; stray lines for custom_ids never sent are spread through the file. Counts
   * (request_counts) are not changed: the file disagrees with them, as a damaged download would. Undefined when
   * no such fault is set (every line comes out as itself).
   */
  private resultsDamage(batch: StoredBatch): Damage | undefined {
    const f = this.options.faults();
    let strays = Math.max(0, Math.floor(f.resultsStrayLines));
    const damaging =
      f.resultsTruncateAfterLines !== undefined || f.resultsMissingShare > 0 || f.resultsMalformedLines > 0 || f.resultsUnknownTypeShare > 0 || strays !== 0;
    if (!damaging) return undefined;
    const random = seededRandom(this.options.seed * 31 + batch.seq);
    let written = 0;
    let malformed = 0;
    // Spread the stray lines: each of the batch's lines is followed by one with this chance.
    const strayChance = batch.total > 0 ? strays / batch.total : 1;
    const hit = (customId: string): boolean => {
      const key = `results:${customId}`;
      const times = this.failedTimes.get(key) ?? 0;
      if (times >= f.resultsFaultAttempts) return false;
      this.failedTimes.set(key, times + 1);
      return true;
    };
    const stray = (): string => {
      const customId = `stray_${opaqueId('', 12)}`;
      const message = {
        id: opaqueId('msg_emulator_'),
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        content: [{ type: 'text', text: '[emulator] an answer to a request nobody sent', citations: null }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      };
      return JSON.stringify({ custom_id: customId, result: { type: 'succeeded', message } }) + '\n';
    };
    const straysAfter = (): string[] => {
      const out: string[] = [];
      if (strays > 0 && random() < strayChance) {
        strays--;
        out.push(stray());
      }
      return out;
    };
    return {
      line: (customId, text) => {
        const truncated = f.resultsTruncateAfterLines !== undefined && written >= f.resultsTruncateAfterLines;
        if (truncated && hit(customId)) return [];
        if (f.resultsMissingShare > 0 && unitHash('results-missing', customId) < f.resultsMissingShare && hit(customId)) return straysAfter();
        if (malformed < f.resultsMalformedLines && hit(customId)) {
          written++;
          return [malformedLine(customId, text, malformed++), ...straysAfter()];
        }
        if (f.resultsUnknownTypeShare > 0 && unitHash('results-unknown', customId) < f.resultsUnknownTypeShare) {
          text = JSON.stringify({ custom_id: customId, result: { type: 'deferred', deferred_until: rfc3339(this.options.now() + HOUR) } });
        }
        written++;
        return [text + '\n', ...straysAfter()];
      },
      end: () => {
        const out: string[] = [];
        // Strays not placed yet go last (unless the file was cut short: it ends where it was cut).
        if (f.resultsTruncateAfterLines === undefined) while (strays-- > 0) out.push(stray());
        return out;
      },
    };
  }

  async cancel(id: string): Promise<StoredBatch> {
    const batch = await this.get(id);
    if (batch.status === 'ended') throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} has already ended and cannot be canceled`);
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
      throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} is still processing; cancel it and wait for it to end before deleting`);
    }
    this.batches.delete(id);
    this.requests.delete(id);
    for (const path of [this.resultsPath(id), join(this.options.dir, `${id}.meta.json`)]) rmSync(path, { force: true });
  }

  /** The results file of an ended batch, or the API's refusal. */
  async resultsFile(id: string): Promise<string> {
    const batch = await this.get(id, true);
    if (batch.status !== 'ended') throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} has not finished processing; results are not available yet`);
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

/**
 * Lines into a file, each encoded on its own into one of two buffers: one fills while the other is written.
 * Encoding a long string concatenated from many lines costs several times more (it is flattened first), and a
 * fresh buffer per write costs page faults and garbage collection.
 */
class LineWriter {
  private buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private spare = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private used = 0;
  /** The write of the spare buffer, if one is under way. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: FileHandle) {}

  static async open(path: string): Promise<LineWriter> {
    return new LineWriter(await open(path, 'w', 0o600));
  }

  /**
   * Adds a line, `text` + `middle` + `asciiTail` and a newline (in three parts: the text of an answer is often
   * two-byte, and the rest encodes faster on its own); a promise to wait for when the line had to wait for a buffer.
   */
  line(text: string, middle = '', asciiTail = ''): Promise<void> | undefined {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (this.used + (text.length + middle.length + asciiTail.length) * 3 + 1 > CHUNK_BYTES) return this.spill(text, middle, asciiTail);
    this.put(text, middle, asciiTail);
    return undefined;
  }

  /** Writes what is left and closes the file (also after a failure). */
  async end(): Promise<void> {
    try {
      await this.writing;
      this.flush();
      await this.writing;
    } finally {
      await this.file.close();
    }
  }

  private put(text: string, middle: string, asciiTail: string): void {
    this.used += this.buffer.write(text, this.used);
    if (middle.length > 0) this.used += this.buffer.write(middle, this.used);
    if (asciiTail.length > 0) this.used += this.buffer.write(asciiTail, this.used, 'latin1');
    this.buffer[this.used++] = 0x0a;
  }

  private async spill(text: string, middle: string, asciiTail: string): Promise<void> {
    await this.writing;
    this.flush();
    if ((text.length + middle.length + asciiTail.length) * 3 + 1 <= CHUNK_BYTES) return this.put(text, middle, asciiTail);
    // A line longer than a buffer goes on its own.
    await this.writing;
    this.start(Buffer.from(`${text}${middle}${asciiTail}\n`));
  }

  /** Starts writing the filled buffer (the previous write must be over) and fills the other one from now on. */
  private flush(): void {
    if (this.used === 0) return;
    const full = this.buffer.subarray(0, this.used);
    [this.buffer, this.spare] = [this.spare, this.buffer];
    this.used = 0;
    this.start(full);
  }

  private start(bytes: Buffer): void {
    this.writing = this.writeAll(bytes);
    // A failure surfaces where `writing` is awaited next, not as an unhandled rejection meanwhile.
    this.writing.catch(() => undefined);
  }

  private async writeAll(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; ) at += (await this.file.write(bytes, at, bytes.length - at)).bytesWritten;
  }
}

interface Damage {
  line: (customId: string, text: string) => Array<string | Buffer>;
  end: () => Array<string | Buffer>;
}
const UNDAMAGED: Damage = { line: (_customId, text) => [`${text}\n`], end: () => [] };

/** custom_id and result type of a results line, read from its fixed start (JSON.parse for anything else). */
function lineHead(line: string): [string, ResultType] {
  if (line.startsWith(LINE_HEAD)) {
    const idEnd = line.indexOf('"', LINE_HEAD.length);
    const typeAt = idEnd + TYPE_AFTER_ID.length;
    if (idEnd > 0 && line.startsWith(TYPE_AFTER_ID, idEnd)) return [line.slice(LINE_HEAD.length, idEnd), line.slice(typeAt, line.indexOf('"', typeAt)) as ResultType];
  }
  const parsed = JSON.parse(line) as { custom_id: string; result: { type: ResultType } };
  return [parsed.custom_id, parsed.result.type];
}

/** The n-th junk line that stands in for a real one: what a damaged results file can hold. */
function malformedLine(customId: string, text: string, n: number): string | Buffer {
  switch (n % 6) {
    case 0:
      return text.slice(0, Math.max(1, Math.floor(text.length / 2))) + '\n'; // cut off mid-object
    case 1:
      return '<html><body>502 Bad Gateway</body></html>\n'; // not JSON at all
    case 2:
      return Buffer.concat([Buffer.from(`{"custom_id":"${customId}","result":{"type":"succeeded","note":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}\n')]);
    case 3:
      return JSON.stringify({ custom_id: customId }) + '\n'; // JSON, but no result
    case 4:
      return JSON.stringify([customId, 'succeeded']) + '\n'; // JSON, not an object
    default:
      return '\n'; // a blank line (the SDK's JSONL decoder throws on it)
  }
}

export function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'errored', error: { type: 'error', error: { type, message }, request_id: null } };
}
