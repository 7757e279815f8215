import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Anthropic from '@anthropic-ai/sdk';
import type { Schema } from 'apache-arrow';
import type { Catalog } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { ConnectorError } from '../errors.js';
import { createBatch, downloadResults, waitUntilEnded, type LifecycleOptions } from '../batches/lifecycle.js';
import { streamKey, type AirbyteRecord, type AirbyteStateMessage } from '../protocol/messages.js';
import { parseMessage, readLines } from '../protocol/reader.js';
import type { MessageWriter } from '../protocol/writer.js';
import { RequestBuilder } from '../requests/build.js';
import { streamArrowSchema } from '../sinks/arrow-schema.js';
import { writeBatchOutput, type StreamTally } from '../sinks/batch-writer.js';
import { summariseStreams, writeJsonAtomic, type BatchSummary, type RunManifest } from '../sinks/manifest.js';
import { DEFAULT_PARQUET_OPTIONS } from '../sinks/parquet-file.js';
import { runControlDir } from '../sinks/layout.js';
import { CheckpointTracker } from '../state/checkpoints.js';
import { Journal } from '../state/journal.js';
import { BatchSpool, recordsFile, requestsFile, resultsFile } from '../state/spool.js';
import { OpenBatch, RUN_STATE_STREAM } from './open-batch.js';

export interface WriteRunOptions {
  config: ConnectorConfig;
  catalog: Catalog;
  client: Anthropic;
  input: Readable;
  writer: MessageWriter;
  lifecycle: Omit<LifecycleOptions, 'log'>;
  runId?: string;
}

/** Hash of every setting that changes what is sent; the key never enters it. */
export function configFingerprint(config: ConnectorConfig): string {
  const { api_key: _key, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
}

/**
 * One `write` run: reads the protocol stream, spools records into batches on disk, and for every sealed
 * batch runs submit → poll → download → Parquet in the background while reading continues. Source STATE
 * messages are echoed only once every record before them is in a committed file.
 */
export class WriteRun {
  readonly runId: string;
  private readonly runDir: string;
  private journal!: Journal;
  private readonly builder: RequestBuilder;
  private readonly tracker = new CheckpointTracker();
  private readonly schemas = new Map<string, Schema>();
  private readonly tasks: Promise<void>[] = [];
  private readonly tallies: StreamTally[] = [];
  private readonly batches: BatchSummary[] = [];
  private readonly inFlight = new Map<number, string>();
  private emitChain: Promise<void> = Promise.resolve();
  private open: OpenBatch | null = null;
  private nextSeq = 0;
  private lastSeqWithRecords = -1;
  private recordsIn = 0;
  private failure: unknown = null;
  private readonly startedAt = new Date();

  constructor(private readonly o: WriteRunOptions) {
    this.runId = o.runId ?? newRunId(this.startedAt);
    this.runDir = runControlDir(o.config.destination_path, this.runId);
    this.builder = new RequestBuilder(o.config);
    for (const s of o.catalog.streams) this.schemas.set(streamKey(s), streamArrowSchema(s.jsonSchema));
  }

  async run(): Promise<RunManifest> {
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
    this.journal = new Journal(join(this.runDir, 'journal.jsonl'));
    this.journal.append({ type: 'run_started', run_id: this.runId, config_fingerprint: configFingerprint(this.o.config), at: this.startedAt.toISOString() });
    await this.log('INFO', `run ${this.runId} started; control files in ${this.runDir}`);
    try {
      await this.readInput();
      await this.sealOpenBatch();
      await Promise.all(this.tasks);
      if (this.failure) throw this.failure;
      // States that arrived after the last record (or with no records at all) are releasable now.
      for (const state of this.tracker.batchFinalised(this.nextSeq)) this.emit(() => this.o.writer.state(state));
      await this.emitChain;
      const manifest = await this.writeManifest();
      this.journal.append({ type: 'run_completed', at: manifest.finished_at, records: this.recordsIn });
      await rm(join(this.runDir, 'spool'), { recursive: true, force: true });
      return manifest;
    } catch (err) {
      this.failure ??= err;
      await Promise.allSettled(this.tasks);
      throw this.failure;
    } finally {
      this.journal.close();
    }
  }

  private async readInput(): Promise<void> {
    for await (const line of readLines(this.o.input)) {
      if (this.failure) throw this.failure;
      const message = parseMessage(line);
      if (!message) continue;
      if (message.type === 'RECORD') await this.addRecord(message.record, line.lineNumber);
      else if (message.type === 'STATE') {
        const released = this.tracker.stateSeen(message.state, this.lastSeqWithRecords);
        for (const state of released) this.emit(() => this.o.writer.state(state));
      }
      // LOG, TRACE and other message types from the source are not ours to act on.
    }
  }

  private async addRecord(record: AirbyteRecord, lineNumber: number): Promise<void> {
    const stream = this.o.catalog.find({ name: record.stream, namespace: record.namespace });
    if (!stream) {
      const ns = record.namespace ? `${record.namespace}.` : '';
      throw new ConnectorError('config_error', 'STREAM_NOT_IN_CATALOG', `stdin line ${lineNumber}: RECORD for stream "${ns}${record.stream}", which is not in the configured catalog`);
    }
    const request = this.builder.build(record);
    const serialized = JSON.stringify({ custom_id: request.customId, params: request.params });
    const bytes = Buffer.byteLength(serialized);
    const limits = { maxRequests: this.o.config.max_requests_per_batch, maxBytes: this.o.config.max_batch_bytes };
    if (OpenBatch.overhead(bytes) > limits.maxBytes) {
      throw new ConnectorError('config_error', 'RECORD_TOO_LARGE', `stdin line ${lineNumber}: the request for this record is ${bytes} bytes, over max_batch_bytes (${limits.maxBytes})`);
    }
    if (this.open && !this.open.fits(request.customId, bytes, limits)) await this.sealOpenBatch();
    if (!this.open) this.open = new OpenBatch(await BatchSpool.open(this.runDir, this.nextSeq++));
    await this.open.add(
      {
        line: lineNumber,
        stream: record.stream,
        namespace: stream.namespace,
        data: record.data,
        emitted_at: typeof record.emitted_at === 'number' ? record.emitted_at : Date.now(),
        raw_id: randomUUID(),
        custom_id: request.customId,
      },
      serialized,
      bytes,
    );
    this.lastSeqWithRecords = this.open.spool.seq;
    this.tracker.recordSeen(stream);
    this.recordsIn++;
  }

  private async sealOpenBatch(): Promise<void> {
    const batch = this.open;
    this.open = null;
    if (!batch) return;
    await batch.spool.seal();
    const { seq } = batch.spool;
    this.journal.append({ type: 'batch_sealed', seq, records: batch.records, requests: batch.requests, bytes: batch.bytes });
    const task = this.processBatch(seq, batch).catch((err) => {
      this.failure ??= err;
    });
    this.tasks.push(task);
  }

  private async processBatch(seq: number, batch: OpenBatch): Promise<void> {
    const dir = batch.spool.dir;
    const lifecycle: LifecycleOptions = { ...this.o.lifecycle, log: (m) => void this.log('WARN', `batch #${seq}: ${m}`) };
    const client = this.o.client;
    this.journal.append({ type: 'batch_submitting', seq, at: new Date().toISOString() });
    const created = await createBatch(client, requestsFile(dir), lifecycle);
    this.journal.append({ type: 'batch_submitted', seq, batch_id: created.id, at: created.created_at });
    this.inFlight.set(seq, created.id);
    this.emitRunState();
    await this.log('INFO', `batch #${seq} submitted as ${created.id}: ${batch.requests} requests for ${batch.records} records`);
    const ended = await waitUntilEnded(client, created.id, lifecycle);
    const counts = { ...ended.request_counts } as unknown as Record<string, number>;
    this.journal.append({ type: 'batch_ended', seq, batch_id: created.id, counts, at: ended.ended_at ?? new Date().toISOString() });
    const { index, lines } = await downloadResults(client, created.id, resultsFile(dir), lifecycle);
    this.journal.append({ type: 'results_downloaded', seq, batch_id: created.id, lines });
    const tallies = await writeBatchOutput(
      { destination: this.o.config.destination_path, runId: this.runId, catalog: this.o.catalog, schemas: this.schemas, parquet: DEFAULT_PARQUET_OPTIONS },
      seq,
      created.id,
      recordsFile(dir),
      resultsFile(dir),
      index,
    );
    for (const t of tallies) this.journal.append({ type: 'file_written', seq, path: t.path, rows: t.rows });
    this.journal.append({ type: 'batch_finalised', seq });
    this.tallies.push(...tallies);
    this.batches.push({ seq, batch_id: created.id, records: batch.records, requests: batch.requests, counts });
    this.inFlight.delete(seq);
    await rm(dir, { recursive: true, force: true });
    await this.log('INFO', `batch #${seq} (${created.id}) written: ${tallies.map((t) => `${t.rows} rows → ${t.path}`).join(', ')}`);
    this.emitRunState();
    for (const state of this.tracker.batchFinalised(seq)) this.emit(() => this.o.writer.state(state));
  }

  /** Our own checkpoint: the run id and the batches still in flight, as a STATE of a reserved stream. */
  private emitRunState(): void {
    if (!this.o.config.emit_run_state) return;
    const state: AirbyteStateMessage = {
      type: 'STREAM',
      stream: {
        stream_descriptor: { name: RUN_STATE_STREAM },
        stream_state: {
          run_id: this.runId,
          pending_batches: [...this.inFlight].map(([seq, batch_id]) => ({ seq, batch_id })),
          finalised_batches: this.batches.length,
        },
      },
    };
    this.emit(() => this.o.writer.state(state));
  }

  /** Serialises output so states and logs from concurrent batches keep the order they were released in. */
  private emit(send: () => Promise<void>): void {
    this.emitChain = this.emitChain.then(send);
  }

  private log(level: 'INFO' | 'WARN', message: string): Promise<void> {
    this.emit(() => this.o.writer.log(level, message));
    return this.emitChain;
  }

  private async writeManifest(): Promise<RunManifest> {
    const manifest: RunManifest = {
      run_id: this.runId,
      started_at: this.startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      model: this.o.config.model,
      config_fingerprint: configFingerprint(this.o.config),
      records_in: this.recordsIn,
      rows_out: this.tallies.reduce((n, t) => n + t.rows, 0),
      streams: summariseStreams(this.tallies),
      batches: [...this.batches].sort((a, b) => a.seq - b.seq),
      tokens: {
        input: this.tallies.reduce((n, t) => n + t.inputTokens, 0),
        output: this.tallies.reduce((n, t) => n + t.outputTokens, 0),
      },
    };
    await writeJsonAtomic(join(this.runDir, 'manifest.json'), manifest);
    return manifest;
  }
}
