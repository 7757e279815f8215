/** A batch as the emulator keeps it, and as the API shows it. */
export type ProcessingStatus = 'in_progress' | 'canceling' | 'ended';
export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}
export type ResultType = 'succeeded' | 'errored' | 'canceled' | 'expired';

/** One batch as the emulator keeps it. Results live on disk (one line per request), never in memory. */
export interface StoredBatch {
  id: string;
  seq: number;
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  cancelInitiatedAt: number | null;
  status: ProcessingStatus;
  total: number;
  processingMs: number;
  neverFinish: boolean;
  counts: RequestCounts;
  notFoundLeft: number;
  /**
   * 2: the `.pending` file holds the final result lines, in results order. Absent (batches persisted by an older
   * emulator): `index \t type \t custom_id \t result-line` lines.
   */
  pendingFormat?: 2;
  /** The seed the results order was shuffled with; null: request order. */
  orderSeed?: number | null;
  /** request_counts if every request is processed (the pending file's own counts). */
  decided?: RequestCounts;
}

export interface MessageBatchView {
  id: string;
  type: 'message_batch';
  processing_status: ProcessingStatus;
  request_counts: RequestCounts;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

export const zeroCounts = (): RequestCounts => ({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
