import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { fsyncPath } from '../common/durable.js';
import { once } from 'node:events';
import { join } from 'node:path';
import type { BatchCreateParams } from '@anthropic-ai/sdk/resources/messages/batches';
import type { SpooledRecord } from '../types/shared.js';

export function batchDir(runDir: string, seq: number): string {
  return join(runDir, 'spool', `batch-${String(seq).padStart(5, '0')}`);
}

/** A seq's records (every input record, in order) live once; each round has its own requests and results. */
export const recordsFile = (dir: string) => join(dir, 'records.jsonl');
export const roundDir = (dir: string, round: number) => join(dir, `round-${round}`);
export const requestsFile = (dir: string, round: number) => join(roundDir(dir, round), 'requests.jsonl');
export const resultsFile = (dir: string, round: number) => join(roundDir(dir, round), 'results.jsonl');

/**
 * The open batch's spool: records (every input record, in order) and requests (one per distinct
 * custom_id) go to disk as they arrive, so memory holds only ids, never the records themselves.
 */
/** Lines gathered into one write of about this size: one syscall per record costs more than the record. */
const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/**
 * Gathers lines into a chunk buffer, each encoded to UTF-8 straight into place (no joined string, no second
 * copy when it is written), and writes the chunk when full. Adding is synchronous; a caller waits on
 * backpressure() (only when the stream is over its buffer) before adding more.
 */
class ChunkedLines {
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;

  constructor(readonly stream: WriteStream) {}

  /** Adds `line` and a newline. */
  add(line: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: room for that many always holds the line.
    const most = line.length * 3 + 1;
    if (this.used + most > this.chunk.length) {
      this.flush();
      if (most > this.chunk.length) {
        this.stream.write(line + '\n');
        return;
      }
    }
    this.used += this.chunk.write(line, this.used, 'utf8');
    this.chunk[this.used++] = NEWLINE;
  }

  flush(): void {
    if (this.used === 0) return;
    // The stream keeps the chunk until it is written: the next lines go into a fresh one.
    this.stream.write(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
  }

  /** Resolves once the stream has written out what it holds, or undefined if it is not over its buffer. */
  backpressure(): Promise<unknown> | undefined {
    return this.stream.writableNeedDrain ? once(this.stream, 'drain') : undefined;
  }
}

export class BatchSpool {
  private readonly records: ChunkedLines;
  private readonly requests: ChunkedLines;

  private constructor(
    readonly seq: number,
    readonly dir: string,
    private readonly save: SaveFile,
  ) {
    // The folder was just created afresh, so exclusive creation also refuses anything planted in it.
    this.records = new ChunkedLines(createWriteStream(recordsFile(dir), { mode: 0o600, flags: 'wx' }));
    this.requests = new ChunkedLines(createWriteStream(requestsFile(dir, 0), { mode: 0o600, flags: 'wx' }));
  }

  /** `save`: makes a sealed file durable where the run's control state lives (ControlState.save). */
  static async open(runDir: string, seq: number, save: SaveFile = async () => undefined): Promise<BatchSpool> {
    const dir = batchDir(runDir, seq);
    // A leftover folder is an unsealed batch from a killed run: never acknowledged, so start it afresh.
    await rm(dir, { recursive: true, force: true });
    await mkdir(roundDir(dir, 0), { recursive: true, mode: 0o700 });
    return new BatchSpool(seq, dir, save);
  }

  /**
   * Buffers a record's line; see backpressure(). `dataText`: the record's data exactly as it came on its input
   * line (recordDataText), spliced in as it is rather than serialised again.
   */
  addRecord(record: SpooledRecord, dataText?: string): void {
    if (dataText === undefined) {
      this.records.add(JSON.stringify(record));
      return;
    }
    const { data: _data, ...rest } = record;
    const head = JSON.stringify(rest);
    this.records.add(`${head.slice(0, -1)},"data":${dataText}}`);
  }

  /** `serialized` is the request's JSON exactly as it will be measured against the batch size limit. */
  addRequest(serialized: string): void {
    this.requests.add(serialized);
  }

  /**
   * A promise to await before adding more when a file's stream is over its buffer (the disk is slower
   * than the input), else undefined: memory stays at about one chunk per file.
   */
  backpressure(): Promise<unknown> | undefined {
    const records = this.records.backpressure();
    const requests = this.requests.backpressure();
    return records && requests ? Promise.all([records, requests]) : (records ?? requests);
  }

  /**
   * Closes both files, fsyncs them and saves them (to the object store, for one): after seal() the batch can
   * be rebuilt from them alone, so the caller journals the seal only after it.
   */
  async seal(): Promise<void> {
    for (const lines of [this.records, this.requests]) {
      lines.flush();
      const stream = lines.stream;
      stream.end();
      await once(stream, 'finish');
      await fsyncPath(stream.path as string);
      await this.save(stream.path as string);
    }
  }

  /** Drops an unsealed batch (a stop before its records were acknowledged). */
  async discard(): Promise<void> {
    this.records.stream.destroy();
    this.requests.stream.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Makes a finished spool file durable beyond this working folder (a no-op for a local destination). */
export type SaveFile = (path: string) => Promise<void>;

export type BatchRequest = BatchCreateParams.Request;
