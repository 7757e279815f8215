import type { BatchSpool } from '../journal/spool.js';
import type { SpooledRecord } from '../types/shared.js';

/** Reserved stream name for the connector's own checkpoint STATE messages. */
export const RUN_STATE_STREAM = '_claude_batch_run';

const ENVELOPE_BYTES = Buffer.byteLength('{"requests":[]}');

export interface BatchLimits {
  maxRequests: number;
  maxBytes: number;
}

/**
 * How full a batch is, as the API will measure it (the serialised create body), and whether one more
 * record fits. Each distinct custom_id counts once: identical requests within a batch are sent once.
 * `write` packs spooled batches with it and `estimate` packs imaginary ones, so both count alike.
 */
export class BatchShape {
  records = 0;
  requests = 0;
  bytes = ENVELOPE_BYTES;
  protected readonly ids = new Set<string>();

  /**
   * Records one batch may hold, sent or not (duplicates, cache hits, skipped): without a cap, a re-run
   * answered wholly from the cache would gather the entire sync in one batch and hold every STATE to the end.
   */
  static maxRecords(maxRequests: number): number {
    return maxRequests * 4;
  }

  /** Body size of a batch holding just one request of `bytes`. */
  static overhead(bytes: number): number {
    return ENVELOPE_BYTES + bytes;
  }

  /** Whether one more record that sends nothing fits. */
  hasRoomForRecord(maxRequests: number): boolean {
    return this.records < BatchShape.maxRecords(maxRequests);
  }

  /** Whether one more record (with this request) stays within both limits. */
  fits(customId: string, bytes: number, limits: BatchLimits): boolean {
    if (!this.hasRoomForRecord(limits.maxRequests)) return false;
    if (this.ids.has(customId)) return true;
    return this.requests + 1 <= limits.maxRequests && this.bytes + bytes + (this.requests ? 1 : 0) <= limits.maxBytes;
  }

  /** Whether this batch already sends the request. */
  sends(customId: string): boolean {
    return this.ids.has(customId);
  }

  /** Counts one record; with a request (`customId`) not yet in the batch, counts the request too. Returns whether it was new. */
  count(customId: string | undefined, bytes: number): boolean {
    this.records++;
    if (customId === undefined || this.ids.has(customId)) return false;
    this.ids.add(customId);
    this.bytes += bytes + (this.requests ? 1 : 0);
    this.requests++;
    return true;
  }
}

/** The batch being filled: its shape, and its records and requests spooled to disk as they arrive. */
export class OpenBatch extends BatchShape {
  constructor(readonly spool: BatchSpool) {
    super();
  }

  /**
   * `serialized` undefined: the record is spooled for its row but sends no request (skipped, answered elsewhere).
   * `dataText`: see BatchSpool.addRecord.
   * Returns a promise to await before the next add when the spool files are over their write buffers.
   */
  add(
    record: SpooledRecord,
    serialized: string | undefined,
    bytes: number,
    dataText?: string,
  ): Promise<unknown> | undefined {
    if (serialized !== undefined && !this.ids.has(record.custom_id)) this.spool.addRequest(serialized);
    this.spool.addRecord(record, dataText);
    this.count(serialized === undefined ? undefined : record.custom_id, bytes);
    return this.spool.backpressure();
  }
}
