import type { OutcomeStatus } from '../batches/outcome.js';

/**
 * What one finalised batch wrote for one stream. The journal keeps it (so a resumed run's manifest is whole)
 * and the sinks produce it; it lives here, with the journal, so neither the journal nor the run view needs
 * the sinks.
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
