import type { OutcomeStatus, StreamTally } from '../types/shared.js';

export interface BatchSummary {
  seq: number;
  /** The first submission's batch id; `batch_ids` lists every round's (follow-ups hold only resubmitted requests). */
  batch_id: string;
  batch_ids: Array<string | null>;
  records: number;
  requests: number;
  counts: Record<string, number>;
  resubmitted: number;
}

export interface RunManifest {
  run_id: string;
  started_at: string;
  finished_at: string;
  model: string;
  config_fingerprint: string;
  records_in: number;
  rows_out: number;
  streams: Array<{
    namespace: string | null;
    stream: string;
    rows: number;
    /** The highest generation_id its rows were written under (absent in manifests of older versions). */
    generation_id?: number;
    by_status: Partial<Record<OutcomeStatus | 'cached', number>>;
    files: string[];
  }>;
  batches: BatchSummary[];
  tokens: { input: number; output: number; cache_read: number; cache_write: number };
  duration_seconds: number;
  /** An estimate from the price table (config can override it): what the run cost at batch prices, and the same requests at synchronous prices. */
  cost: {
    priced: boolean;
    billed_requests: number;
    cached_rows: number;
    batch_usd: number | null;
    sync_usd: number | null;
    saved_by_cache_usd: number | null;
  };
  /** How many `write` invocations it took (more than 1 after a resume). */
  attempts: number;
}

/** Folds per-batch, per-stream tallies into the manifest's stream list (files in batch order). */
export function summariseStreams(tallies: StreamTally[]): RunManifest['streams'] {
  const byStream = new Map<string, RunManifest['streams'][number]>();
  for (const t of tallies) {
    const key = JSON.stringify([t.namespace, t.stream]);
    const entry = byStream.get(key) ?? { namespace: t.namespace, stream: t.stream, rows: 0, by_status: {}, files: [] };
    entry.rows += t.rows;
    if (t.generationId !== undefined) entry.generation_id = Math.max(entry.generation_id ?? 0, t.generationId);
    entry.files.push(...(t.paths ?? [t.path]));
    for (const [status, n] of Object.entries(t.byStatus) as Array<[OutcomeStatus | 'cached', number]>) {
      entry.by_status[status] = (entry.by_status[status] ?? 0) + n;
    }
    byStream.set(key, entry);
  }
  return [...byStream.values()].map((s) => ({ ...s, files: s.files.sort() }));
}
