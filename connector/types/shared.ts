/*
 * The data types more than one folder of connector/ shares, in one place: plain shapes (interfaces, unions),
 * no code. This module imports nothing but other types (test/architecture checks it), so any folder may use
 * it without a cycle. The functions that make or read these shapes stay with their folders; a port's
 * interface stays in ports/, beside its adapter.
 */

// --- Outcomes of a request (batches/outcome.ts reads them from results lines)

/** What an answered request carries, whether or not the answer fits the configured output shape. */
export interface Answer {
  output: string;
  model: string;
  stopReason: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/** What happened to one record's request. Every variant becomes a row: none is ever dropped. */
export type Outcome =
  | ({ status: 'succeeded' } & Answer)
  | ({ status: 'invalid_output'; reason: string } & Answer)
  | { status: 'errored'; errorType: string; errorMessage: string }
  | { status: 'skipped'; errorType: string; errorMessage: string }
  | { status: 'expired' }
  | { status: 'canceled' }
  | { status: 'missing' };

export type OutcomeStatus = Outcome['status'];

/** What the retry decision needs of an outcome: its status, and its error type or stop reason (not the answer). */
export interface Verdict {
  status: OutcomeStatus;
  errorType?: string;
  stopReason?: string | null;
}

// --- Results files indexed (batches/results-file.ts builds them; the sinks join rows from them)

/** Where one custom_id's answer sits: which round's results file, and the byte range of its line. */
export interface ResultLocation {
  round: number;
  offset: number;
  length: number;
}
/** custom_id → its latest answer. Joining reads one line at a time from disk, never a whole file. */
export type ResultIndex = Map<string, ResultLocation>;

/** What a scan of one results file found. */
export interface ResultScan {
  /** Well-formed result lines (`{custom_id, result: {type, …}}`), including those for custom_ids we never sent. */
  lines: number;
  /** Well-formed lines for custom_ids this round never sent: ignored, no row is ever written for them. */
  unknown: number;
  /**
   * Non-blank lines that are not a usable result: not JSON, not UTF-8, JSON of another shape, or a `succeeded`
   * result without a message we can read. Skipped: their request has no answer, so the caller resubmits it as
   * missing.
   */
  malformed: number;
  /** Lines for a custom_id that already had a line in this file (the last one counts). */
  duplicates: number;
  /** Blank lines (skipped). */
  blank: number;
}

/** One round's results file indexed on its own: what indexResults found, as plain data a thread can send. */
export interface RoundIndex {
  scan: ResultScan;
  /** Each expected custom_id's answer location (the last line for it wins). */
  located: Array<[string, ResultLocation]>;
  /** Each usable line's verdict, in file order (a custom_id may repeat: the last one counts). */
  verdicts: Array<[string, Verdict]>;
}

// --- Records on disk (journal/spool.ts writes them; the sinks, resume and the pipeline read them)

/** One input record waiting on disk for its result. */
export interface SpooledRecord {
  line: number;
  stream: string;
  namespace: string | null;
  data: Record<string, unknown>;
  emitted_at: number;
  raw_id: string;
  custom_id: string;
  /** `record.meta.changes` from the source, when it sent any. */
  changes?: unknown[];
  /** Not sent: why (missing template field, too large); the row records it. */
  skip?: { type: string; message: string };
  /** The prompt was cut to fit the request size limit. */
  truncated?: boolean;
  /** An identical request was already sent in this earlier seq of the run: its answer is this row's. */
  answer_from?: number;
  /** The answer to this exact request from an earlier run (the result cache): the row's, nothing sent. */
  cached?: string;
}

// --- What a batch wrote (the sinks produce it, the journal keeps it, the manifest sums it)

/**
 * What one finalised batch wrote for one stream. The journal keeps it (so a resumed run's manifest is whole)
 * and the sinks produce it.
 */
export interface StreamTally {
  stream: string;
  namespace: string | null;
  /** The first file; `paths` lists all when the output rolled over `max_rows_per_file`/`max_file_size_mb`. */
  path: string;
  paths: string[];
  rows: number;
  /** The catalog's generation_id these rows were written under. */
  generationId?: number;
  byStatus: Partial<Record<OutcomeStatus | 'cached', number>>;
  /** Usage of the requests this batch actually had answered (once per request: fan-out and cache hits are free). */
  billed?: Usage & { requests: number };
  /** Usage the cached rows would have cost if sent again. */
  cachedUsage?: Usage & { requests: number };
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface Usage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

// --- Network calls

/**
 * Bounds for a command's network calls where an answer is wanted soon (check: a platform waits on it), in
 * place of the write's patient defaults: milliseconds without an answer before a call fails, and how many
 * times a failed call is tried again.
 */
export interface CallLimits {
  timeoutMs: number;
  retries: number;
}

// --- Columns (config/column-kind.ts reads a kind from a JSON schema)

/**
 * How a column's values are coerced, read from the stream's JSON schema. The sinks keep it in the Arrow
 * field metadata so the Arrow schema is the one description of a stream's columns that both the coercion and
 * the Parquet schema are derived from.
 *
 * | kind        | Arrow                     | Parquet (physical / converted)   | DuckDB reads it as        |
 * |-------------|---------------------------|----------------------------------|---------------------------|
 * | `string`    | Utf8                      | BYTE_ARRAY / UTF8                | VARCHAR                   |
 * | `json`      | Utf8 (JSON text)          | BYTE_ARRAY / UTF8                | VARCHAR                   |
 * | `integer`   | Int64                     | INT64                            | BIGINT                    |
 * | `number`    | Float64                   | DOUBLE                           | DOUBLE                    |
 * | `boolean`   | Bool                      | BOOLEAN                          | BOOLEAN                   |
 * | `timestamp` | Timestamp(µs, 'UTC')      | INT64 / TIMESTAMP_MICROS (UTC)   | TIMESTAMP WITH TIME ZONE  |
 * | `date`      | Date(day)                 | INT32 / DATE                     | DATE                      |
 */
export type ColumnKind = 'string' | 'json' | 'integer' | 'number' | 'boolean' | 'timestamp' | 'date';
