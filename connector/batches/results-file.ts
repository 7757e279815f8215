import { readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { TextDecoder } from 'node:util';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { outcomeOf, verdictOf } from './outcome.js';
import type { Outcome, ResultIndex, ResultLocation, ResultScan, RoundIndex, Verdict } from '../types/shared.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A results line we can turn into a row, or undefined. Beyond the `{custom_id, result: {type}}` envelope, a
 * `succeeded` result needs a message with a content array and numeric usage (what outcomeOf reads); an
 * unknown `result.type` is kept (outcomeOf makes it an `errored` row with `unknown_result_type`).
 */
function usableResult(value: unknown): MessageBatchIndividualResponse | undefined {
  if (!isObject(value) || typeof value.custom_id !== 'string' || value.custom_id === '') return undefined;
  const result = value.result;
  if (!isObject(result) || typeof result.type !== 'string') return undefined;
  if (result.type === 'succeeded') {
    const m = result.message;
    if (!isObject(m) || !Array.isArray(m.content) || !isObject(m.usage)) return undefined;
    if (typeof m.usage.input_tokens !== 'number' || typeof m.usage.output_tokens !== 'number') return undefined;
    if (
      !m.content.every(
        (block) =>
          isObject(block) &&
          typeof block.type === 'string' &&
          (block.type !== 'text' || typeof block.text === 'string'),
      )
    )
      return undefined;
  } else if (result.type === 'errored' && result.error !== undefined && !isObject(result.error)) {
    return undefined;
  }
  return value as unknown as MessageBatchIndividualResponse;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0d, 0x0a]);

/**
 * Scans a downloaded results file (raw JSONL, as the API sent it), adding each usable line's location to
 * `index` (a later round overrides an earlier one; within a file the last line for a custom_id wins) and
 * reporting each outcome. One bad line never fails the scan: blank lines are skipped, malformed lines are
 * skipped and counted, lines for custom_ids outside `expected` are ignored and counted (a row is never written
 * for a request we did not send). A sent custom_id without a usable line gets no outcome: the caller treats it
 * as missing.
 */
export async function indexResults(
  path: string,
  round: number,
  index: ResultIndex,
  expected: ReadonlySet<string>,
  onOutcome: (customId: string, outcome: Outcome) => void,
  keep?: (file: Stats) => ((offset: number, length: number, outcome: Outcome) => void) | undefined,
): Promise<ResultScan> {
  const handle = await open(path, 'r');
  try {
    const remember = keep?.(await handle.stat());
    return await scanResults(handle, round, index, expected, onOutcome, remember);
  } finally {
    await handle.close();
  }
}

async function scanResults(
  handle: FileHandle,
  round: number,
  index: ResultIndex,
  expected: ReadonlySet<string>,
  onOutcome: (customId: string, outcome: Outcome) => void,
  remember: ((offset: number, length: number, outcome: Outcome) => void) | undefined,
): Promise<ResultScan> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const scan: ResultScan = { lines: 0, unknown: 0, malformed: 0, duplicates: 0, blank: 0 };
  const seen = new Set<string>();
  let offset = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  const take = (line: Buffer, at: number) => {
    let end = line.length;
    while (end > 0 && WHITESPACE.has(line[end - 1]!)) end--;
    let start = 0;
    while (start < end && WHITESPACE.has(line[start]!)) start++;
    if (start === end) {
      scan.blank++;
      return;
    }
    let response: MessageBatchIndividualResponse | undefined;
    let outcome: Outcome;
    try {
      response = usableResult(JSON.parse(decoder.decode(line.subarray(start, end))));
      if (!response) throw new Error('not a result');
      outcome = outcomeOf(response);
    } catch {
      scan.malformed++;
      return;
    }
    scan.lines++;
    if (!expected.has(response.custom_id)) {
      scan.unknown++;
      return;
    }
    if (seen.has(response.custom_id)) scan.duplicates++;
    seen.add(response.custom_id);
    index.set(response.custom_id, { round, offset: at + start, length: end - start });
    remember?.(at + start, end - start, outcome);
    onOutcome(response.custom_id, outcome);
  };
  for await (const chunk of handle.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const lineStart = offset + start - carryBytes;
      // A line's chunks are joined once, at its newline.
      take(carry.length ? Buffer.concat([...carry, piece], carryBytes + piece.length) : piece, lineStart);
      carry = [];
      carryBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      carry.push(Buffer.from(chunk.subarray(start)));
      carryBytes += chunk.length - start;
    }
    offset += chunk.length;
  }
  if (carryBytes > 0) take(Buffer.concat(carry, carryBytes), offset - carryBytes);
  return scan;
}

/**
 * indexResults for one round into a fresh index; merge with mergeRound. The outcomes it parsed stay in
 * `parsedAnswers`, on this thread, for the join that follows (which runs on the same thread).
 */
export async function indexRound(path: string, round: number, expected: ReadonlySet<string>): Promise<RoundIndex> {
  const index: ResultIndex = new Map();
  const verdicts: Array<[string, Verdict]> = [];
  const scan = await indexResults(
    path,
    round,
    index,
    expected,
    (id, outcome) => verdicts.push([id, verdictOf(outcome)]),
    (file) => parsedAnswers.keep(path, file),
  );
  return { scan, located: [...index], verdicts };
}

/** Parsed outcomes kept for joins, counted in results-line bytes (the outcomes themselves take less heap). */
export const PARSED_ANSWER_BYTES = 32 * 2 ** 20;

/** Which version of a file a parse came from: a results file downloaded again never answers from an old parse. */
const fileVersion = (file: Stats) => `${file.dev}:${file.ino}:${file.size}:${file.mtimeMs}`;

/**
 * The outcomes indexing parsed from each results file, by line offset, so that the join of the same file
 * takes them instead of parsing every answer line a second time. A cache only: it keeps up to
 * PARSED_ANSWER_BYTES of lines and then keeps no more until joins release theirs (joins come in the order
 * files were indexed, so the oldest are the ones wanted next); whatever is missing the join parses from the
 * line as before. The outcomes are shared, never changed (the join copies what it shapes).
 */
export class ParsedAnswers {
  private readonly files = new Map<string, { version: string; outcomes: Map<number, Outcome>; bytes: number }>();
  private bytes = 0;

  constructor(private readonly limit = PARSED_ANSWER_BYTES) {}

  /** Starts keeping the outcomes of this version of a file (forgetting any other): where to put each. */
  keep(path: string, file: Stats): (offset: number, length: number, outcome: Outcome) => void {
    this.release(path);
    const kept = { version: fileVersion(file), outcomes: new Map<number, Outcome>(), bytes: 0 };
    this.files.set(path, kept);
    return (offset, length, outcome) => {
      if (this.bytes + length > this.limit || this.files.get(path) !== kept) return;
      kept.outcomes.set(offset, outcome);
      kept.bytes += length;
      this.bytes += length;
    };
  }

  /** The outcomes kept for this version of a file, if any. */
  of(path: string, file: Stats): Map<number, Outcome> | undefined {
    const kept = this.files.get(path);
    return kept?.version === fileVersion(file) ? kept.outcomes : undefined;
  }

  /** Forgets a file's outcomes (its join is done). */
  release(path: string): void {
    const kept = this.files.get(path);
    if (!kept) return;
    this.bytes -= kept.bytes;
    this.files.delete(path);
  }

  /** Results-line bytes whose outcomes are kept. */
  get heldBytes(): number {
    return this.bytes;
  }
}

/** This thread's parsed outcomes (each thread that indexes and joins has its own). */
export const parsedAnswers = new ParsedAnswers();

/** Adds a later round's locations to `index` (they override) and replays its verdicts in order. */
export function mergeRound(
  index: ResultIndex,
  found: RoundIndex,
  onVerdict: (customId: string, verdict: Verdict) => void,
): ResultScan {
  for (const [id, at] of found.located) index.set(id, at);
  for (const [id, verdict] of found.verdicts) onVerdict(id, verdict);
  return found.scan;
}

/** Results files up to this many bytes in all are read into memory for a join; larger ones are read line by line. */
export const IN_MEMORY_RESULTS_BYTES = 64 * 2 ** 20;

/** One round's results file as a join reads it: held in memory, or open for positional reads. */
interface JoinedFile {
  path: string;
  stats: Stats;
  held?: Buffer;
  handle?: FileHandle;
  /** Outcomes the index pass kept (parsedAnswers), by line offset. */
  parsed?: Map<number, Outcome>;
}

/**
 * The answer lines of a batch's rounds, by location. The join asks for them in record order, not file order,
 * so each is one random access: a slice of the file held in memory when the files are small (the usual batch:
 * ~7 MB per 10,000 short answers), or a positional read from the page cache when they are large, so memory
 * stays bounded whatever a batch returns. Outcomes the index pass parsed on this thread are taken from
 * `parsedAnswers` instead of parsing the line again.
 */
export class ResultLines {
  private scratch = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    private readonly files: Array<JoinedFile | undefined>,
    private readonly parsed: ParsedAnswers,
  ) {}

  /** `budget`: bytes this join may hold; what it takes is subtracted (pass the same object to share it). */
  static async open(
    paths: Array<string | undefined>,
    budget: { bytes: number },
    parsed: ParsedAnswers = parsedAnswers,
  ): Promise<ResultLines> {
    const files: Array<JoinedFile | undefined> = [];
    try {
      for (const path of paths) {
        if (!path) {
          files.push(undefined);
          continue;
        }
        const handle = await open(path, 'r');
        const stats = await handle.stat();
        const file: JoinedFile = { path, stats, handle, parsed: parsed.of(path, stats) };
        files.push(file);
        if (stats.size <= budget.bytes) {
          budget.bytes -= stats.size;
          file.held = await handle.readFile();
          file.handle = undefined;
          await handle.close();
        }
      }
    } catch (err) {
      await Promise.all(files.map((f) => f?.handle?.close()));
      throw err;
    }
    return new ResultLines(files, parsed);
  }

  /** The raw bytes of one answer's line: a view valid until the next call. */
  bytes(at: ResultLocation): Buffer {
    const file = this.files[at.round]!;
    if (file.held) return file.held.subarray(at.offset, at.offset + at.length);
    if (this.scratch.length < at.length)
      this.scratch = Buffer.allocUnsafe(Math.max(at.length, this.scratch.length * 2));
    // Synchronous: ~6x cheaper than a promise per row, and the bytes are used before anything else runs.
    readSync(file.handle!.fd, this.scratch, 0, at.length, at.offset);
    return this.scratch.subarray(0, at.length);
  }

  /** The raw text of one answer's line. */
  line(at: ResultLocation): string {
    return this.bytes(at).toString('utf8');
  }

  /** What one answer's line says: as the index pass parsed it, or parsed now. */
  outcome(at: ResultLocation): Outcome {
    return (
      this.files[at.round]!.parsed?.get(at.offset) ??
      outcomeOf(JSON.parse(this.line(at)) as MessageBatchIndividualResponse)
    );
  }

  /** Closes the files; `done`: the join finished with them, so their kept outcomes are let go. */
  async close(done = false): Promise<void> {
    await Promise.all(this.files.map((f) => f?.handle?.close()));
    for (const f of this.files) if (f && done) this.parsed.release(f.path);
    this.files.fill(undefined);
  }
}
