import type { BatchSpool, SpooledRecord } from '../state/spool.js';

/** Reserved stream name for the connector's own checkpoint STATE messages. */
export const RUN_STATE_STREAM = '_claude_batch_run';

const ENVELOPE_BYTES = Buffer.byteLength('{"requests":[]}');

/**
 * The batch being filled. Knows its size as the API will measure it (the serialised create body) and
 * sends each distinct custom_id once: identical requests within a batch are fanned out to every record.
 */
export class OpenBatch {
  records = 0;
  requests = 0;
  bytes = ENVELOPE_BYTES;
  private readonly ids = new Set<string>();

  constructor(readonly spool: BatchSpool) {}

  /**
   * Records one batch may hold, sent or not (duplicates, cache hits, skipped): without a cap, a re-run
   * answered wholly from the cache would gather the entire sync in one batch and hold every STATE to the end.
   */
  static maxRecords(maxRequests: number): number {
    return maxRequests * 4;
  }

  /** Whether one more record that sends nothing fits. */
  hasRoomForRecord(maxRequests: number): boolean {
    return this.records < OpenBatch.maxRecords(maxRequests);
  }

  /** Body size of a batch holding just one request of `bytes`. */
  static overhead(bytes: number): number {
    return ENVELOPE_BYTES + bytes;
  }

  /** Whether one more record (with this request) stays within both limits. */
  fits(customId: string, bytes: number, limits: { maxRequests: number; maxBytes: number }): boolean {
    if (!this.hasRoomForRecord(limits.maxRequests)) return false;
    if (this.ids.has(customId)) return true;
    return this.requests + 1 <= limits.maxRequests && this.bytes + bytes + (this.requests ? 1 : 0) <= limits.maxBytes;
  }

  /** `serialized` undefined: the record is spooled for its row but sends no request (skipped). */
  async add(record: SpooledRecord, serialized: string | undefined, bytes: number): Promise<void> {
    if (serialized !== undefined && !this.ids.has(record.custom_id)) {
      this.ids.add(record.custom_id);
      await this.spool.addRequest(serialized);
      this.bytes += bytes + (this.requests ? 1 : 0);
      this.requests++;
    }
    await this.spool.addRecord(record);
    this.records++;
  }
}
