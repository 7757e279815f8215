/*
 * A record's values as the source wrote them. JSON.parse turns every number into a double, so
 * 12345678901234567890 becomes 12345678901234567000 and 1e400 becomes Infinity; wherever a value is passed
 * on (a JSON column, `_airbyte_data`, a prompt, a transform's RECORD) its text is cut out of the record's
 * text instead (record-span.ts scans it), and typed columns parse numbers from that text.
 */
import { forEachMember, memberSpan, skipSpace, skipValue } from './record-span.js';

/** One member of an object: its decoded key and its value's text. */
export interface Member {
  key: string;
  text: string;
}

/**
 * The members of the JSON object `text` (as JSON.parse accepted it), once per key with the last value, as
 * JSON.parse keeps it, in the order the keys first appear. Undefined when `text` is not an object.
 * `keyCount`, the number of keys JSON.parse found, when known: equal to the members cut, no key repeats.
 */
export function objectMembers(text: string, keyCount?: number): Member[] | undefined {
  const at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== 0x7b) return undefined;
  const members: Member[] = [];
  if (!forEachMember(text, at, (key, start, end) => void members.push({ key, text: text.slice(start, end) })))
    return undefined;
  if (members.length === keyCount) return members;
  const byKey = new Map<string, string>();
  for (const m of members) byKey.set(m.key, m.text);
  return byKey.size === members.length ? members : Array.from(byKey, ([key, value]) => ({ key, text: value }));
}

/** The [start, end) of element `index` of the array whose `[` is at `at`, or undefined. */
function elementSpan(text: string, at: number, index: number): [number, number] | undefined {
  let i = skipSpace(text, at + 1);
  if (text.charCodeAt(i) === 0x5d) return undefined;
  for (let n = 0; ; n++) {
    const end = skipValue(text, i);
    if (n === index) return [i, end];
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== 0x2c) return undefined;
    i = skipSpace(text, i + 1);
  }
}

/**
 * The text of the value at `path` inside the JSON text `text`: object keys, or array indices written as
 * decimal digits. Undefined when the path leads nowhere.
 */
export function valueTextAt(text: string, path: readonly string[]): string | undefined {
  const first = skipSpace(text, 0);
  let span: [number, number] = [first, skipValue(text, first)];
  for (const key of path) {
    const c = text.charCodeAt(span[0]);
    let next: [number, number] | null | undefined;
    if (c === 0x7b) next = memberSpan(text, span[0], key);
    else if (c === 0x5b && /^\d+$/.test(key)) next = elementSpan(text, span[0], Number(key));
    if (!next) return undefined;
    span = next;
  }
  return text.slice(span[0], span[1]);
}

/** Whether a value's JSON text is a number (as opposed to a string, object, array, true, false or null). */
export function isNumberText(text: string): boolean {
  const c = text.charCodeAt(0);
  return c === 0x2d || (c >= 0x30 && c <= 0x39);
}

/** The text of member `key` of the JSON object `text` (the last one when repeated), or undefined. */
export function memberText(text: string, key: string): string | undefined {
  return valueTextAt(text, [key]);
}
