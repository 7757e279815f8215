/** A seeded sync and the platform around it: the input a source sends, and what a platform re-sends after a failure. */
import { seededRandom } from '../../emulator/random.js';

export interface Line {
  text: string;
  stream: string;
  /** RECORD: its index in the stream; STATE: how many records of the stream come before it. */
  at: number;
  kind: 'RECORD' | 'STATE';
}

export const STREAMS = ['alpha', 'beta', 'gamma'];

/** Records of several streams, interleaved at random, with each stream's STATE every 8–20 of its records and at its end. */
export function sourceInput(seed: number, perStream: number): Line[] {
  const random = seededRandom(seed);
  const next = new Map(STREAMS.map((s) => [s, 0]));
  const untilState = new Map(STREAMS.map((s) => [s, 8 + Math.floor(random() * 13)]));
  const lines: Line[] = [];
  const state = (stream: string, at: number) =>
    lines.push({
      kind: 'STATE',
      stream,
      at,
      text: JSON.stringify({
        type: 'STATE',
        state: { type: 'STREAM', stream: { stream_descriptor: { name: stream }, stream_state: { cursor: at } } },
      }),
    });
  for (;;) {
    const open = STREAMS.filter((s) => next.get(s)! < perStream);
    if (open.length === 0) break;
    const stream = open[Math.floor(random() * open.length)]!;
    const i = next.get(stream)!;
    const id = `c${seed}-${stream}-${String(i).padStart(4, '0')}`;
    const data = {
      id,
      title: `Note ${i} of ${stream}`,
      body: `Record ${id} reports ${i * 7} parcels at dock ${i % 4}.`,
    };
    lines.push({
      kind: 'RECORD',
      stream,
      at: i,
      text: JSON.stringify({ type: 'RECORD', record: { stream, data, emitted_at: 1764000000000 } }),
    });
    next.set(stream, i + 1);
    const left = untilState.get(stream)! - 1;
    if (left === 0 || i + 1 === perStream) {
      state(stream, i + 1);
      untilState.set(stream, 8 + Math.floor(random() * 13));
    } else untilState.set(stream, left);
  }
  return lines;
}

export const idsOf = (lines: Line[]) =>
  lines.filter((l) => l.kind === 'RECORD').map((l) => JSON.parse(l.text).record.data.id as string);

/**
 * What a platform sends after a failed attempt: each stream from the last STATE of it the platform received
 * (per-stream state), or everything (a full refresh without state, a new attempt of it).
 */
export function resend(lines: Line[], lastSeen: ReadonlyMap<string, number>, everything: boolean): Line[] {
  if (everything) return lines;
  return lines.filter((l) => {
    const seen = lastSeen.get(l.stream) ?? 0;
    return l.kind === 'RECORD' ? l.at >= seen : l.at > seen;
  });
}
