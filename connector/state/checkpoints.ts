import { streamKey, type AirbyteStateMessage } from '../protocol/messages.js';

interface PendingState {
  state: AirbyteStateMessage;
  sourceCount: number;
  destinationCount: number;
}

/**
 * Holds source STATE messages until every record before them is in a finalised file, then releases them
 * in order (the destination's rule). A state waits for the batch that holds the last record before it.
 * Several states of the same stream waiting on the same batch collapse into the newest, with their
 * counts summed, so a source that checkpoints every record cannot grow memory without bound.
 */
export class CheckpointTracker {
  private readonly pending: Array<{ boundary: number; byKey: Map<string, PendingState> }> = [];
  private readonly sinceLastState = new Map<string, number>();
  private totalSinceLastGlobal = 0;
  private finalisedPrefix = -1;
  private readonly finalised = new Set<number>();

  recordSeen(stream: { name: string; namespace?: string | null }): void {
    const key = streamKey(stream);
    this.sinceLastState.set(key, (this.sinceLastState.get(key) ?? 0) + 1);
    this.totalSinceLastGlobal++;
  }

  /** `boundary` = the seq of the last batch holding a record read before this state (-1 if none). */
  stateSeen(state: AirbyteStateMessage, boundary: number): AirbyteStateMessage[] {
    const isStream = state.type === 'STREAM' && state.stream?.stream_descriptor;
    const key = isStream ? streamKey(state.stream!.stream_descriptor) : '*global*';
    let destinationCount: number;
    if (isStream) {
      destinationCount = this.sinceLastState.get(key) ?? 0;
      this.sinceLastState.set(key, 0);
    } else {
      destinationCount = this.totalSinceLastGlobal;
      this.totalSinceLastGlobal = 0;
      this.sinceLastState.clear();
    }
    const sourceCount = typeof state.sourceStats?.recordCount === 'number' ? state.sourceStats.recordCount : 0;
    let group = this.pending.at(-1);
    if (!group || group.boundary !== boundary) {
      group = { boundary, byKey: new Map() };
      this.pending.push(group);
    }
    const previous = group.byKey.get(key);
    group.byKey.set(key, {
      state,
      sourceCount: sourceCount + (previous?.sourceCount ?? 0),
      destinationCount: destinationCount + (previous?.destinationCount ?? 0),
    });
    return this.release();
  }

  /** Marks a batch's rows as durably written; returns the states that may now be echoed, in order. */
  batchFinalised(seq: number): AirbyteStateMessage[] {
    this.finalised.add(seq);
    while (this.finalised.has(this.finalisedPrefix + 1)) {
      this.finalised.delete(this.finalisedPrefix + 1);
      this.finalisedPrefix++;
    }
    return this.release();
  }

  get waiting(): number {
    return this.pending.reduce((n, g) => n + g.byKey.size, 0);
  }

  private release(): AirbyteStateMessage[] {
    const out: AirbyteStateMessage[] = [];
    while (this.pending.length && this.pending[0]!.boundary <= this.finalisedPrefix) {
      for (const p of this.pending.shift()!.byKey.values()) {
        out.push({
          ...p.state,
          ...(p.state.sourceStats ? { sourceStats: { ...p.state.sourceStats, recordCount: p.sourceCount } } : {}),
          destinationStats: { recordCount: p.destinationCount },
        });
      }
    }
    return out;
  }
}
