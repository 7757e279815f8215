import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { streamKey, type StreamDescriptor } from '../protocol/messages.js';
import type { MessageWriter } from '../protocol/writer.js';
import type { Clock } from '../ports/clock.js';

interface PendingBatch {
  seq: number;
  batchId: string;
  since: number;
  requests: number;
  status: string;
}

/**
 * Tells the platform and the operator what the run is doing while it waits on the API: a LOG line and
 * per-stream TRACE ESTIMATE messages on a steady cadence, STREAM_STATUS when a stream starts and ends,
 * and on an interactive terminal a one-line status on stderr. Its cadence and every time it reports (how
 * long a batch has waited, each TRACE's emitted_at) are the run's clock's.
 */
export class Progress {
  private readonly pending = new Map<string, PendingBatch>();
  private readonly streams = new Map<string, { descriptor: StreamDescriptor; records: number; bytes: number }>();
  private stopTicks: (() => void) | undefined;
  private rowsWritten = 0;

  constructor(
    private readonly emit: (send: (w: MessageWriter) => Promise<void>) => void,
    private readonly intervalMs: number,
    private readonly clock: Pick<Clock, 'now' | 'every'>,
    private readonly tty: NodeJS.WriteStream | undefined = process.stderr.isTTY ? process.stderr : undefined,
  ) {}

  start(): void {
    this.stopTicks = this.clock.every(this.intervalMs, () => this.report());
  }

  stop(): void {
    this.stopTicks?.();
    this.stopTicks = undefined;
    if (this.tty) this.tty.write('\n');
  }

  recordRead(stream: StreamDescriptor, bytes: number): void {
    const key = streamKey(stream);
    let entry = this.streams.get(key);
    if (!entry) {
      // The protocol's namespace is a string: a stream without one has no namespace key (never null).
      entry = {
        descriptor: { name: stream.name, ...(stream.namespace ? { namespace: stream.namespace } : {}) },
        records: 0,
        bytes: 0,
      };
      this.streams.set(key, entry);
      this.streamStatus(entry.descriptor, 'STARTED');
    }
    entry.records++;
    entry.bytes += bytes;
  }

  submitted(seq: number, batchId: string, requests: number): void {
    this.pending.set(batchId, { seq, batchId, since: this.clock.now(), requests, status: 'in_progress' });
  }

  polled(batch: MessageBatch): void {
    const entry = this.pending.get(batch.id);
    if (entry) entry.status = batch.processing_status;
  }

  finished(batchIds: Array<string | undefined>, rows: number): void {
    for (const id of batchIds) if (id) this.pending.delete(id);
    this.rowsWritten += rows;
  }

  /** Streams end COMPLETE when the run completes, INCOMPLETE when it stops short. */
  end(complete: boolean): void {
    for (const s of this.streams.values()) this.streamStatus(s.descriptor, complete ? 'COMPLETE' : 'INCOMPLETE');
  }

  private streamStatus(descriptor: StreamDescriptor, status: string): void {
    // The time of the event, not of the write (the emitter may send it later).
    const emittedAt = this.clock.now();
    this.emit((w) =>
      w.emit({
        type: 'TRACE',
        trace: {
          type: 'STREAM_STATUS',
          emitted_at: emittedAt,
          stream_status: { stream_descriptor: descriptor, status },
        },
      }),
    );
  }

  report(): void {
    const now = this.clock.now();
    const read = [...this.streams.values()].reduce((n, s) => n + s.records, 0);
    for (const s of this.streams.values()) {
      this.emit((w) =>
        w.emit({
          type: 'TRACE',
          trace: {
            type: 'ESTIMATE',
            emitted_at: now,
            estimate: { ...s.descriptor, type: 'STREAM', row_estimate: s.records, byte_estimate: s.bytes },
          },
        }),
      );
    }
    if (this.pending.size === 0) return;
    const requests = [...this.pending.values()].reduce((n, p) => n + p.requests, 0);
    const oldest = Math.max(...[...this.pending.values()].map((p) => now - p.since));
    const list = [...this.pending.values()]
      .slice(0, 5)
      .map((p) => `#${p.seq} ${p.batchId} ${p.status} ${Math.round((now - p.since) / 1000)}s`)
      .join(', ');
    const line = `${read} records read, ${this.rowsWritten} rows written; waiting on ${this.pending.size} batches (${requests} requests, oldest ${Math.round(oldest / 1000)}s): ${list}${this.pending.size > 5 ? ', …' : ''}`;
    this.emit((w) => w.log('INFO', line));
    if (this.tty) this.tty.write(`\r\x1b[K${line.slice(0, (this.tty.columns ?? 120) - 1)}`);
  }
}
