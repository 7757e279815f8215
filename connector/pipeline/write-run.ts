import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Catalog } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { transientError } from '../common/errors.js';
import { heapLimitIsDefault, heapLimitMb, RECOMMENDED_HEAP_MB } from '../common/heap.js';
import { Interrupted, type LifecycleOptions } from '../batches/lifecycle.js';
import { realSleep, timeScale, type Sleep } from '../batches/retry.js';
import { resolvePrices, type PriceTable } from '../cost/prices.js';
import { REQUEST_INDEX_FILE, RequestIndex } from '../journal/request-index.js';
import { streamKey, type AirbyteMessage, type AirbyteRecord, type AirbyteTrace } from '../protocol/messages.js';
import { recordDataText } from '../protocol/record-span.js';
import { stateText } from '../protocol/state-echo.js';
import type { MessageWriter } from '../protocol/writer.js';
import { RequestBuilder } from '../requests/build.js';
import { recordFingerprint } from '../resume/record-ledger.js';
import { ResendMatcher } from '../resume/resend.js';
import { keepWrittenRecords, openWrittenRecords } from '../resume/written-records.js';
import { failpoint } from '../common/failpoints.js';
import type { RunManifest } from '../sinks/manifest.js';
import { writeContextBase } from '../sinks/batch-writer.js';
import type { BatchesApi } from '../ports/batches-api.js';
import { systemClock, type Clock } from '../ports/clock.js';
import { BatchPacker } from './batch-packer.js';
import { CheckpointTracker, HELD_MESSAGES_FILE } from './checkpoints.js';
import { CostGate } from './cost-gate.js';
import { MessageEmitter } from './emitter.js';
import { assertSameRequests, configFingerprint, newRunId, requestFingerprint } from './fingerprints.js';
import { BadLines, readInput } from './input-loop.js';
import type { OutputSink } from './output-sink.js';
import { overwriteOlderRuns } from './overwrite.js';
import { SourceReport } from './source-report.js';
import { Progress } from './progress.js';
import { admitRecord, streamOf, type AdmissionDeps } from './record-admission.js';
import { recoverRecords } from './recovery.js';
import { claimedBatchIds, loadRuns, type KnownRun } from './run-registry.js';
import { RunResources } from './run-resources.js';
import { RunSession } from './run-session.js';
import { StateRelay } from './state-relay.js';
import { TaskRunner } from './task-runner.js';

export { configFingerprint, newRunId, requestFingerprint } from './fingerprints.js';

/** Airbyte's guidance for destinations: a checkpoint at least every 15 minutes of wall time. */
const CHECKPOINT_INTERVAL_MS = 15 * 60_000;

export interface WriteRunOptions {
  config: ConnectorConfig;
  catalog: Catalog;
  /** The Message Batches API (sdkBatchesApi over the SDK client, or a fake). */
  api: BatchesApi;
  input: Readable;
  writer: MessageWriter;
  /** Poll and retry timing; `sleep` defaults to the clock's, and `now` is the clock's. */
  lifecycle: Omit<LifecycleOptions, 'log' | 'signal' | 'sleep' | 'now'> & { sleep?: Sleep };
  /** Now, sleep and the checkpoint tick (default: the wall clock, scaled by CLAUDE_BATCH_TIME_SCALE). */
  clock?: Clock;
  /** Where rows go (default: the output thread or inline, see output-sink.ts). */
  sink?: OutputSink;
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

/**
 * One `write` invocation, as the README's data path: take the destination (lock, cache, sink); pick up what
 * earlier runs left (an interrupted run is resumed under its own run id, other unfinished runs are collected);
 * read stdin → admit each record → pack it into a spooled batch → seal → submit, poll, download, resubmit
 * failures, write rows (TaskRunner, in the background while reading goes on) → relay each source STATE once
 * every record before it is committed (StateRelay) → overwrite older runs → done.
 */
export class WriteRun {
  private readonly builder: RequestBuilder;
  private readonly prices: PriceTable;
  private readonly costs: CostGate;
  private readonly writeBase: ReturnType<typeof writeContextBase>;
  private readonly emitter: MessageEmitter;
  private readonly progress: Progress;
  private readonly clock: Clock;
  private readonly stop = new AbortController();
  private session!: RunSession;
  private relay!: StateRelay;
  private sent!: RequestIndex;
  private packer!: BatchPacker;
  private admission!: AdmissionDeps;
  private tasks!: TaskRunner;
  /** Recognises records the platform re-sends into a resumed run; counts each stream's records in any run. */
  private matcher = new ResendMatcher();
  private resumedRecords = false;
  private recordsIn = 0;
  private recordsAlreadyOwned = 0;
  /** What the source said about itself (an ERROR, INCOMPLETE streams): overwrite keeps older data then. */
  private readonly source = new SourceReport();

  constructor(private readonly o: WriteRunOptions) {
    this.builder = new RequestBuilder(o.config);
    this.prices = resolvePrices({ price_overrides: o.config.price_overrides, batch_discount: o.config.batch_discount });
    this.costs = new CostGate(o.config, this.prices);
    this.writeBase = writeContextBase(o.config, o.catalog, this.builder);
    this.clock = o.clock ?? systemClock(o.lifecycle.sleep ?? realSleep, timeScale());
    this.emitter = new MessageEmitter(o.writer);
    this.progress = new Progress(
      (send) => this.emitter.emit(send),
      o.config.progress_interval_seconds * 1000,
      this.clock,
    );
    if (o.signal?.aborted) this.stop.abort();
    else o.signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
  }

  async run(): Promise<WriteOutcome> {
    const log = (level: 'INFO' | 'WARN', m: string) => this.emitter.log(level, m);
    const resources = await RunResources.open(this.o.config, this.o.catalog, log, this.o.sink, this.stop.signal);
    try {
      if (this.o.config.sink === 'parquet') await log('INFO', `Parquet output is written ${resources.sink.where}`);
      if (heapLimitIsDefault()) {
        await log(
          'INFO',
          `Node runs with its default heap limit (${Math.round(heapLimitMb())} MB), under which V8 keeps more garbage; --max-old-space-size=${RECOMMENDED_HEAP_MB} (as the Docker image starts it) trades ~10% more garbage-collection CPU for a lower peak`,
        );
      }
      return await this.runLocked(resources);
    } finally {
      await resources.close();
    }
  }

  /** Picks up what earlier runs left, opens this run, reads the input into batches, and ends the run. */
  private async runLocked(resources: RunResources): Promise<WriteOutcome> {
    const runs = await loadRuns(resources.control);
    const unfinished = runs.filter((r) => !r.view.completed);
    const resume = this.runToResume(unfinished);
    const { config, api, lifecycle } = this.o;
    const sleep = lifecycle.sleep ?? this.clock.sleep;
    this.tasks = new TaskRunner({
      config,
      api,
      lifecycle: { ...lifecycle, sleep, now: () => this.clock.now() },
      clock: this.clock,
      stop: this.stop,
      emitter: this.emitter,
      progress: this.progress,
      resources,
      writeBase: this.writeBase,
      prices: this.prices,
      claimed: claimedBatchIds(runs),
    });
    const lost = resources.lockLost;
    lost?.addEventListener('abort', () => this.tasks.fail(lost.reason), { once: true });
    for (const other of unfinished)
      if (other !== resume) this.tasks.collect(await RunSession.reopen(resources.control, other.dir, other.view));

    await this.openSession(resume, resources, runs);
    try {
      if (resume) await this.recover();
    } catch (err) {
      this.sent.close();
      this.relay.close();
      throw err;
    }
    return await this.readAndWrite();
  }

  /** The interrupted run this write resumes, if any: it must have been started under the same requests. */
  private runToResume(unfinished: KnownRun[]): KnownRun | undefined {
    const resume = unfinished.filter((r) => !r.view.detached && !r.view.cancelRequested).at(-1);
    if (resume) assertSameRequests(resume.view, this.o.config);
    return resume;
  }

  /** This run's journal, its scratch index of sent requests, its STATE relay and its packer. */
  private async openSession(resume: KnownRun | undefined, resources: RunResources, runs: KnownRun[]): Promise<void> {
    const { config } = this.o;
    this.session = resume
      ? await RunSession.reopen(resources.control, resume.dir, resume.view)
      : await RunSession.create(
          resources.control,
          this.o.runId ?? newRunId(new Date(this.clock.now())),
          { config: configFingerprint(config), request: requestFingerprint(config) },
          config.wait,
          this.isoNow(),
        );
    const attempt = this.session.view.attempts + 1;
    await this.session.journal.append({ type: 'attempt_started', attempt, at: this.isoNow() });
    await this.emitter.log(
      'INFO',
      `run ${this.session.runId} ${resume ? `resumed (attempt ${attempt})` : 'started'}; control files in ${this.session.runDir}`,
    );
    // Completed runs of the same sync: their records, if sent again whole, already have their rows.
    const completed = await openWrittenRecords(resources.control, runs, this.o.catalog, {
      runId: this.session.runId,
      requestFingerprint: requestFingerprint(config),
    });
    this.matcher = completed.matcher;
    if (completed.note) await this.emitter.log('INFO', completed.note);
    this.sent = new RequestIndex(join(this.session.runDir, REQUEST_INDEX_FILE));
    const cachedAnswer = (id: string) => resources.cachedAnswer(id);
    this.admission = { config, builder: this.builder, sent: this.sent, cachedAnswer };
    this.relay = new StateRelay(
      this.emitter,
      this.session.journal,
      new CheckpointTracker(join(this.session.runDir, HELD_MESSAGES_FILE)),
      config.emit_run_state,
    );
    this.tasks.attach({ session: this.session, relay: this.relay, sendRunState: () => this.sendRunState() });
    this.packer = new BatchPacker(
      this.session,
      this.builder,
      this.costs,
      this.sent,
      () => this.clock.now(),
      (view) => this.tasks.start(view),
    );
  }

  private async readAndWrite(): Promise<WriteOutcome> {
    const { config } = this.o;
    this.progress.start();
    // While batches process for hours, the run's own STATE (when the sync takes it) goes out at least every 15 min.
    const stopTicks = this.clock.every(CHECKPOINT_INTERVAL_MS, () => this.sendRunState());
    try {
      const bad = new BadLines(config.max_bad_records, this.session.runDir, (m) => this.emitter.log('WARN', m));
      await readInput(this.o.input, this.stop.signal, {
        message: (m, line) => this.onMessage(m, line),
        reject: (err) => bad.reject(err),
      });
      if (this.stop.signal.aborted) await this.packer.discard();
      else await this.packer.seal();
      await this.tasks.settled();
      if (this.tasks.failure) throw this.tasks.failure;
      if (this.stop.signal.aborted) throw new Interrupted();
      return await this.finish();
    } catch (err) {
      return await this.interrupted(err);
    } finally {
      stopTicks();
      this.progress.stop();
      this.sent.close();
      this.relay.close();
      this.session.close();
    }
  }

  /** Picks up an interrupted run: re-owns its sealed records and carries every unfinished batch on. */
  private async recover(): Promise<void> {
    const view = this.session.view;
    const { committedUsd } = await recoverRecords(this.session, this.sent, this.matcher);
    this.resumedRecords = true;
    this.costs.restore(committedUsd);
    for (const seq of view.seqs.values()) {
      if (seq.finalised) this.relay.release(seq.seq);
      else this.tasks.start(seq);
    }
    await this.emitter.log(
      'INFO',
      `recovered ${view.seqs.size} sealed batches (${this.session.unfinalised.length} unfinished) holding ${this.matcher.size} records; re-sent copies of those records are not submitted again`,
    );
  }

  private async onMessage(message: AirbyteMessage, line: { lineNumber: number; text: string }): Promise<void> {
    if (message.type === 'RECORD')
      await this.addRecord(message.record, line.lineNumber, line.text.length, recordDataText(line.text));
    else if (message.type === 'STATE')
      this.relay.stateSeen(
        message.state,
        stateText(line.text),
        this.packer.lastSeqWithRecords,
        this.matcher.positionsAt(message.state),
      );
    else if (message.type === 'TRACE') this.noteSourceTrace(message.trace, line.text);
    // LOG and other message types from the source are not ours to act on.
  }

  private async addRecord(
    record: AirbyteRecord,
    lineNumber: number,
    bytesIn: number,
    dataText: string | undefined,
  ): Promise<void> {
    const stream = streamOf(this.o.catalog, record, lineNumber);
    this.progress.recordRead(stream, bytesIn);
    this.recordsIn++;
    if (
      this.matcher.take(streamKey(stream), () =>
        recordFingerprint(record.stream, stream.namespace, dataText ?? JSON.stringify(record.data)),
      )
    ) {
      // Re-sent by the platform after a restart: the interrupted attempt already owns this record.
      this.recordsAlreadyOwned++;
      this.packer.reowned();
      this.relay.recordSeen(stream);
      return;
    }
    const admitted = await admitRecord(this.admission, this.packer, record, lineNumber, dataText);
    if (this.stop.signal.aborted) return;
    const backpressure = await this.packer.add(record, stream, lineNumber, admitted, dataText);
    this.relay.recordSeen(stream);
    if (backpressure) await backpressure;
  }

  private async finish(): Promise<WriteOutcome> {
    // States that arrived after the last record (or with no records at all) are releasable now.
    this.relay.release(this.packer.seq);
    const { pending } = this.tasks;
    const base = {
      runId: this.session.runId,
      resumed: this.session.view.attempts > 0 && this.resumedRecords,
      pendingBatches: pending,
      recordsIn: this.recordsIn,
      recordsAlreadyOwned: this.recordsAlreadyOwned,
      collectedRuns: this.tasks.collected,
    };
    if (pending > 0) {
      await this.session.journal.append({ type: 'run_detached', at: this.isoNow(), pending });
      await this.emitter.log(
        'INFO',
        `run ${this.session.runId}: ${pending} batches submitted and still processing (wait = submit_only); the next write collects and writes them`,
      );
      return await this.end(base);
    }
    // Every source STATE is on stdout before the run is journaled complete: a run killed after that point has
    // nothing left for the platform to re-send after its last STATE.
    await this.emitter.flushed();
    const { runDir, view, control } = this.session;
    const kept = await keepWrittenRecords(runDir, view, this.o.catalog, this.matcher, control);
    if (kept) await this.emitter.log('INFO', kept);
    const manifest = await this.session.complete(this.o.config.model, this.isoNow(), this.prices);
    const log = (level: 'INFO' | 'WARN', m: string) => this.emitter.log(level, m);
    await overwriteOlderRuns(this.session.control, this.o.catalog, this.session.runId, this.source, log);
    const outcome = await this.end({ ...base, manifest });
    failpoint('after_run_completed');
    return outcome;
  }

  private async end(outcome: WriteOutcome): Promise<WriteOutcome> {
    this.sendRunState();
    this.progress.end(true);
    await this.emitter.flushed();
    return outcome;
  }

  /** A run that failed or was stopped: what is in flight settles, the journal says so, the error goes up. */
  private async interrupted(err: unknown): Promise<never> {
    const tasks = this.tasks;
    tasks.failure ??= err;
    this.stop.abort();
    await tasks.settled();
    await this.emitter.flushed();
    const reason = tasks.failure instanceof Interrupted ? 'stopped by signal' : (tasks.failure as Error).message;
    await this.session.journal.append({ type: 'run_interrupted', at: this.isoNow(), reason });
    this.progress.end(false);
    await this.emitter.flushed();
    if (tasks.failure instanceof Interrupted) {
      throw transientError(
        'INTERRUPTED',
        `run ${this.session.runId} stopped on request before it finished; ${tasks.inFlight.size} submitted batches keep processing and the next write with this destination resumes the run without resubmitting them`,
      );
    }
    throw tasks.failure;
  }

  /**
   * A source's own TRACE: an ERROR or an INCOMPLETE stream keeps overwrite from dropping older data; in transform
   * mode ERROR and STREAM_STATUS go on downstream, as they came and in order, so the next destination learns
   * what this one did.
   */
  private noteSourceTrace(trace: AirbyteTrace | undefined, line: string): void {
    const passOn = this.source.noteTrace(trace);
    if (passOn && this.o.config.sink !== 'parquet') this.relay.traceSeen(line, this.packer.lastSeqWithRecords);
  }

  /** Our own checkpoint: the run id and the batches still in flight (see StateRelay.sendRunState). */
  private sendRunState(): void {
    this.relay.sendRunState(() => ({
      run_id: this.session.runId,
      pending_batches: [...this.tasks.inFlight].map(([seq, batch_id]) => ({ seq, batch_id })),
      finalised_batches: [...this.session.view.seqs.values()].filter((s) => s.finalised).length,
    }));
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }
}
