import { createHash, randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Anthropic from '@anthropic-ai/sdk';
import type { Catalog, ConfiguredStream } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { ConnectorError, configError, transientError } from '../common/errors.js';
import { Interrupted, type LifecycleOptions } from '../batches/lifecycle.js';
import { indexRound } from '../batches/results-file.js';
import { streamKey, type AirbyteRecord, type AirbyteStateMessage, type AirbyteTrace, type StreamDescriptor } from '../protocol/messages.js';
import { InputError, parseMessage, readLineBatches } from '../protocol/reader.js';
import type { MessageWriter } from '../protocol/writer.js';
import { RequestBuilder } from '../requests/build.js';
import { writeBatchOutput, writeContextBase, type BatchResults, type BatchWriteContext } from '../sinks/batch-writer.js';
import type { StreamTally } from '../journal/tally.js';
import { OutputThread } from '../sinks/output-thread.js';
import { heapLimitIsDefault, heapLimitMb, RECOMMENDED_HEAP_MB } from '../common/heap.js';
import type { RunManifest } from '../sinks/manifest.js';
import { resultCacheDir } from '../sinks/layout.js';
import { CheckpointTracker, HELD_MESSAGES_FILE } from './checkpoints.js';
import { failpoint } from '../common/failpoints.js';
import { textLines } from '../common/lines.js';
import { recordFingerprint } from '../resume/record-ledger.js';
import { ResendMatcher } from '../resume/resend.js';
import { REQUEST_INDEX_FILE, RequestIndex } from '../journal/request-index.js';
import { ResultCache } from '../cache/result-cache.js';
import { resolvePrices, type PriceTable } from '../cost/prices.js';
import { estimateRequestCost, requirePrice } from '../cost/estimate.js';
import type { SeqView } from '../journal/run-view.js';
import { BatchSpool, batchDir, recordsFile, type SpooledRecord } from '../journal/spool.js';
import { recordDataText } from '../protocol/record-span.js';
import { stateText } from '../protocol/state-echo.js';
import { BatchTask, type BatchTaskContext, type TaskResult } from './batch-task.js';
import { OpenBatch, RUN_STATE_STREAM } from './open-batch.js';
import { Progress } from './progress.js';
import { Limiter } from './limiter.js';
import { batchLimitsFor, buildLimits, skipFor } from './record-policy.js';
import { pruneOverwrittenRuns } from './overwrite.js';
import { claimedBatchIds, controlOf, loadRuns } from './run-registry.js';
import type { JournalEntry } from '../journal/journal.js';
import type { ControlState } from '../journal/control.js';
import { RunSession } from './run-session.js';
import { QueueAdmission } from './admission.js';
import { BatchPoller } from '../batches/poller.js';
import { timeScale } from '../batches/retry.js';

/** Airbyte's guidance for destinations: a checkpoint at least every 15 minutes of wall time. */
const CHECKPOINT_INTERVAL_MS = 15 * 60_000;
import { CreateGate } from './create-gate.js';

export interface WriteRunOptions {
  config: ConnectorConfig;
  catalog: Catalog;
  client: Anthropic;
  input: Readable;
  writer: MessageWriter;
  lifecycle: Omit<LifecycleOptions, 'log' | 'signal'>;
  /** Aborted by SIGTERM/SIGINT: stop reading, flush what is complete, leave the journal resumable. */
  signal?: AbortSignal;
  runId?: string;
}

export interface WriteOutcome {
  runId: string;
  resumed: boolean;
  /** Present when the run completed (every record is a row). */
  manifest?: RunManifest;
  pendingBatches: number;
  recordsIn: number;
  /** Records the platform re-sent that an interrupted attempt already owned (each is still exactly one row). */
  recordsAlreadyOwned: number;
  collectedRuns: string[];
}

/** Hash of every setting; the key never enters it. */
export function configFingerprint(config: ConnectorConfig): string {
  const { api_key: _key, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/**
 * Hash of the settings that change what is sent or how answers are read: a run may only be resumed under the
 * same requests. The output and prompt-shaping settings join the hash only when they differ from their
 * defaults, so a run journaled before they were part of it keeps its fingerprint under default settings.
 */
export function requestFingerprint(config: ConnectorConfig): string {
  const { model, prompt_template, stream_prompt_templates, system_prompt, max_tokens, temperature } = config;
  const { output_mode, labels, output_schema, prompt_caching, max_input_tokens, oversize_policy, max_batch_bytes } = config;
  const shaping = { output_mode, labels, output_schema, prompt_caching, max_input_tokens, oversize_policy, max_batch_bytes };
  const defaults = { output_mode: 'text', prompt_caching: true, oversize_policy: 'truncate', max_batch_bytes: 200_000_000 };
  const changed = Object.entries(shaping).filter(([k, v]) => v !== undefined && v !== defaults[k as keyof typeof defaults]);
  return createHash('sha256')
    .update(JSON.stringify({ model, prompt_template, stream_prompt_templates, system_prompt, max_tokens, temperature, ...(changed.length ? { shaping: Object.fromEntries(changed) } : {}) }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Where the STATEs a run echoed stood in each stream: journaled with each (see ResendMatcher). Entries from
 * before positions were journaled count per-stream STATEs up, as those runs did.
 */
function echoedPositions(): (e: Extract<JournalEntry, { type: 'state_emitted' }>) => Record<string, number> {
  const counted = new Map<string, number>();
  return (e) => {
    if (e.positions) return e.positions;
    if (e.stream === null) return {};
    counted.set(e.stream, (counted.get(e.stream) ?? 0) + e.records);
    return { [e.stream]: counted.get(e.stream)! };
  };
}

/** A seq's key at the create gate: seqs of different runs may be in doubt at once. */
const gateKey = (session: RunSession, seq: number) => `${session.runDir}#${seq}`;

/** A round left in doubt by an earlier process: its create was journaled, its batch id never was. */
const inDoubt = (view: SeqView) => {
  const last = view.rounds.at(-1);
  return !view.finalised && last !== undefined && last.submittingAt !== undefined && !last.batchId && !last.lost;
};

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
}

/**
 * One `write` invocation. First it picks up what earlier runs left: an interrupted run (killed, stopped,
 * failed) is resumed under its own run id, and detached runs (submit_only) have their finished batches
 * collected. Then it reads the protocol stream, spools records into batches on disk, and for every sealed
 * batch runs submit → poll → download → resubmit failures → Parquet in the background while reading goes
 * on. Source STATE messages are echoed once every record before them is committed: written to Parquet
 * (until_done), or durably spooled and submitted (submit_only, whose next run writes them).
 */
export class WriteRun {
  private session!: RunSession;
  /** Where the destination's journals, spools and lock live (see ControlState). */
  private control!: ControlState;
  private readonly builder: RequestBuilder;
  /** Opened with the run's session (held messages past its memory budget wait in the run's folder). */
  private tracker!: CheckpointTracker;
  private heldScheduled = false;
  /** What every batch's write context shares (schemas, Parquet options, output spec, prompt versions). */
  private readonly writeBase: ReturnType<typeof writeContextBase>;
  private outputThread: OutputThread | undefined;
  private readonly tasks: Promise<void>[] = [];
  private readonly stop = new AbortController();
  private readonly released = new Set<number>();
  private readonly inFlight = new Map<number, string>();
  private readonly progress: Progress;
  private claimed = new Set<string>();
  private emitChain: Promise<void> = Promise.resolve();
  /**
   * Our own run STATE goes out only once the source has sent a per-stream STATE without a platform id, and
   * never after one with an id or of another type: the Airbyte platform (1.7+) tags each source STATE with an
   * id and fails a sync on a destination STATE without one, and its GLOBAL or LEGACY state aggregation
   * refuses a STREAM state in between. Pipes and orchestrators that hand states back still get it.
   */
  private runState: 'unknown' | 'safe' | 'off' = 'unknown';
  /**
   * What the source said about itself on stdin: an ERROR trace, or streams it reported INCOMPLETE. The end of
   * the input then does not mean a stream is complete, and overwrite must not drop its older complete data.
   */
  private sourceFailed = false;
  private readonly incompleteStreams = new Set<string>();
  private open: OpenBatch | null = null;
  private nextSeq = 0;
  private lastSeqWithRecords = -1;
  private recoveredBoundary = -1;
  /** Recognises records the platform re-sends into a resumed run; counts each stream's records in any run. */
  private matcher = new ResendMatcher();
  private resumedRecords = false;
  private recordsIn = 0;
  private recordsAlreadyOwned = 0;
  private rejected = 0;
  /** Opened with the run's session (the table lives in its folder), closed and deleted when this write ends. */
  private requestIndex!: RequestIndex;
  private cache: ResultCache | undefined;
  private readonly prices: PriceTable;
  /** Estimated upper cost of what this run has submitted (or sealed for submission), for the budget gate. */
  private committedUsd = 0;
  private openUsd = 0;
  /** One Parquet writer at a time (each buffers a row group). */
  private readonly writers = new Limiter(1);
  /** Shared by every batch of this process: the account's queue and its RPM budget are per key, not per batch. */
  private readonly admission: QueueAdmission;
  private poller: BatchPoller | undefined;
  /** One create at a time per destination, doubts settled first (see CreateGate). */
  private readonly creates = new CreateGate();
  private readonly seqResults = new WeakMap<RunSession, Map<number, Promise<'finalised' | 'pending'>>>();
  private pending = 0;
  private failure: unknown = null;
  private readonly collected: string[] = [];

  constructor(private readonly o: WriteRunOptions) {
    this.builder = new RequestBuilder(o.config);
    this.admission = new QueueAdmission(o.config.max_queued_requests);
    this.prices = resolvePrices({ price_overrides: o.config.price_overrides, batch_discount: o.config.batch_discount });
    if (o.config.max_cost_usd !== undefined) requirePrice(o.config.model, this.prices);
    this.writeBase = writeContextBase(o.config, o.catalog, this.builder);
    this.progress = new Progress((send) => this.emit(() => send(o.writer)), o.config.progress_interval_seconds * 1000);
    if (o.signal?.aborted) this.stop.abort();
    else o.signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
  }

  private get waitForResults(): boolean {
    return this.o.config.wait === 'until_done';
  }

  async run(): Promise<WriteOutcome> {
    const destination = this.o.config.destination_path;
    this.control = controlOf(this.o.config);
    const lock = await this.control.lock();
    // A lease found taken over (an object store's writer that stalled past it) stops this run at once.
    lock.lost?.addEventListener('abort', () => this.fail(lock.lost?.reason), { once: true });
    try {
      const rc = this.o.config.result_cache;
      // The result cache stays in the working folder (the destination's own for a local folder).
      if (rc.enabled) this.cache = await this.openCache(resultCacheDir(this.control.workRoot, this.o.config.base_url), { maxEntries: rc.max_entries, maxBytes: rc.max_size_mb * 1024 * 1024 });
      this.outputThread = this.startOutputThread();
      if (this.o.config.sink === 'parquet') await this.log('INFO', `Parquet output is written ${this.outputThread ? 'on its own thread' : 'inline, on the main thread'}`);
      if (heapLimitIsDefault()) {
        await this.log('INFO', `Node runs with its default heap limit (${Math.round(heapLimitMb())} MB), under which V8 keeps more garbage; --max-old-space-size=${RECOMMENDED_HEAP_MB} (as the Docker image starts it) trades ~10% more garbage-collection CPU for a lower peak`);
      }
      return await this.runLocked(destination);
    } finally {
      try {
        await this.outputThread?.close();
        this.closeCache();
      } finally {
        await lock.release();
      }
    }
  }

  /** The result cache, or none (with a warning) when it cannot be opened: it saves later runs money, no more. */
  private async openCache(dir: string, options: { maxEntries: number; maxBytes: number }): Promise<ResultCache | undefined> {
    try {
      return ResultCache.open(dir, options);
    } catch (err) {
      if (err instanceof ConnectorError && err.failureType === 'config_error') throw err;
      await this.log('WARN', `result cache: ${(err as Error).message}; this run goes on without it`);
      return undefined;
    }
  }

  /** The cached answer to a request, if any; a cache that fails to read is switched off, not the run. */
  private cachedAnswer(customId: string): string | undefined {
    try {
      return this.cache?.get(customId);
    } catch (err) {
      this.cacheFailed(err);
      return undefined;
    }
  }

  /** A cache that failed in the middle of the run: it is switched off, with a warning, and the run goes on. */
  private cacheFailed(err: unknown): void {
    if (this.cache) void this.log('WARN', `result cache: ${(err as Error).message}; the cache is off for the rest of this run`);
    this.closeCache();
  }

  /** Closes the result cache; a cache that cannot be closed cleanly costs a warning, never the run's result. */
  private closeCache(): void {
    const cache = this.cache;
    this.cache = undefined;
    try {
      cache?.close();
    } catch (err) {
      void this.log('WARN', `result cache: ${(err as Error).message}; answers filed since its last checkpoint are filed again by a later run`);
    }
  }

  private async runLocked(destination: string): Promise<WriteOutcome> {
    const runs = await loadRuns(this.control);
    this.claimed = claimedBatchIds(runs);
    const unfinished = runs.filter((r) => !r.view.completed);
    const resume = unfinished.filter((r) => !r.view.detached && !r.view.cancelRequested).at(-1);
    if (resume && resume.view.requestFingerprint !== requestFingerprint(this.o.config)) {
      throw configError(
        'RUN_CONFIG_CHANGED',
        `run ${resume.view.runId} in ${destination} is unfinished and was started with different request settings (model, prompt templates, system prompt, max_tokens, temperature, or the output, prompt caching, token budget and oversize settings). ` +
          `Restore them and run again to resume it, or run "cancel --config <this config> --run ${resume.view.runId}" to stop it and have its finished results written before changing the config.`,
      );
    }
    for (const other of unfinished) if (other !== resume) this.collect(other.dir, other.view);

    this.session = resume
      ? await RunSession.reopen(this.control, resume.dir, resume.view)
      : await RunSession.create(this.control, this.o.runId ?? newRunId(), { config: configFingerprint(this.o.config), request: requestFingerprint(this.o.config) }, this.o.config.wait);
    const attempt = this.session.view.attempts + 1;
    await this.session.journal.append({ type: 'attempt_started', attempt, at: new Date().toISOString() });
    await this.log('INFO', `run ${this.session.runId} ${resume ? `resumed (attempt ${attempt})` : 'started'}; control files in ${this.session.runDir}`);
    this.requestIndex = new RequestIndex(join(this.session.runDir, REQUEST_INDEX_FILE));
    this.tracker = new CheckpointTracker(join(this.session.runDir, HELD_MESSAGES_FILE));
    try {
      if (resume) await this.recover();
    } catch (err) {
      this.requestIndex.close();
      this.tracker.close();
      throw err;
    }

    this.progress.start();
    // While batches process for hours, the run's own STATE (when the sync takes it) goes out at least every 15 min.
    const checkpoints = setInterval(() => this.emitRunState(), CHECKPOINT_INTERVAL_MS / timeScale());
    checkpoints.unref();
    try {
      await this.readInput();
      if (this.stop.signal.aborted) await this.open?.spool.discard();
      else await this.sealOpenBatch();
      this.open = null;
      await Promise.all(this.tasks);
      if (this.failure) throw this.failure;
      if (this.stop.signal.aborted) throw new Interrupted();
      return await this.finish();
    } catch (err) {
      this.failure ??= err;
      this.stop.abort();
      await Promise.allSettled(this.tasks);
      await this.emitChain;
      const reason = this.failure instanceof Interrupted ? 'stopped by signal' : (this.failure as Error).message;
      await this.session.journal.append({ type: 'run_interrupted', at: new Date().toISOString(), reason });
      this.progress.end(false);
      await this.emitChain;
      if (this.failure instanceof Interrupted) {
        throw transientError(
          'INTERRUPTED',
          `run ${this.session.runId} stopped on request before it finished; ${this.inFlight.size} submitted batches keep processing and the next write with this destination resumes the run without resubmitting them`,
        );
      }
      throw this.failure;
    } finally {
      clearInterval(checkpoints);
      this.progress.stop();
      this.requestIndex.close();
      this.tracker.close();
      this.session.close();
    }
  }

  /** Picks up an interrupted run: re-owns its sealed records and carries every unfinished batch on. */
  private async recover(): Promise<void> {
    const view = this.session.view;
    this.session.cleanLeftovers();
    const matcher = new ResendMatcher();
    matcher.addEchoed(await this.control.readJournal(this.session.runDir), echoedPositions());
    for (const seq of view.seqs.values()) {
      for await (const chunk of textLines(recordsFile(batchDir(this.session.runDir, seq.seq)))) for (const line of chunk) {
        const r = JSON.parse(line) as SpooledRecord;
        // Only requests this seq really sent can answer later duplicates (not skipped, cached or borrowed ones).
        if (r.answer_from === undefined && !r.skip && !r.cached) this.requestIndex.add(r.custom_id, seq.seq);
        matcher.addSpooled(streamKey({ name: r.stream, namespace: r.namespace }), recordFingerprint(r.stream, r.namespace, r.data));
      }
    }
    this.matcher = matcher;
    this.resumedRecords = true;
    this.nextSeq = this.session.nextSeq;
    this.recoveredBoundary = this.nextSeq - 1;
    this.committedUsd = [...view.seqs.values()].reduce((n, s) => n + (s.estimateUsd ?? 0), 0);
    for (const seq of view.seqs.values()) {
      if (seq.finalised) this.releaseSeq(seq.seq);
      else this.startTask(seq);
    }
    await this.log('INFO', `recovered ${view.seqs.size} sealed batches (${this.session.unfinalised.length} unfinished) holding ${this.matcher.size} records; re-sent copies of those records are not submitted again`);
  }

  /** Collects another unfinished run's batches under its own run id (detached, cancelled, or superseded). */
  private collect(dir: string, view: RunSession['view']): void {
    let session: RunSession | undefined;
    const task = (async () => {
      session = await RunSession.reopen(this.control, dir, view);
      const ctx = this.taskContext(session, { retryCanceled: false });
      const results = await Promise.all(
        [...view.seqs.values()].filter((s) => !s.finalised).map((s) => this.track(session!, s.seq, this.runTask(session!, ctx, s))),
      );
      if (results.every((r) => r.state === 'finalised')) {
        await session.complete(this.o.config.model, this.prices);
        this.collected.push(view.runId);
        await this.log('INFO', `collected run ${view.runId}: all its batches are written`);
      } else {
        await this.log('INFO', `run ${view.runId}: ${results.filter((r) => r.state === 'pending').length} batches still processing; a later run collects them`);
      }
    })()
      .catch((err) => this.fail(err))
      .finally(() => session?.close());
    this.tasks.push(task);
  }

  /**
   * Parquet output is written, and results files are parsed, on their own thread (see sinks/output-thread.ts)
   * so that both overlap with reading; records mode emits RECORD messages on stdout, which stays on this thread.
   * The thread is a second V8 heap (~50-100 MB more at peak), so a process whose heap is capped below 512 MB
   * (NODE_OPTIONS=--max-old-space-size, a small container) writes inline: it asked for memory over speed.
   * CLAUDE_BATCH_OUTPUT_THREAD=1 or 0 forces either way.
   */
  private startOutputThread(): OutputThread | undefined {
    const { config, catalog } = this.o;
    if (config.sink !== 'parquet') return undefined;
    const forced = process.env.CLAUDE_BATCH_OUTPUT_THREAD;
    const roomy = heapLimitMb() >= 512;
    if (forced === '0' || (forced !== '1' && !roomy)) return undefined;
    const { api_key: _key, ...keyless } = config;
    return new OutputThread({ config: keyless, streams: catalog.streams, keepAnswers: this.cache !== undefined });
  }

  /** Writes a seq's output (on the output thread when there is one) and caches its good answers. */
  private async writeOutput(ctx: BatchWriteContext, seq: number, recordsPath: string, results: BatchResults): Promise<StreamTally[]> {
    const done = this.outputThread
      ? await this.outputThread.write({ runId: ctx.runId, seq, recordsPath, results })
      : await writeBatchOutput(ctx, seq, recordsPath, results);
    const { records, tooLarge } = done.cacheable;
    try {
      if (records.length > 0 || tooLarge > 0) this.cache?.putEncoded(records, tooLarge);
    } catch (err) {
      // The cache saves later runs money; it is not worth this run's output (a full disk, a damaged table).
      this.cacheFailed(err);
    }
    return done.tallies;
  }

  private taskContext(session: RunSession, overrides: { retryCanceled?: boolean } = {}): BatchTaskContext {
    const config = this.o.config;
    const output: BatchWriteContext = {
      ...this.writeBase,
      runId: session.runId,
      keepAnswers: this.cache !== undefined,
      ...(config.sink !== 'parquet' ? { onRecord: (line: string) => this.o.writer.line(line) } : {}),
    };
    const mine = session === this.session;
    const lifecycle = {
      ...this.o.lifecycle,
      retry: { ...this.o.lifecycle.retry, patienceMs: config.api_patience_seconds * 1000 },
      signal: this.stop.signal,
      log: (m: string) => void this.log('WARN', m),
    };
    this.poller ??= new BatchPoller(this.o.client, lifecycle);
    return {
      client: this.o.client,
      journal: session.journal,
      runDir: session.runDir,
      save: session.save,
      lifecycle,
      poller: this.poller,
      admission: this.admission,
      resubmit: { retryExpired: config.retry_expired, retryCanceled: (overrides.retryCanceled ?? config.retry_canceled) && !session.view.cancelRequested },
      maxAttempts: session.view.cancelRequested ? 1 : config.max_attempts,
      cancelled: session.view.cancelRequested,
      ...(config.output_mode !== 'text' && config.retry_invalid_output ? { truncatedRetryMaxTokens: Math.min(config.max_tokens * 2, 128_000) } : {}),
      claimed: this.claimed,
      log: (m) => void this.log('INFO', m),
      onSubmitted: (seq, round, batchId) => {
        if (!mine) return;
        this.inFlight.set(seq, batchId);
        const requests = session.view.seqs.get(seq)?.rounds[round]?.requests ?? 0;
        this.progress.submitted(seq, batchId, requests);
        this.emitRunState();
        if (!this.waitForResults && round === 0) this.releaseSeq(seq);
      },
      onPoll: (_seq, batch) => this.progress.polled(batch),
      waitForSeq: (seq) => (session.view.seqs.get(seq)?.finalised ? Promise.resolve('finalised') : (this.seqResults.get(session)?.get(seq) ?? Promise.resolve('finalised'))),
      journalView: (seq) => session.view.seqs.get(seq),
      writeOutput: (seq, recordsPath, results) => this.writers.run(() => this.writeOutput(output, seq, recordsPath, results)),
      indexRound: (path, round, expected) => (this.outputThread ? this.outputThread.index({ path, round, expected }) : indexRound(path, round, expected)),
      submitting: (seq, work) => this.creates.run(gateKey(session, seq), work),
    };
  }

  /**
   * Runs a seq's task. A seq left in doubt by an earlier process is registered at the create gate first,
   * synchronously, so no fresh create can start before it is settled; its task's end settles it in any case.
   */
  private runTask(session: RunSession, ctx: BatchTaskContext, view: SeqView): Promise<TaskResult> {
    const key = gateKey(session, view.seq);
    if (!inDoubt(view)) return new BatchTask(ctx, view).run(this.waitForResults);
    this.creates.inherit(key);
    return new BatchTask(ctx, view).run(this.waitForResults).finally(() => this.creates.settle(key));
  }

  /** Remembers a seq's task so later seqs answered from it can wait for it. */
  private track(session: RunSession, seq: number, task: Promise<TaskResult>): Promise<TaskResult> {
    const bySeq = this.seqResults.get(session) ?? new Map<number, Promise<'finalised' | 'pending'>>();
    this.seqResults.set(session, bySeq);
    bySeq.set(seq, task.then((r) => r.state, () => 'pending' as const));
    return task;
  }

  private startTask(view: SeqView): void {
    // submit_only releases a seq's STATEs once its requests are submitted (onSubmitted). A seq resumed with its
    // batch already made, or with nothing to send (every record cached, skipped or answered by an earlier seq),
    // never passes through a submit: release it here, or its STATEs, and every later one, would never go out.
    const first = view.rounds[0];
    if (!this.waitForResults && first && (first.batchId !== undefined || first.requests === 0)) this.releaseSeq(view.seq);
    const ctx = this.taskContext(this.session);
    const task = this.track(this.session, view.seq, this.runTask(this.session, ctx, view))
      .then((result: TaskResult) => {
        if (result.state === 'pending') {
          this.pending++;
          return;
        }
        const rows = result.tallies.reduce((n, t) => n + t.rows, 0);
        this.progress.finished(view.rounds.map((r) => r.batchId), rows);
        this.inFlight.delete(view.seq);
        void this.log('INFO', `batch #${view.seq} written: ${result.tallies.map((t) => `${t.rows} rows → ${t.path}`).join(', ') || 'no rows'}`);
        this.emitRunState();
        this.releaseSeq(view.seq);
      })
      .catch((err) => this.fail(err));
    this.tasks.push(task);
  }

  private fail(err: unknown): void {
    if (err instanceof Interrupted && this.stop.signal.aborted) return;
    this.failure ??= err;
    this.stop.abort();
  }

  /** A seq's records are committed: echo the source states that were waiting on it. */
  private releaseSeq(seq: number): void {
    if (this.released.has(seq)) return;
    this.released.add(seq);
    this.tracker.batchFinalised(seq);
    this.sendHeld();
  }

  /** Where each stream stands when a source STATE is read: a resume's candidate for where the platform restarts. */
  private positionsAt(state: AirbyteStateMessage): Record<string, number> {
    const descriptor = state.type === 'STREAM' ? state.stream?.stream_descriptor : undefined;
    return descriptor ? { [streamKey(descriptor)]: this.matcher.position(streamKey(descriptor)) } : this.matcher.positions();
  }

  /** Sends every held message that may go out now (one pass queued at a time, each message pulled as sent). */
  private sendHeld(): void {
    if (this.heldScheduled) return;
    this.heldScheduled = true;
    this.emit(async () => {
      this.heldScheduled = false;
      for (let held = this.tracker.next(); held; held = this.tracker.next()) {
        // Journaled before it goes out, with where it stands in each stream: a resume takes every echoed STATE as
        // a place the platform may restart from (see ResendMatcher), so dying between the journal and stdout
        // costs nothing either way.
        if (held.kind === 'state') {
          const positions = held.positions;
          await this.session.journal.append({ type: 'state_emitted', stream: held.stream, records: held.records, ...(positions ? { positions } : {}) });
          failpoint('after_state_journaled');
        }
        await this.o.writer.line(held.line);
      }
    });
  }

  private async readInput(): Promise<void> {
    const input = this.o.input;
    const onAbort = () => input.destroy();
    this.stop.signal.addEventListener('abort', onAbort, { once: true });
    try {
      reading: for await (const lines of readLineBatches(input)) {
        for (const line of lines) {
          if (this.stop.signal.aborted) break reading;
          let message;
          try {
            message = parseMessage(line);
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            await this.reject(err);
            continue;
          }
          if (!message) continue;
          if (message.type === 'RECORD') await this.addRecord(message.record, line.lineNumber, line.text.length, recordDataText(line.text));
          else if (message.type === 'STATE') {
            this.noteSourceState(message.state);
            this.noteSourceState(message.state);
            this.tracker.stateSeen(message.state, stateText(line.text), this.lastSeqWithRecords, this.positionsAt(message.state));
            this.sendHeld();
          } else if (message.type === 'TRACE') this.noteSourceTrace(message.trace, line.text);
          // LOG and other message types from the source are not ours to act on.
        }
      }
    } catch (err) {
      if (!this.stop.signal.aborted) throw err;
    } finally {
      this.stop.signal.removeEventListener('abort', onAbort);
    }
  }

  /** A stdin line that is not a usable message: tolerated up to max_bad_records, each listed in rejected.jsonl. */
  private async reject(err: InputError): Promise<void> {
    this.rejected++;
    if (this.rejected > this.o.config.max_bad_records) {
      const limit = this.o.config.max_bad_records;
      throw new InputError(err.kind, err.lineNumber, `${err.message.replace(/^stdin line \d+: /, '')}${limit > 0 ? ` (more than max_bad_records = ${limit} bad lines)` : ' (set max_bad_records to skip such lines)'}`);
    }
    const entry = { line: err.lineNumber, kind: err.kind, message: err.message };
    await appendFile(join(this.session.runDir, 'rejected.jsonl'), JSON.stringify(entry) + '\n', { mode: 0o600 });
    await this.log('WARN', `${err.message}; skipped (${this.rejected} of at most ${this.o.config.max_bad_records} bad lines)`);
  }

  private async addRecord(record: AirbyteRecord, lineNumber: number, bytesIn: number, dataText: string | undefined): Promise<void> {
    const stream = this.o.catalog.find({ name: record.stream, namespace: record.namespace });
    if (!stream) {
      const ns = record.namespace ? `${record.namespace}.` : '';
      throw new ConnectorError('config_error', 'STREAM_NOT_IN_CATALOG', `stdin line ${lineNumber}: RECORD for stream "${ns}${record.stream}", which is not in the configured catalog`);
    }
    this.progress.recordRead(stream, bytesIn);
    this.recordsIn++;
    if (this.matcher.take(streamKey(stream), () => recordFingerprint(record.stream, stream.namespace, record.data))) {
      // Re-sent by the platform after a restart: the interrupted attempt already owns this record.
      this.recordsAlreadyOwned++;
      this.lastSeqWithRecords = Math.max(this.lastSeqWithRecords, this.recoveredBoundary);
      this.tracker.recordSeen(stream);
      return;
    }
    const config = this.o.config;
    // The caps of the batch this record would join (the open one, else the next).
    const limits = batchLimitsFor(config, this.open?.spool.seq ?? this.nextSeq);
    const request = this.builder.build(record, buildLimits(config), dataText);
    const skip = skipFor(request, config, lineNumber);
    // A full batch is sealed first, so "already in this batch" below means the batch the record joins.
    if (this.open && !this.open.hasRoomForRecord(limits.maxRequests)) await this.sealOpenBatch();
    // An identical request already sealed in an earlier batch of this run: answered from there, not sent.
    const sentIn = skip ? undefined : this.requestIndex.get(request.customId);
    const answerFrom = sentIn !== undefined && sentIn !== this.open?.spool.seq ? sentIn : undefined;
    const cached = skip || answerFrom !== undefined ? undefined : this.cachedAnswer(request.customId);
    const sends = !skip && answerFrom === undefined && !cached;
    const bytes = sends ? request.bytes : 0;
    if (this.open && sends && !this.open.fits(request.customId, bytes, limits)) await this.sealOpenBatch();
    if (this.stop.signal.aborted) return;
    if (!this.open) this.open = new OpenBatch(await BatchSpool.open(this.session.runDir, this.nextSeq++, this.session.save));
    const requestsBefore = this.open.requests;
    // Keys in the spool's usual order; optional ones only when set.
    const spooled: SpooledRecord = {
      line: lineNumber,
      stream: record.stream,
      namespace: stream.namespace,
      data: record.data,
      emitted_at: typeof record.emitted_at === 'number' ? record.emitted_at : Date.now(),
      raw_id: randomUUID(),
      custom_id: request.customId,
    };
    if (Array.isArray(record.meta?.changes) && record.meta.changes.length) spooled.changes = record.meta.changes;
    if (skip) spooled.skip = skip;
    if (request.truncated && !skip) spooled.truncated = true;
    if (answerFrom !== undefined) spooled.answer_from = answerFrom;
    if (cached) spooled.cached = cached;
    const backpressure = this.open.add(spooled, sends ? request.serialized : undefined, bytes, dataText);
    if (sends && this.open.requests > requestsBefore) {
      this.requestIndex.add(request.customId, this.open.spool.seq);
      if (config.max_cost_usd !== undefined) {
        this.openUsd += estimateRequestCost({ inputTokens: this.builder.inputTokens(request), maxTokens: config.max_tokens }, config.model, this.prices).upperUsd;
      }
    }
    this.lastSeqWithRecords = this.open.spool.seq;
    this.tracker.recordSeen(stream);
    if (backpressure) await backpressure;
  }

  private async sealOpenBatch(): Promise<void> {
    const batch = this.open;
    if (!batch) return;
    const max = this.o.config.max_cost_usd;
    if (max !== undefined && batch.requests > 0 && this.committedUsd + this.openUsd > max) {
      const usd = (n: number) => `$${n.toFixed(4)}`;
      throw configError(
        'BUDGET_EXCEEDED',
        `submitting batch #${batch.spool.seq} (${batch.requests} requests, estimated up to ${usd(this.openUsd)} with max_tokens as the output) would bring this run's estimated spend to ${usd(this.committedUsd + this.openUsd)}, over max_cost_usd ${usd(max)}; ` +
          `already submitted: ${usd(this.committedUsd)}, still collectable by the next write. Raise max_cost_usd, lower max_tokens, or send less input.`,
      );
    }
    const sealedUsd = this.openUsd;
    this.committedUsd += this.openUsd;
    this.openUsd = 0;
    this.open = null;
    await batch.spool.seal();
    const { seq } = batch.spool;
    await this.session.journal.append({ type: 'batch_sealed', seq, records: batch.records, requests: batch.requests, bytes: batch.bytes, ...(sealedUsd ? { estimate_usd: sealedUsd } : {}) });
    const view: SeqView = { seq, records: batch.records, requests: batch.requests, rounds: [{ round: 0, requests: batch.requests, downloaded: false }], tallies: [], finalised: false };
    this.session.view.seqs.set(seq, view);
    this.session.view.records += batch.records;
    failpoint('after_seal');
    this.startTask(view);
  }

  private async finish(): Promise<WriteOutcome> {
    // States that arrived after the last record (or with no records at all) are releasable now.
    this.releaseSeq(this.nextSeq);
    const base = {
      runId: this.session.runId,
      resumed: this.session.view.attempts > 0 && this.resumedRecords,
      pendingBatches: this.pending,
      recordsIn: this.recordsIn,
      recordsAlreadyOwned: this.recordsAlreadyOwned,
      collectedRuns: this.collected,
    };
    if (this.pending > 0) {
      await this.session.journal.append({ type: 'run_detached', at: new Date().toISOString(), pending: this.pending });
      await this.log('INFO', `run ${this.session.runId}: ${this.pending} batches submitted and still processing (wait = submit_only); the next write collects and writes them`);
      this.emitRunState();
      this.progress.end(true);
      await this.emitChain;
      return base;
    }
    // Every source STATE is on stdout before the run is journaled complete: a run killed after that point has
    // nothing left for the platform to re-send after its last STATE.
    await this.emitChain;
    const manifest = await this.session.complete(this.o.config.model, this.prices);
    const completed = new Set((await loadRuns(this.control)).filter((r) => r.view.completed).map((r) => r.view.runId));
    const partial = (stream: ConfiguredStream) => this.sourceFailed || this.incompleteStreams.has(streamKey(stream));
    const { removed: pruned, kept } = await pruneOverwrittenRuns(this.control.store, this.o.catalog, this.session.runId, completed, partial);
    if (pruned.length) await this.log('INFO', `overwrite: removed ${pruned.length} partitions of older runs (${pruned.join(', ')})`);
    if (kept.length) {
      const why = this.sourceFailed ? 'the source reported an error' : 'the source reported them incomplete';
      await this.log('WARN', `overwrite: older runs of ${kept.join(', ')} are kept, since ${why}; the next complete run replaces them`);
    }
    this.emitRunState();
    this.progress.end(true);
    await this.emitChain;
    return { ...base, manifest };
  }

  /**
   * A source's own TRACE: an ERROR or an INCOMPLETE stream keeps overwrite from dropping older data; in transform
   * mode ERROR and STREAM_STATUS go on downstream, as they came and in order, so the next destination learns
   * what this one did.
   */
  private noteSourceTrace(trace: AirbyteTrace | undefined, line: string): void {
    if (typeof trace !== 'object' || trace === null) return;
    if (trace.type === 'ERROR') this.sourceFailed = true;
    else if (trace.type === 'STREAM_STATUS' && trace.stream_status?.status === 'INCOMPLETE') {
      const descriptor = trace.stream_status.stream_descriptor as StreamDescriptor | undefined;
      if (descriptor && typeof descriptor.name === 'string') this.incompleteStreams.add(streamKey(descriptor));
    }
    if (this.o.config.sink !== 'parquet' && (trace.type === 'ERROR' || trace.type === 'STREAM_STATUS')) {
      this.tracker.traceSeen(line, this.lastSeqWithRecords);
      this.sendHeld();
    }
  }

  private noteSourceState(state: AirbyteStateMessage): void {
    if (this.runState === 'off' || !this.o.config.emit_run_state) return;
    if (state.type === 'STREAM' && !('id' in state)) {
      this.runState = 'safe';
      return;
    }
    this.runState = 'off';
    const why = state.type === 'STREAM' ? 'the platform tags source STATEs with ids' : `the source sends ${state.type} states`;
    void this.log('INFO', `run STATE messages (emit_run_state) are not sent in this sync: ${why}, and a STATE of our own would fail it`);
  }

  /** Our own checkpoint: the run id and the batches still in flight, as a STATE of a reserved stream. */
  private emitRunState(): void {
    if (!this.o.config.emit_run_state || this.runState !== 'safe') return;
    const state: AirbyteStateMessage = {
      type: 'STREAM',
      stream: {
        stream_descriptor: { name: RUN_STATE_STREAM },
        stream_state: {
          run_id: this.session.runId,
          pending_batches: [...this.inFlight].map(([seq, batch_id]) => ({ seq, batch_id })),
          finalised_batches: [...this.session.view.seqs.values()].filter((s) => s.finalised).length,
        },
      },
    };
    this.emit(() => this.o.writer.state(state));
  }

  /** Serialises output so states and logs from concurrent batches keep the order they were released in. */
  private emit(send: () => Promise<void>): void {
    this.emitChain = this.emitChain.then(send);
  }

  private log(level: 'INFO' | 'WARN', message: string): Promise<void> {
    this.emit(() => this.o.writer.log(level, message));
    return this.emitChain;
  }
}
