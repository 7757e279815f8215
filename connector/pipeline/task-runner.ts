import type { ConnectorConfig } from '../config/config.js';
import { Interrupted, type LifecycleOptions } from '../batches/lifecycle.js';
import { BatchPoller } from '../batches/poller.js';
import type { PriceTable } from '../cost/prices.js';
import type { SeqView } from '../journal/run-view.js';
import type { BatchWriteContext, writeContextBase } from '../sinks/batch-writer.js';
import type { BatchesApi } from '../ports/batches-api.js';
import type { Clock } from '../ports/clock.js';
import { QueueAdmission } from './admission.js';
import { BatchTask, type BatchTaskContext, type TaskResult } from './batch-task.js';
import { CreateGate } from './create-gate.js';
import type { MessageEmitter } from './emitter.js';
import { Limiter } from './limiter.js';
import type { Progress } from './progress.js';
import type { RunResources } from './run-resources.js';
import type { RunSession } from './run-session.js';
import type { StateRelay } from './state-relay.js';

export interface TaskRunnerDeps {
  config: ConnectorConfig;
  api: BatchesApi;
  lifecycle: Omit<LifecycleOptions, 'log' | 'signal'>;
  clock: Clock;
  /** Aborted when the run stops (a signal, or a failed task): every wait ends. */
  stop: AbortController;
  emitter: MessageEmitter;
  progress: Progress;
  resources: RunResources;
  /** What every batch's write context shares (schemas, Parquet options, output spec, prompt versions). */
  writeBase: ReturnType<typeof writeContextBase>;
  prices: PriceTable;
  /** Every batch id a journal of this destination names. */
  claimed: Set<string>;
}

/** The write's own run: its STATEs wait on its seqs, and its checkpoint names its batches in flight. */
interface OwnRun {
  session: RunSession;
  relay: StateRelay;
  sendRunState: () => void;
}

/** A seq's key at the create gate: seqs of different runs may be in doubt at once. */
const gateKey = (session: RunSession, seq: number) => `${session.runDir}#${seq}`;

/** A round left in doubt by an earlier process: its create was journaled, its batch id never was. */
const inDoubt = (view: SeqView) => {
  const last = view.rounds.at(-1);
  return !view.finalised && last !== undefined && last.submittingAt !== undefined && !last.batchId && !last.lost;
};

/**
 * Runs every sealed seq of this process as a BatchTask in the background (this run's, and those of other
 * unfinished runs it collects), sharing what is per process: the create gate, the account's queue
 * admission, one poller, one Parquet writer at a time. A task that fails stops the run.
 */
export class TaskRunner {
  readonly inFlight = new Map<number, string>();
  readonly collected: string[] = [];
  failure: unknown = null;
  /** This run's seqs left processing (submit_only). */
  pending = 0;
  private readonly tasks: Promise<void>[] = [];
  private readonly creates = new CreateGate();
  /** One Parquet writer at a time (each buffers a row group). */
  private readonly writers = new Limiter(1);
  /** Shared by every batch of this process: the account's queue and its RPM budget are per key, not per batch. */
  private readonly admission: QueueAdmission;
  private poller: BatchPoller | undefined;
  private readonly seqResults = new WeakMap<RunSession, Map<number, Promise<'finalised' | 'pending'>>>();
  private own: OwnRun | undefined;

  constructor(private readonly d: TaskRunnerDeps) {
    this.admission = new QueueAdmission(d.config.max_queued_requests);
  }

  private get waitForResults(): boolean {
    return this.d.config.wait === 'until_done';
  }

  /** The run this write reads records into. */
  attach(own: OwnRun): void {
    this.own = own;
  }

  /** Resolves when every task started so far has ended (each failure is kept in `failure`). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.tasks);
  }

  fail(err: unknown): void {
    if (err instanceof Interrupted && this.d.stop.signal.aborted) return;
    this.failure ??= err;
    this.d.stop.abort();
  }

  /** Starts one of this run's seqs; its STATEs go out when it is written (or, submit_only, submitted). */
  start(view: SeqView): void {
    const { session, relay, sendRunState } = this.own!;
    // submit_only releases a seq's STATEs once its requests are submitted (onSubmitted). A seq resumed with its
    // batch already made, or with nothing to send (every record cached, skipped or answered by an earlier seq),
    // never passes through a submit: release it here, or its STATEs, and every later one, would never go out.
    const first = view.rounds[0];
    if (!this.waitForResults && first && (first.batchId !== undefined || first.requests === 0)) relay.release(view.seq);
    const ctx = this.context(session);
    const task = this.track(session, view.seq, this.runTask(session, ctx, view))
      .then((result: TaskResult) => {
        if (result.state === 'pending') {
          this.pending++;
          return;
        }
        const rows = result.tallies.reduce((n, t) => n + t.rows, 0);
        this.d.progress.finished(
          view.rounds.map((r) => r.batchId),
          rows,
        );
        this.inFlight.delete(view.seq);
        void this.d.emitter.log(
          'INFO',
          `batch #${view.seq} written: ${result.tallies.map((t) => `${t.rows} rows → ${t.path}`).join(', ') || 'no rows'}`,
        );
        sendRunState();
        relay.release(view.seq);
      })
      .catch((err) => this.fail(err));
    this.tasks.push(task);
  }

  /** Collects another unfinished run's batches under its own run id (detached, cancelled, or superseded). */
  collect(session: RunSession): void {
    const view = session.view;
    const ctx = this.context(session, { retryCanceled: false });
    const task = (async () => {
      const results = await Promise.all(
        [...view.seqs.values()]
          .filter((s) => !s.finalised)
          .map((s) => this.track(session, s.seq, this.runTask(session, ctx, s))),
      );
      if (results.every((r) => r.state === 'finalised')) {
        await session.complete(this.d.config.model, new Date(this.d.clock.now()).toISOString(), this.d.prices);
        this.collected.push(view.runId);
        await this.d.emitter.log('INFO', `collected run ${view.runId}: all its batches are written`);
      } else {
        await this.d.emitter.log(
          'INFO',
          `run ${view.runId}: ${results.filter((r) => r.state === 'pending').length} batches still processing; a later run collects them`,
        );
      }
    })()
      .catch((err) => this.fail(err))
      .finally(() => session.close());
    this.tasks.push(task);
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
    bySeq.set(
      seq,
      task.then(
        (r) => r.state,
        () => 'pending' as const,
      ),
    );
    return task;
  }

  private context(session: RunSession, overrides: { retryCanceled?: boolean } = {}): BatchTaskContext {
    const { config, emitter, resources, progress } = this.d;
    const output: BatchWriteContext = {
      ...this.d.writeBase,
      runId: session.runId,
      keepAnswers: resources.caching,
      ...(config.sink !== 'parquet' ? { onRecord: (line: string) => emitter.writer.line(line) } : {}),
    };
    const own = this.own?.session === session ? this.own : undefined;
    const lifecycle: LifecycleOptions = {
      ...this.d.lifecycle,
      retry: { ...this.d.lifecycle.retry, patienceMs: config.api_patience_seconds * 1000 },
      signal: this.d.stop.signal,
      log: (m: string) => void emitter.log('WARN', m),
    };
    this.poller ??= new BatchPoller(this.d.api, lifecycle);
    return {
      api: this.d.api,
      now: () => this.d.clock.now(),
      journal: session.journal,
      save: session.save,
      runDir: session.runDir,
      lifecycle,
      poller: this.poller,
      admission: this.admission,
      resubmit: {
        retryExpired: config.retry_expired,
        retryCanceled: (overrides.retryCanceled ?? config.retry_canceled) && !session.view.cancelRequested,
      },
      maxAttempts: session.view.cancelRequested ? 1 : config.max_attempts,
      cancelled: session.view.cancelRequested,
      ...(config.output_mode !== 'text' && config.retry_invalid_output
        ? { truncatedRetryMaxTokens: Math.min(config.max_tokens * 2, 128_000) }
        : {}),
      claimed: this.d.claimed,
      log: (m) => void emitter.log('INFO', m),
      onSubmitted: (seq, round, batchId) => {
        if (!own) return;
        this.inFlight.set(seq, batchId);
        const requests = session.view.seqs.get(seq)?.rounds[round]?.requests ?? 0;
        progress.submitted(seq, batchId, requests);
        own.sendRunState();
        if (!this.waitForResults && round === 0) own.relay.release(seq);
      },
      onPoll: (_seq, batch) => progress.polled(batch),
      waitForSeq: (seq) =>
        session.view.seqs.get(seq)?.finalised
          ? Promise.resolve('finalised')
          : (this.seqResults.get(session)?.get(seq) ?? Promise.resolve('finalised')),
      journalView: (seq) => session.view.seqs.get(seq),
      writeOutput: (seq, recordsPath, results) =>
        this.writers.run(() => resources.writeOutput(output, seq, recordsPath, results)),
      indexRound: (path, round, expected) => resources.sink.index(path, round, expected),
      submitting: (seq, work) => this.creates.run(gateKey(session, seq), work),
    };
  }
}
