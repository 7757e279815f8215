/*
 * The exact text of a RECORD line's `record.data`, cut out of the line instead of re-serialised: the spool
 * stores each record's data, and JSON.stringify of ~1 KB of data was the largest single cost of reading
 * input. Only for lines JSON.parse has already accepted, so the scan can trust the syntax; it gives up
 * (undefined: the caller serialises as before) on a shape it cannot cut (data that is not an object).
 * Keys with escapes are decoded, so `"d\u0061ta"` is found as `data`, as JSON.parse reads it.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export function skipSpace(text: string, at: number): number {
  while (isSpace(text.charCodeAt(at))) at++;
  return at;
}

/** The index just past the string whose opening quote is at `at`. */
function skipString(text: string, at: number): number {
  for (let from = at + 1; ;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length;
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index just past the value that starts at `at`. */
export function skipValue(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === QUOTE) return skipString(text, at);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let i = at; i < text.length;) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) {
        i = skipString(text, i);
        continue;
      }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) return i + 1;
      i++;
    }
    return text.length;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  for (
    let d = text.charCodeAt(i);
    i < text.length && d !== COMMA && d !== CLOSE_BRACE && d !== CLOSE_BRACKET && !isSpace(d);
    d = text.charCodeAt(++i)
  );
  return i;
}

/**
 * Calls `each(key, start, end)` for every member of the object whose `{` is at `at`, in order (a repeated key
 * each time), with its key decoded and the [start, end) of its value. Iterative, so an object of any width
 * is fine. False when the text is not an object this scan can walk.
 */
export function forEachMember(
  text: string,
  at: number,
  each: (key: string, start: number, end: number) => void,
): boolean {
  let i = skipSpace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return true;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return false;
    const keyEnd = skipString(text, i);
    const raw = text.slice(i + 1, keyEnd - 1);
    const name = raw.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : raw;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return false;
    const start = skipSpace(text, i + 1);
    const end = skipValue(text, start);
    each(name, start, end);
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return true;
    if (c !== COMMA) return false;
    i = skipSpace(text, i + 1);
  }
}

/**
 * The [start, end) of the value of `key` in the object whose `{` is at `at` (the last one when the key
 * repeats, as JSON.parse keeps the last), null when absent, undefined when the object cannot be walked.
 */
export function memberSpan(text: string, at: number, key: string): [number, number] | null | undefined {
  let found = null as [number, number] | null;
  const walked = forEachMember(text, at, (name, start, end) => {
    if (name === key) found = [start, end];
  });
  return walked ? found : undefined;
}

/** The text of `record.data` in a RECORD message line that JSON.parse accepted, or undefined. */
export function recordDataText(line: string): string | undefined {
  const top = skipSpace(line, 0);
  if (line.charCodeAt(top) !== OPEN_BRACE) return undefined;
  const record = memberSpan(line, top, 'record');
  if (!record || line.charCodeAt(record[0]) !== OPEN_BRACE) return undefined;
  const data = memberSpan(line, record[0], 'data');
  if (!data || line.charCodeAt(data[0]) !== OPEN_BRACE) return undefined;
  return line.slice(data[0], data[1]);
}
