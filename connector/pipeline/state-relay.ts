import type { RunJournal } from '../journal/journal.js';
import { failpoint } from '../common/failpoints.js';
import type { AirbyteStateMessage } from '../protocol/messages.js';
import type { CheckpointTracker } from './checkpoints.js';
import type { MessageEmitter } from './emitter.js';
import { RUN_STATE_STREAM } from './open-batch.js';

/**
 * Relays the source's STATE messages (and, in transform mode, its TRACEs) to stdout once every record read
 * before them is committed. The CheckpointTracker decides what may go; the relay journals each STATE as
 * `state_emitted`, then writes it. It also sends the run's own STATE, when the sync can take it.
 */
export class StateRelay {
  private scheduled = false;
  private readonly released = new Set<number>();
  /**
   * Our own run STATE goes out only once the source has sent a per-stream STATE without a platform id, and
   * never after one with an id or of another type: the Airbyte platform (1.7+) tags each source STATE with an
   * id and fails a sync on a destination STATE without one, and its GLOBAL or LEGACY state aggregation
   * refuses a STREAM state in between. Pipes and orchestrators that hand states back still get it.
   */
  private runState: 'unknown' | 'safe' | 'off';

  constructor(
    private readonly emitter: MessageEmitter,
    private readonly journal: RunJournal,
    private readonly tracker: CheckpointTracker,
    emitRunState: boolean,
  ) {
    this.runState = emitRunState ? 'unknown' : 'off';
  }

  recordSeen(stream: { name: string; namespace?: string | null }): void {
    this.tracker.recordSeen(stream);
  }

  /** A source STATE: `boundary` = the seq of the last batch holding a record read before it (-1 if none). */
  stateSeen(
    state: AirbyteStateMessage,
    text: string | undefined,
    boundary: number,
    positions: Record<string, number>,
  ): void {
    this.noteSourceState(state);
    this.tracker.stateSeen(state, text, boundary, positions);
    this.sendHeld();
  }

  /** A source TRACE to pass on downstream, in order with the states around it. */
  traceSeen(line: string, boundary: number): void {
    this.tracker.traceSeen(line, boundary);
    this.sendHeld();
  }

  /** A seq's records are committed: echo the messages that were waiting on it. */
  release(seq: number): void {
    if (this.released.has(seq)) return;
    this.released.add(seq);
    this.tracker.batchFinalised(seq);
    this.sendHeld();
  }

  /** Our own checkpoint: the run id and the batches still in flight, as a STATE of a reserved stream. */
  sendRunState(
    state: () => {
      run_id: string;
      pending_batches: Array<{ seq: number; batch_id: string }>;
      finalised_batches: number;
    },
  ): void {
    if (this.runState !== 'safe') return;
    const message: AirbyteStateMessage = {
      type: 'STREAM',
      stream: { stream_descriptor: { name: RUN_STATE_STREAM }, stream_state: state() },
    };
    this.emitter.emit((w) => w.state(message));
  }

  /** Drops what still waits (it was never released) and its spill file. */
  close(): void {
    this.tracker.close();
  }

  private noteSourceState(state: AirbyteStateMessage): void {
    if (this.runState === 'off') return;
    if (state.type === 'STREAM' && !('id' in state)) {
      this.runState = 'safe';
      return;
    }
    this.runState = 'off';
    const why =
      state.type === 'STREAM'
        ? 'the platform tags source STATEs with ids'
        : `the source sends ${state.type ?? 'LEGACY (untyped)'} states`;
    void this.emitter.log(
      'INFO',
      `run STATE messages (emit_run_state) are not sent in this sync: ${why}, and a STATE of our own would fail it`,
    );
  }

  /** Sends every held message that may go out now (one pass queued at a time, each message pulled as sent). */
  private sendHeld(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.emitter.emit(async (writer) => {
      this.scheduled = false;
      for (let held = this.tracker.next(); held; held = this.tracker.next()) {
        // Journaled before it goes out, with where it stands in each stream: a resume takes every echoed STATE as
        // a place the platform may restart from (see ResendMatcher), so dying between the journal and stdout
        // costs nothing either way.
        if (held.kind === 'state') {
          const positions = held.positions;
          await this.journal.append({
            type: 'state_emitted',
            stream: held.stream,
            records: held.records,
            ...(positions ? { positions } : {}),
          });
          failpoint('after_state_journaled');
        }
        await writer.line(held.line);
      }
    });
  }
}
