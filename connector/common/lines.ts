import { open } from 'node:fs/promises';

/** Bytes read per positional read when scanning a spool file line by line. */
const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Calls `onLine(buf, start, end)` for every non-empty line of the file at `path` (bytes [start, end) of
 * `buf`, without the LF or CRLF), in order. Reads 1 MiB at a time; nothing is decoded: a caller that needs
 * only a few bytes of each line (a custom_id, a marker) never turns the rest into a string. `buf` is only
 * valid during the call. A line longer than a chunk is joined first (memory grows to that line only).
 *
 * Our spool files are written by us, one JSON value per line, so this is all the line splitting they need;
 * it replaces node:readline (whose per-line RegExp and string decoding were a measurable share of the CPU).
 */
export async function forEachLine(
  path: string,
  onLine: (buf: Buffer, start: number, end: number) => void,
  chunkBytes = CHUNK_BYTES,
): Promise<void> {
  for await (const { buf, bounds } of lineChunks(path, chunkBytes)) {
    for (let i = 0; i < bounds.length; i += 2) onLine(buf, bounds[i]!, bounds[i + 1]!);
  }
}

/**
 * The non-empty lines of a UTF-8 file as strings, one array per read of about 1 MiB: for loops that need an
 * `await` now and then (a Parquet row group to write) but not one per line, as an async iterator of lines
 * would cost.
 */
export async function* textLines(path: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<string[]> {
  for await (const { buf, bounds } of lineChunks(path, chunkBytes)) {
    const lines: string[] = new Array<string>(bounds.length / 2);
    for (let i = 0; i < bounds.length; i += 2) lines[i / 2] = buf.toString('utf8', bounds[i]!, bounds[i + 1]!);
    yield lines;
  }
}

/**
 * The file's non-empty lines joined by `separator` (LF and CR dropped), one Buffer per read of about 1 MiB:
 * a spool file streamed out as the inside of a JSON array without holding the file in memory.
 */
export async function* joinedLines(path: string, separator: number): AsyncGenerator<Buffer> {
  let first = true;
  for await (const { buf, bounds } of lineChunks(path, CHUNK_BYTES)) {
    let bytes = 0;
    for (let i = 0; i < bounds.length; i += 2) bytes += bounds[i + 1]! - bounds[i]! + 1;
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = 0; i < bounds.length; i += 2) {
      if (!first) out[at++] = separator;
      first = false;
      at += buf.copy(out, at, bounds[i]!, bounds[i + 1]!);
    }
    yield out.subarray(0, at);
  }
}

/** Each read's complete lines as [start, end) pairs into `buf` (valid until the next step). */
async function* lineChunks(path: string, chunkBytes: number): AsyncGenerator<{ buf: Buffer; bounds: number[] }> {
  const file = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(Math.max(1, chunkBytes));
    /** Bytes of buf[0, held) carried over from the previous read: the start of an unfinished line. */
    let held = 0;
    for (;;) {
      if (held === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, held);
        buf = bigger;
      }
      const { bytesRead } = await file.read(buf, held, buf.length - held, null);
      const end = held + bytesRead;
      const filled = buf.subarray(0, end);
      const bounds: number[] = [];
      let start = 0;
      // Only the new bytes can hold a newline: the held ones were searched already.
      for (let nl = filled.indexOf(NEWLINE, held); nl !== -1; nl = filled.indexOf(NEWLINE, start)) {
        const stop = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
        if (stop > start) bounds.push(start, stop);
        start = nl + 1;
      }
      if (bytesRead === 0) {
        // The last line, without a newline.
        let stop = end;
        if (stop > start && buf[stop - 1] === CR) stop--;
        if (stop > start) bounds.push(start, stop);
        if (bounds.length > 0) yield { buf, bounds };
        return;
      }
      if (bounds.length > 0) yield { buf, bounds };
      held = end - start;
      if (held > 0 && start > 0) buf.copy(buf, 0, start, end);
    }
  } finally {
    await file.close();
  }
}

const CUSTOM_ID_PREFIX = Buffer.from('{"custom_id":"');
const QUOTE = 0x22;
/** The longest custom_id the API takes. */
const MAX_ID = 64;

/** A byte of a custom_id as the API allows them: [a-zA-Z0-9_-]. */
const idByte = (b: number) =>
  (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d;

/**
 * The custom_id of a request line (`{"custom_id":"…","params":…}`, as the request builder writes them),
 * read from its first bytes without parsing the rest. Any other shape (another key first, an id with
 * characters the API does not allow) falls back to JSON.parse of the whole line.
 */
export function customIdOfLine(buf: Buffer, start: number, end: number): string {
  const from = start + CUSTOM_ID_PREFIX.length;
  if (end > from && buf.compare(CUSTOM_ID_PREFIX, 0, CUSTOM_ID_PREFIX.length, start, from) === 0) {
    let at = from;
    const limit = Math.min(end, from + MAX_ID + 1);
    while (at < limit && idByte(buf[at]!)) at++;
    if (at > from && at < limit && buf[at] === QUOTE) return buf.toString('latin1', from, at);
  }
  return (JSON.parse(buf.toString('utf8', start, end)) as { custom_id: string }).custom_id;
}
