/*
 * Min/max of a text (BYTE_ARRAY, UTF8) column chunk in its type-defined order, which for UTF-8 strings is
 * unsigned byte-wise comparison (that is also code-point order). The footer's column_orders says TYPE_ORDER,
 * so readers can trust these bounds and prune row groups with them (DuckDB does for `WHERE _claude_status = …`).
 */

/**
 * Bounds longer than this are not written (as parquet-mr does past 4 KiB): a footer holding two copies of a
 * long answer per row group would grow without telling a reader anything a filter can use.
 */
export const MAX_TEXT_BOUND_BYTES = 4096;

/** Unsigned byte-wise comparison of a[aFrom, aEnd) with all of b; early exit, no subarrays (hot path). */
function compareBytes(a: Uint8Array, aFrom: number, aEnd: number, b: Uint8Array): number {
  const n = Math.min(aEnd - aFrom, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[aFrom + i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aEnd - aFrom - b.length;
}

/** The running min and max of one chunk's text values, each kept as a copy of its UTF-8 bytes. */
export class TextBounds {
  private min: Buffer | undefined;
  private max: Buffer | undefined;

  /** Takes the value whose UTF-8 bytes are buf[from, end) into account. */
  see(buf: Buffer, from: number, end: number): void {
    const { min, max } = this;
    if (min === undefined || max === undefined) {
      this.min = this.max = Buffer.from(buf.subarray(from, end));
    } else {
      // A value equal to the max (a column of one repeated value, the usual case for some) is not below the min.
      const order = compareBytes(buf, from, end, max);
      if (order > 0) this.max = Buffer.from(buf.subarray(from, end));
      else if (order < 0 && compareBytes(buf, from, end, min) < 0) this.min = Buffer.from(buf.subarray(from, end));
    }
  }

  /** The chunk's bounds (undefined if it had no values or a bound is too long to write), and a reset. */
  take(): { min: Buffer; max: Buffer } | undefined {
    const { min, max } = this;
    this.min = this.max = undefined;
    if (min === undefined || max === undefined) return undefined;
    if (min.length > MAX_TEXT_BOUND_BYTES || max.length > MAX_TEXT_BOUND_BYTES) return undefined;
    return { min, max };
  }
}
