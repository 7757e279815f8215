/*
 * The STATE a destination echoes is the source's STATE as it came, with only `destinationStats` added (what the
 * Airbyte CDKs do). It is built from the input line's own text, never re-serialised: JSON.parse would turn a
 * cursor of 12345678901234567890 into 12345678901234567000 and 1e400 into null, and the platform matches echoed
 * states to the source's by a hash of their content.
 */
import { memberSpan, skipSpace } from './record-span.js';

const OPEN_BRACE = 0x7b;

/** The text of `state` in a STATE message line that JSON.parse accepted, or undefined. */
export function stateText(line: string): string | undefined {
  const top = skipSpace(line, 0);
  if (line.charCodeAt(top) !== OPEN_BRACE) return undefined;
  const span = memberSpan(line, top, 'state');
  if (!span || line.charCodeAt(span[0]) !== OPEN_BRACE) return undefined;
  return line.slice(span[0], span[1]);
}

/**
 * The STATE message line to echo for a source state whose `state` object text is `state`: every byte of it
 * kept, `destinationStats` set to `{recordCount}` (replacing one the input carried, which is the destination's
 * to say). The count is written with a decimal point, as the protocol asks of AirbyteStateStats.
 */
export function echoStateLine(state: string, recordCount: number): string {
  const stats = `{"recordCount":${recordCount}.0}`;
  const existing = memberSpan(state, 0, 'destinationStats');
  if (existing) return wrap(state.slice(0, existing[0]) + stats + state.slice(existing[1]));
  const close = state.lastIndexOf('}');
  let end = close;
  while (end > 1 && /\s/.test(state[end - 1]!)) end--;
  const empty = end === 1;
  return wrap(`${state.slice(0, end)}${empty ? '' : ','}"destinationStats":${stats}${state.slice(end)}`);
}

const wrap = (state: string) => `{"type":"STATE","state":${state}}`;
