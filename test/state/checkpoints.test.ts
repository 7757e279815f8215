// Guards the destination's rule: a STATE is echoed only after every record before it is in a finalised
// file, in order, with destinationStats — and a chatty source cannot grow memory without bound.
import { describe, expect, it } from 'vitest';
import { CheckpointTracker } from '../../connector/state/checkpoints.js';
import type { AirbyteStateMessage } from '../../connector/protocol/messages.js';

const streamState = (name: string, cursor: number, count = 1): AirbyteStateMessage => ({
  type: 'STREAM',
  stream: { stream_descriptor: { name }, stream_state: { cursor } },
  sourceStats: { recordCount: count },
});

describe('CheckpointTracker', () => {
  it('holds a state until its batch is finalised, and releases in order', () => {
    const t = new CheckpointTracker();
    t.recordSeen({ name: 'a' });
    expect(t.stateSeen(streamState('a', 1), 0)).toEqual([]);
    t.recordSeen({ name: 'a' });
    expect(t.stateSeen(streamState('a', 2), 1)).toEqual([]);
    expect(t.batchFinalised(1)).toEqual([]); // batch 0 is not done yet
    const released = t.batchFinalised(0);
    expect(released.map((s) => (s.stream!.stream_state as { cursor: number }).cursor)).toEqual([1, 2]);
    expect(released[0]!.destinationStats).toEqual({ recordCount: 1 });
  });

  it('releases a state with no records before it at once', () => {
    const t = new CheckpointTracker();
    expect(t.stateSeen(streamState('a', 0, 0), -1)).toHaveLength(1);
  });

  it('collapses states of one stream waiting on one batch, summing counts', () => {
    const t = new CheckpointTracker();
    for (let i = 0; i < 1000; i++) {
      t.recordSeen({ name: 'a' });
      t.stateSeen(streamState('a', i), 0);
    }
    expect(t.waiting).toBe(1);
    const [only] = t.batchFinalised(0);
    expect(only!.stream!.stream_state).toEqual({ cursor: 999 });
    expect(only!.sourceStats).toEqual({ recordCount: 1000 });
    expect(only!.destinationStats).toEqual({ recordCount: 1000 });
  });

  it('counts records per stream for stream states', () => {
    const t = new CheckpointTracker();
    t.recordSeen({ name: 'a' });
    t.recordSeen({ name: 'b' });
    t.recordSeen({ name: 'b' });
    t.stateSeen(streamState('b', 1, 2), 0);
    t.stateSeen(streamState('a', 1, 1), 0);
    const out = t.batchFinalised(0);
    expect(out.map((s) => [s.stream!.stream_descriptor.name, s.destinationStats!.recordCount])).toEqual([
      ['b', 2],
      ['a', 1],
    ]);
  });
});
