import { existsSync } from 'node:fs';
import { BatchLost, downloadResults, submitBatch, waitUntilEnded } from '../batches/lifecycle.js';
import { mergeRound } from '../batches/results-file.js';
import type { BatchResults } from '../sinks/batch-writer.js';
import type { MessageBatch } from '../ports/batches-api.js';
import type { RoundView, SeqView } from '../journal/run-view.js';
import { failpoint } from '../common/failpoints.js';
import { forEachLine } from '../common/lines.js';
import { batchDir, recordsFile, requestsFile, resultsFile } from '../journal/spool.js';
import type { BatchTaskContext } from './batch-task-context.js';
import { classifyRound, NOT_OURS, sealFollowUpRound } from './follow-up-round.js';
import type { ResultIndex, SpooledRecord, StreamTally } from '../types/shared.js';

export type { BatchTaskContext } from './batch-task-context.js';

const batchIdsOf = (view: SeqView | undefined) => view?.rounds.map((r) => r.batchId) ?? [];

export type TaskResult = { state: 'finalised'; tallies: StreamTally[] } | { state: 'pending' };

const ANSWER_FROM = Buffer.from('"answer_from"');

/**
 * Carries one sealed seq from wherever its journal left it to committed Parquet: submit (or adopt a
 * batch an earlier attempt made), poll, download, resubmit only the failed requests in follow-up rounds,
 * then join every record to its latest answer and write the files. Every step is journaled after it is
 * durable, so a crash at any point resumes here without paying twice or losing a row.
 */
export class BatchTask {
  readonly dir: string;
  /** Rounds whose requests this task counts as queued at the API (see admission.ts). */
  private readonly queued = new Set<number>();

  constructor(
    readonly ctx: BatchTaskContext,
    readonly view: SeqView,
  ) {
    this.dir = batchDir(ctx.runDir, view.seq);
  }

  get seq(): number {
    return this.view.seq;
  }

  /** With waitForResults false, a batch still processing leaves the task 'pending' (submit_only). */
  async run(waitForResults: boolean): Promise<TaskResult> {
    const index: ResultIndex = new Map();
    const files: Array<string | undefined> = [];
    const batchIds: Array<string | undefined> = [];
    for (let r = 0; ; r++) {
      const round = this.view.rounds[r]!;
      if (round.requests === 0) break; // every record of this seq was skipped: nothing to send
      if (!round.lost && !round.batchId && this.ctx.cancelled) {
        await this.ctx.journal.append({
          type: 'batch_lost',
          seq: this.seq,
          round: round.round,
          batch_id: '',
          reason: 'run cancelled before submission',
        });
        round.lost = 'run cancelled before submission';
      }
      if (!round.lost) {
        if (!round.batchId && !(await this.adoptAlternate(r))) await this.submit(round);
        if (!round.downloaded) {
          const ready = await this.collect(round, waitForResults);
          if (ready === 'pending') return { state: 'pending' };
        }
      }
      batchIds[r] = round.batchId;
      const retry = await classifyRound(this, round, index, files);
      if (this.view.rounds[r + 1]) continue;
      // A batch adopted by listing that answered none of our requests was someone else's: not an attempt.
      if (retry.size > 0 && r + 1 < this.ctx.maxAttempts + this.notOursRounds()) {
        await sealFollowUpRound(this, r + 1, retry);
        continue;
      }
      if (retry.size > 0)
        this.ctx.log(
          `batch #${this.seq}: ${retry.size} requests still failed after ${this.ctx.maxAttempts} attempts; written with their last status`,
        );
      // A request whose last send brought no usable line is `missing`, not the answer an earlier send gave.
      for (const [id, reason] of retry) if (reason === 'missing') index.delete(id);
      break;
    }
    const unanswered = this.ctx.cancelled ? ({ status: 'canceled' } as const) : undefined;
    const foreign = await this.foreignAnswers();
    if (foreign === 'pending') return { state: 'pending' };
    // An unanswered request was in every round: each one that was an attempt counts (a batch adopted by
    // listing that was not ours sent nothing).
    const attempts = this.view.rounds.filter((r) => r.requests > 0).length - this.notOursRounds();
    const tallies = await this.ctx.writeOutput(this.seq, recordsFile(this.dir), {
      files,
      batchIds,
      index,
      unanswered,
      foreign,
      attempts,
    });
    for (const tally of tallies) await this.ctx.journal.append({ type: 'file_written', seq: this.seq, tally });
    await this.ctx.journal.append({ type: 'batch_finalised', seq: this.seq });
    failpoint('after_finalised');
    this.view.finalised = true;
    this.view.tallies = tallies;
    // The spool stays until the run completes: records identify what the platform may re-send, and
    // results answer identical requests of later batches.
    return { state: 'finalised', tallies };
  }

  /**
   * Answers for records whose identical request went out in an earlier seq of this run: waits for that
   * seq to be written, then indexes just the needed custom_ids from its results files on disk.
   */
  private async foreignAnswers(): Promise<BatchResults['foreign'] | 'pending'> {
    const needed = new Map<number, Set<string>>();
    // Only the few records answered elsewhere are parsed; the rest are skipped by a byte search.
    await forEachLine(recordsFile(this.dir), (buf, start, end) => {
      if (buf.subarray(start, end).indexOf(ANSWER_FROM) === -1) return;
      const r = JSON.parse(buf.toString('utf8', start, end)) as SpooledRecord;
      if (r.answer_from === undefined) return;
      const ids = needed.get(r.answer_from) ?? new Set<string>();
      ids.add(r.custom_id);
      needed.set(r.answer_from, ids);
    });
    const foreign: NonNullable<BatchResults['foreign']> = new Map();
    for (const [seq, ids] of needed) {
      if ((await this.ctx.waitForSeq(seq)) === 'pending') return 'pending';
      const other = batchDir(this.ctx.runDir, seq);
      const view = this.ctx.journalView(seq);
      const index: ResultIndex = new Map();
      const files: Array<string | undefined> = [];
      // Every round that brought results, in order: a lost round has none and keeps its place as a hole, and
      // the rounds after it hold the answers the seq was written with.
      for (const { round } of view?.rounds ?? []) {
        const path = resultsFile(other, round);
        if (!existsSync(path)) continue;
        files[round] = path;
        mergeRound(index, await this.ctx.indexRound(path, round, ids), () => undefined);
      }
      foreign.set(seq, { files, index, batchIds: batchIdsOf(view) });
    }
    return foreign;
  }

  private async submit(round: RoundView): Promise<void> {
    const { api, journal, claimed } = this.ctx;
    const path = requestsFile(this.dir, round.round);
    const { admission, lifecycle } = this.ctx;
    const { batch, reconciled, alternates } = await this.ctx.submitting(this.seq, async () => {
      // A create waits for room in the account's queue, then retries a refusal (429) as the API asks or as soon
      // as one of our batches ends, never counting it against the patience.
      await admission?.admit(round.requests, lifecycle.signal);
      this.queued.add(round.round);
      // An earlier attempt that died while creating this batch may have made it although we never saw the id.
      const mayExist = round.submittingAt !== undefined;
      if (!mayExist) {
        // Journaled inside the gate: no other create of ours starts until this one's answer is recorded.
        round.submittingAt = new Date(this.ctx.now()).toISOString();
        await journal.append({ type: 'batch_submitting', seq: this.seq, round: round.round, at: round.submittingAt });
      }
      const expected = {
        requests: round.requests,
        since: new Date(round.submittingAt!),
        claimed: (id: string) => claimed.has(id),
        mayExist,
      };
      failpoint('before_create');
      const options = admission
        ? { ...lifecycle, refusedSleep: admission.refusedSleep(lifecycle.sleep, round.requests) }
        : lifecycle;
      const submitted = await submitBatch(api, path, expected, options).catch((err: unknown) => {
        this.release(round);
        throw err;
      });
      failpoint('after_create');
      // Recorded before the gate opens: the next create's listing must see this batch as claimed.
      await this.recordSubmitted(
        round,
        submitted.batch.id,
        submitted.batch.created_at,
        submitted.reconciled,
        submitted.alternates,
      );
      return submitted;
    });
    admission?.submitted();
    const what =
      round.round === 0
        ? `${this.view.requests} requests for ${this.view.records} records`
        : `${round.requests} resubmitted requests (attempt ${round.round + 1})`;
    const others = alternates.length
      ? ` (${alternates.length} other unclaimed batches matched too; each is checked by its results before anything is sent again)`
      : '';
    this.ctx.log(
      `batch #${this.seq} ${reconciled ? 'found already submitted' : 'submitted'} as ${batch.id}: ${what}${others}`,
    );
    this.ctx.onSubmitted(this.seq, round.round, batch.id);
  }

  private async recordSubmitted(
    round: RoundView,
    batchId: string,
    at: string,
    reconciled: boolean,
    alternates: string[] = [],
  ): Promise<void> {
    await this.ctx.journal.append({
      type: 'batch_submitted',
      seq: this.seq,
      round: round.round,
      batch_id: batchId,
      at,
      ...(reconciled ? { reconciled } : {}),
      ...(alternates.length ? { alternates } : {}),
    });
    this.ctx.claimed.add(batchId);
    for (const id of alternates) this.ctx.claimed.add(id);
    Object.assign(round, { batchId, submittedAt: at, reconciled, ...(alternates.length ? { alternates } : {}) });
    failpoint('after_submitted');
  }

  private async collect(round: RoundView, waitForResults: boolean): Promise<'ready' | 'pending'> {
    const batchId = round.batchId!;
    if (!this.queued.has(round.round)) {
      this.queued.add(round.round);
      this.ctx.admission?.resumed(round.requests);
    }
    try {
      const createdAt = round.submittedAt ? Date.parse(round.submittedAt) : undefined;
      const onPoll = (b: MessageBatch) => this.ctx.onPoll(this.seq, b);
      const ended =
        waitForResults && this.ctx.poller
          ? await this.ctx.poller.waitUntilEnded(batchId, createdAt, onPoll)
          : await waitUntilEnded(
              this.ctx.api,
              batchId,
              { ...this.ctx.lifecycle, once: !waitForResults, ...(createdAt !== undefined ? { createdAt } : {}) },
              onPoll,
            );
      // submit_only leaves it processing and never looks again: it stops counting against our own cap (the
      // API's 429s still pace later creates), or max_queued_requests would wait forever on batches nobody polls.
      this.release(round);
      if (ended.processing_status !== 'ended') return 'pending';
      const counts = { ...ended.request_counts } as unknown as Record<string, number>;
      if (!round.counts) {
        await this.ctx.journal.append({
          type: 'batch_ended',
          seq: this.seq,
          round: round.round,
          batch_id: batchId,
          counts,
          at: ended.ended_at ?? new Date(this.ctx.now()).toISOString(),
        });
        round.counts = counts;
      }
      const lines = await downloadResults(
        this.ctx.api,
        batchId,
        resultsFile(this.dir, round.round),
        this.ctx.lifecycle,
      );
      failpoint('after_download');
      await this.ctx.save(resultsFile(this.dir, round.round));
      await this.ctx.journal.append({
        type: 'results_downloaded',
        seq: this.seq,
        round: round.round,
        batch_id: batchId,
        lines,
      });
      round.downloaded = true;
    } catch (err) {
      if (!(err instanceof BatchLost)) throw err;
      this.release(round);
      this.ctx.log(`batch #${this.seq}: ${err.message}; its requests go into a follow-up batch`);
      await this.ctx.journal.append({
        type: 'batch_lost',
        seq: this.seq,
        round: round.round,
        batch_id: batchId,
        reason: err.reason,
      });
      round.lost = err.reason;
    }
    return 'ready';
  }

  /** The round's batch has ended (or is lost): its requests are out of the account's queue. */
  private release(round: RoundView): void {
    if (this.queued.delete(round.round)) this.ctx.admission?.ended(round.requests);
  }

  /**
   * The round before this one adopted a batch that turned out not to be ours, and listing had found other
   * candidates too: the next one is adopted for the same requests (never a create: ours may be among them
   * and still answer). Also on resume, when a crash came between sealing this round and adopting.
   */
  private async adoptAlternate(r: number): Promise<boolean> {
    const previous = this.view.rounds[r - 1];
    const [next, ...rest] = previous?.lost === NOT_OURS ? (previous.alternates ?? []) : [];
    if (!next) return false;
    const round = this.view.rounds[r]!;
    await this.recordSubmitted(round, next, new Date(this.ctx.now()).toISOString(), true, rest);
    this.ctx.log(
      `batch #${this.seq}: adopting ${next}, the next batch listing found for it, before sending anything again`,
    );
    return true;
  }

  private notOursRounds(): number {
    return this.view.rounds.filter((r) => r.lost === NOT_OURS).length;
  }
}
