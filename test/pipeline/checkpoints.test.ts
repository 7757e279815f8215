// Guards the destination's rule: a STATE is echoed only after every record before it is in a finalised
// file, in order, each one as it came with only destinationStats added — and a chatty source cannot grow
// memory without bound (what waits past the budget waits on disk).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointTracker, type HeldMessage } from '../../connector/pipeline/checkpoints.js';
import type { AirbyteStateMessage } from '../../connector/protocol/messages.js';
import { tempDir } from '../helpers/cli.js';

const streamState = (name: string, cursor: number, count = 1): AirbyteStateMessage => ({
  type: 'STREAM',
  stream: { stream_descriptor: { name }, stream_state: { cursor } },
  sourceStats: { recordCount: count },
});

function drain(t: CheckpointTracker): HeldMessage[] {
  const out: HeldMessage[] = [];
  for (let m = t.next(); m; m = t.next()) out.push(m);
  return out;
}

const parsed = (held: HeldMessage[]) =>
  held.map((m) => JSON.parse(m.line) as { type: string; state: AirbyteStateMessage });
const cursors = (held: HeldMessage[]) =>
  parsed(held).map((m) => (m.state.stream!.stream_state as { cursor: number }).cursor);

describe('CheckpointTracker', () => {
  it('holds a state until its batch is finalised, and releases in order', () => {
    const t = new CheckpointTracker();
    t.recordSeen({ name: 'a' });
    t.stateSeen(streamState('a', 1), undefined, 0);
    expect(drain(t)).toEqual([]);
    t.recordSeen({ name: 'a' });
    t.stateSeen(streamState('a', 2), undefined, 1);
    t.batchFinalised(1);
    expect(drain(t)).toEqual([]); // batch 0 is not done yet
    t.batchFinalised(0);
    const released = drain(t);
    expect(cursors(released)).toEqual([1, 2]);
    expect(parsed(released)[0]!.state.destinationStats).toEqual({ recordCount: 1 });
    expect(released[0]).toMatchObject({ kind: 'state', stream: '[null,"a"]', records: 1 });
  });

  it('releases a state with no records before it at once', () => {
    const t = new CheckpointTracker();
    t.stateSeen(streamState('a', 0, 0), undefined, -1);
    expect(drain(t)).toHaveLength(1);
  });

  it('echoes every state of a stream, each with its own counts, never merged', () => {
    const t = new CheckpointTracker();
    for (let i = 0; i < 1000; i++) {
      t.recordSeen({ name: 'a' });
      if (i % 2) t.recordSeen({ name: 'a' });
      t.stateSeen(streamState('a', i, i % 2 ? 2 : 1), undefined, 0);
    }
    expect(t.waiting).toBe(1000);
    t.batchFinalised(0);
    const out = drain(t);
    expect(cursors(out)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    for (const [i, m] of parsed(out).entries()) {
      expect(m.state.sourceStats).toEqual({ recordCount: i % 2 ? 2 : 1 });
      expect(m.state.destinationStats).toEqual({ recordCount: i % 2 ? 2 : 1 });
    }
  });

  it('counts records per stream for stream states, and all records for global ones', () => {
    const t = new CheckpointTracker();
    t.recordSeen({ name: 'a' });
    t.recordSeen({ name: 'b' });
    t.recordSeen({ name: 'b' });
    t.stateSeen(streamState('b', 1, 2), undefined, 0);
    t.stateSeen(streamState('a', 1, 1), undefined, 0);
    t.recordSeen({ name: 'a' });
    t.recordSeen({ name: 'b' });
    t.stateSeen({ type: 'GLOBAL', global: { shared_state: {}, stream_states: [] } }, undefined, 0);
    t.batchFinalised(0);
    expect(drain(t).map((m) => [m.stream, m.records])).toEqual([
      ['[null,"b"]', 2],
      ['[null,"a"]', 1],
      [null, 5],
    ]);
  });

  it('keeps the text of each state as it came, byte for byte, with only destinationStats added', () => {
    const t = new CheckpointTracker();
    const text =
      '{"type":"STREAM","stream":{"stream_descriptor":{"name":"a"},"stream_state":{"cursor":12345678901234567890,"e":1e400}},"id":7}';
    t.recordSeen({ name: 'a' });
    t.stateSeen(JSON.parse(text) as AirbyteStateMessage, text, -1);
    expect(drain(t).map((m) => m.line)).toEqual([
      `{"type":"STATE","state":${text.slice(0, -1)},"destinationStats":{"recordCount":1.0}}}`,
    ]);
  });

  it('passes traces on in order with the states around them', () => {
    const t = new CheckpointTracker();
    t.recordSeen({ name: 'a' });
    t.stateSeen(streamState('a', 1), undefined, 0);
    t.traceSeen('{"type":"TRACE","trace":{"type":"ERROR"}}', 0);
    t.stateSeen(streamState('a', 2, 0), undefined, 0);
    t.batchFinalised(0);
    expect(drain(t).map((m) => m.kind)).toEqual(['state', 'trace', 'state']);
  });

  it('keeps memory bounded: past its budget, held messages wait on disk and come back in order', () => {
    const dir = tempDir();
    const file = join(dir, 'held.jsonl');
    const t = new CheckpointTracker(file, 64 * 1024);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      t.recordSeen({ name: 'a' });
      t.stateSeen(streamState('a', i), undefined, i < n / 2 ? 0 : 1);
    }
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size).toBeGreaterThan(1_000_000);
    t.batchFinalised(0);
    const first = drain(t);
    expect(cursors(first)).toEqual(Array.from({ length: n / 2 }, (_, i) => i));
    // More states arrive while the file still holds older ones: they queue behind them.
    t.recordSeen({ name: 'a' });
    t.stateSeen(streamState('a', n), undefined, 1);
    t.batchFinalised(1);
    expect(cursors(drain(t))).toEqual(Array.from({ length: n / 2 + 1 }, (_, i) => n / 2 + i));
    expect(t.waiting).toBe(0);
    t.close();
    expect(existsSync(file)).toBe(false);
  });
});
