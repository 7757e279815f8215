import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { BatchCreateParams } from '@anthropic-ai/sdk/resources/messages/batches';

/** One input record waiting on disk for its result. */
export interface SpooledRecord {
  line: number;
  stream: string;
  namespace: string | null;
  data: Record<string, unknown>;
  emitted_at: number;
  raw_id: string;
  custom_id: string;
}

export function batchDir(runDir: string, seq: number): string {
  return join(runDir, 'spool', `batch-${String(seq).padStart(5, '0')}`);
}

export const recordsFile = (dir: string) => join(dir, 'records.jsonl');
export const requestsFile = (dir: string) => join(dir, 'requests.jsonl');
export const resultsFile = (dir: string) => join(dir, 'results.jsonl');

/**
 * The open batch's spool: records (every input record, in order) and requests (one per distinct
 * custom_id) go to disk as they arrive, so memory holds only ids, never the records themselves.
 */
export class BatchSpool {
  private readonly records: WriteStream;
  private readonly requests: WriteStream;

  private constructor(readonly seq: number, readonly dir: string) {
    this.records = createWriteStream(recordsFile(dir), { mode: 0o600 });
    this.requests = createWriteStream(requestsFile(dir), { mode: 0o600 });
  }

  static async open(runDir: string, seq: number): Promise<BatchSpool> {
    const dir = batchDir(runDir, seq);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new BatchSpool(seq, dir);
  }

  async addRecord(record: SpooledRecord): Promise<void> {
    if (!this.records.write(JSON.stringify(record) + '\n')) await once(this.records, 'drain');
  }

  /** `serialized` is the request's JSON exactly as it will be measured against the batch size limit. */
  async addRequest(serialized: string): Promise<void> {
    if (!this.requests.write(serialized + '\n')) await once(this.requests, 'drain');
  }

  /** Closes both files and fsyncs them: after seal() the batch can be rebuilt from disk alone. */
  async seal(): Promise<void> {
    for (const stream of [this.records, this.requests]) {
      stream.end();
      await once(stream, 'finish');
      const handle = await open(stream.path as string, 'r');
      await handle.sync();
      await handle.close();
    }
  }
}

export type BatchRequest = BatchCreateParams.Request;
