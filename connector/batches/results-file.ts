import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { outcomeOf, type Outcome } from './outcome.js';

/** Where one custom_id's answer sits: which round's results file, and the byte range of its line. */
export interface ResultLocation {
  round: number;
  offset: number;
  length: number;
}
/** custom_id → its latest answer. Joining reads one line at a time from disk, never a whole file. */
export type ResultIndex = Map<string, ResultLocation>;

/**
 * Scans a downloaded results file, adding each line's location to `index` (a later round overrides an
 * earlier one) and reporting each outcome. Lines for custom_ids outside `expected` are ignored: a row is
 * never written for a request we did not send.
 */
export async function indexResults(
  path: string,
  round: number,
  index: ResultIndex,
  expected: ReadonlySet<string>,
  onOutcome: (customId: string, outcome: Outcome) => void,
): Promise<{ lines: number; unknown: number }> {
  let offset = 0;
  let carry = Buffer.alloc(0);
  let lines = 0;
  let unknown = 0;
  const take = (line: Buffer, at: number) => {
    if (line.length === 0) return;
    const response = JSON.parse(line.toString('utf8')) as MessageBatchIndividualResponse;
    lines++;
    if (!expected.has(response.custom_id)) {
      unknown++;
      return;
    }
    index.set(response.custom_id, { round, offset: at, length: line.length });
    onOutcome(response.custom_id, outcomeOf(response));
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const base = offset - carry.length;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      take(data.subarray(start, nl), base + start);
      start = nl + 1;
    }
    carry = Buffer.from(data.subarray(start));
    offset += chunk.length;
  }
  take(carry, offset - carry.length);
  return { lines, unknown };
}

/** Reads one answer back by its location. */
export async function readResult(files: FileHandle[], at: ResultLocation | undefined): Promise<MessageBatchIndividualResponse | undefined> {
  if (!at) return undefined;
  const buf = Buffer.allocUnsafe(at.length);
  await files[at.round]!.read(buf, 0, at.length, at.offset);
  return JSON.parse(buf.toString('utf8')) as MessageBatchIndividualResponse;
}
