import { streamKey, type AirbyteStateMessage } from '../protocol/messages.js';
import { echoStateLine } from '../protocol/state-echo.js';
import { SpillQueue } from '../common/spill-queue.js';

/** A message for stdout that must wait until every record read before it is committed. */
export interface HeldMessage {
  kind: 'state' | 'trace';
  /** The whole message line, ready for stdout. */
  line: string;
  /** For a state: the stream it counts records for (streamKey), null for GLOBAL and LEGACY states. */
  stream: string | null;
  /** For a state: its destinationStats.recordCount. */
  records: number;
  /** For a state: how many records of each stream came before it (a resume's candidate restart points). */
  positions?: Record<string, number>;
}

/** The file in a run's folder where held messages past the memory budget wait (deleted when the write ends). */
export const HELD_MESSAGES_FILE = 'held-messages.jsonl';

type Waiting = HeldMessage & { boundary: number };

/** Held messages kept in memory before the rest waits on disk. */
const MEMORY_BYTES = 8 * 1024 * 1024;

/**
 * Holds source STATE messages (and, in transform mode, the source's own TRACE messages) until every record
 * before them is in a finalised file, then releases them in input order (the destination's rule). A message
 * waits for the batch that holds the last record before it. Every STATE goes out once, as it came, with its
 * own destinationStats: the records of its stream (all streams, for GLOBAL and LEGACY) since the previous
 * STATE of that scope. A source that checkpoints every record holds one message per record while batches
 * process: past 8 MB they wait in a file (`spillPath`), so memory stays bounded.
 */
export class CheckpointTracker {
  private readonly queue: SpillQueue<Waiting>;
  private readonly sinceLastState = new Map<string, number>();
  private totalSinceLastGlobal = 0;
  private finalisedPrefix = -1;
  private readonly finalised = new Set<number>();

  constructor(spillPath?: string, memoryBytes = MEMORY_BYTES) {
    this.queue = new SpillQueue<Waiting>(spillPath, memoryBytes, (m) => m.line.length * 2 + 96);
  }

  recordSeen(stream: { name: string; namespace?: string | null }): void {
    const key = streamKey(stream);
    this.sinceLastState.set(key, (this.sinceLastState.get(key) ?? 0) + 1);
    this.totalSinceLastGlobal++;
  }

  /**
   * A source state; `text` is its `state` object as it came on the input line (see stateText), else it is
   * serialised. `boundary` = the seq of the last batch holding a record read before it (-1 if none).
   */
  stateSeen(
    state: AirbyteStateMessage,
    text: string | undefined,
    boundary: number,
    positions?: Record<string, number>,
  ): void {
    const descriptor = state.type === 'STREAM' ? state.stream?.stream_descriptor : undefined;
    const stream = descriptor ? streamKey(descriptor) : null;
    let records: number;
    if (stream !== null) {
      records = this.sinceLastState.get(stream) ?? 0;
      this.sinceLastState.set(stream, 0);
    } else {
      records = this.totalSinceLastGlobal;
      this.totalSinceLastGlobal = 0;
      this.sinceLastState.clear();
    }
    const line = echoStateLine(text ?? JSON.stringify(state), records);
    this.queue.push({ kind: 'state', line, stream, records, boundary, ...(positions ? { positions } : {}) });
  }

  /** A source TRACE line to pass on downstream, in order with the states and records around it. */
  traceSeen(line: string, boundary: number): void {
    this.queue.push({ kind: 'trace', line, stream: null, records: 0, boundary });
  }

  /** Marks a batch's rows as durably written: the messages waiting on it (and no later batch) may go out. */
  batchFinalised(seq: number): void {
    this.finalised.add(seq);
    while (this.finalised.has(this.finalisedPrefix + 1)) {
      this.finalised.delete(this.finalisedPrefix + 1);
      this.finalisedPrefix++;
    }
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Drops what still waits (it was never released) and its file. */
  close(): void {
    this.queue.close();
  }

  /**
   * The next message that may go out now, in input order, or undefined. Pulled one at a time (not returned as
   * a list) so that releasing a million held states never holds them all in memory at once.
   */
  next(): HeldMessage | undefined {
    const head = this.queue.peek();
    if (!head || head.boundary > this.finalisedPrefix) return undefined;
    const { boundary: _boundary, ...message } = this.queue.shift()!;
    return message;
  }
}
