import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { resubmitReason } from '../batches/outcome.js';
import { mergeRound } from '../batches/results-file.js';
import type { RoundView, SeqView } from '../journal/run-view.js';
import { customIdOfLine, forEachLine, textLines } from '../common/lines.js';
import { fsyncPath } from '../common/durable.js';
import { requestsFile, resultsFile, roundDir } from '../journal/spool.js';
import type { BatchTaskContext } from './batch-task-context.js';
import type { ResultIndex } from '../types/shared.js';

/**
 * A seq's follow-up rounds: which of a round's requests must be sent again (errored, expired, missing,
 * cut off by max_tokens, or an adopted batch that turned out not to be ours), and the next round's requests
 * file with only those. Used by BatchTask; split out so each file stays one job.
 */

/** The lost-reason of an adopted batch that answered none of this seq's requests. */
export const NOT_OURS = 'adopted batch answered none of our requests';

/** What the round functions need of a BatchTask. */
export interface RoundTask {
  ctx: BatchTaskContext;
  view: SeqView;
  /** The seq's spool folder. */
  dir: string;
}

async function customIdsOf(path: string): Promise<Set<string>> {
  const ids = new Set<string>();
  await forEachLine(path, (buf, start, end) => ids.add(customIdOfLine(buf, start, end)));
  return ids;
}

/** Indexes a round's answers and returns the custom_ids to send again, with why. */
export async function classifyRound(
  task: RoundTask,
  round: RoundView,
  index: ResultIndex,
  files: Array<string | undefined>,
): Promise<Map<string, string>> {
  const { ctx, view, dir } = task;
  const expected = await customIdsOf(requestsFile(dir, round.round));
  const retry = new Map<string, string>();
  if (round.lost) {
    for (const id of expected) retry.set(id, 'batch_lost');
    return retry;
  }
  const path = resultsFile(dir, round.round);
  files[round.round] = path;
  const answered = new Set<string>();
  const scan = mergeRound(index, await ctx.indexRound(path, round.round, expected), (id, outcome) => {
    answered.add(id);
    const truncated =
      outcome.status === 'succeeded' &&
      outcome.stopReason === 'max_tokens' &&
      ctx.truncatedRetryMaxTokens !== undefined;
    const reason =
      truncated && !view.rounds.some((r) => r.round <= round.round && r.bumped)
        ? 'max_tokens'
        : resubmitReason(outcome, ctx.resubmit);
    if (reason) retry.set(id, reason);
    else retry.delete(id);
  });
  if (round.reconciled && answered.size === 0 && expected.size > 0) {
    ctx.log(
      `batch #${view.seq}: adopted batch ${round.batchId} answered none of this batch's requests, so it was not ours; sending them now`,
    );
    await ctx.journal.append({
      type: 'batch_lost',
      seq: view.seq,
      round: round.round,
      batch_id: round.batchId!,
      reason: NOT_OURS,
    });
    round.lost = NOT_OURS;
    files[round.round] = undefined;
    for (const id of expected) retry.set(id, 'not_ours');
    return retry;
  }
  if (scan.unknown > 0)
    ctx.log(`batch #${view.seq}: ignored ${scan.unknown} result lines for requests this batch never sent`);
  if (scan.malformed > 0)
    ctx.log(`batch #${view.seq}: skipped ${scan.malformed} unreadable result lines; their requests are sent again`);
  for (const id of expected) if (!answered.has(id)) retry.set(id, 'missing');
  return retry;
}

/** Writes the next round's requests (only the failed ones) and journals it. */
export async function sealFollowUpRound(task: RoundTask, round: number, retry: Map<string, string>): Promise<void> {
  const { ctx, view, dir } = task;
  await mkdir(roundDir(dir, round), { recursive: true, mode: 0o700 });
  const out = createWriteStream(requestsFile(dir, round), { mode: 0o600 });
  let count = 0;
  for await (const chunk of textLines(requestsFile(dir, round - 1)))
    for (const line of chunk) {
      const request = JSON.parse(line) as { custom_id: string; params: { max_tokens: number } };
      const reason = retry.get(request.custom_id);
      if (!reason) continue;
      // Same custom_id (unique per batch is all the API asks), bigger budget: the answer still joins its record.
      const text =
        reason === 'max_tokens'
          ? JSON.stringify({
              ...request,
              params: { ...request.params, max_tokens: ctx.truncatedRetryMaxTokens },
            })
          : line;
      if (!out.write(text + '\n')) await once(out, 'drain');
      count++;
    }
  out.end();
  await once(out, 'finish');
  await fsyncPath(requestsFile(dir, round));
  await ctx.save(requestsFile(dir, round));
  const reasons: Record<string, number> = {};
  for (const reason of retry.values()) reasons[reason] = (reasons[reason] ?? 0) + 1;
  await ctx.journal.append({ type: 'round_sealed', seq: view.seq, round, requests: count, reasons });
  view.rounds.push({
    round,
    requests: count,
    downloaded: false,
    ...(reasons.max_tokens ? { bumped: true } : {}),
  });
  ctx.log(
    `batch #${view.seq}: resubmitting ${count} failed requests (${Object.entries(reasons)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')})`,
  );
}
