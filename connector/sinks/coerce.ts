import type { Schema } from 'apache-arrow';
import { columnKind, isDataColumn, isWholeRecordColumn, type ColumnKind } from './arrow-schema.js';

/**
 * `AirbyteRecordMessageMetaChange.reason` values from the Airbyte protocol. A destination uses the
 * DESTINATION_* ones: DESTINATION_SERIALIZATION_ERROR when a value does not fit its declared type (what
 * the Bulk CDK records for a failed coercion), DESTINATION_FIELD_SIZE_LIMITATION when it has the right type
 * but is out of the column's range (the CDK's NullOutOfRangeIntegers does that for integers beyond 64 bits).
 * DESTINATION_TYPECAST_ERROR is the older typing-and-deduping reason, kept in the type for compatibility.
 */
export type MetaChangeReason =
  | 'SOURCE_RECORD_SIZE_LIMITATION'
  | 'SOURCE_FIELD_SIZE_LIMITATION'
  | 'SOURCE_SERIALIZATION_ERROR'
  | 'SOURCE_RETRIEVAL_ERROR'
  | 'DESTINATION_RECORD_SIZE_LIMITATION'
  | 'DESTINATION_FIELD_SIZE_LIMITATION'
  | 'DESTINATION_SERIALIZATION_ERROR'
  | 'DESTINATION_TYPECAST_ERROR'
  | 'PLATFORM_SERIALIZATION_ERROR';

/** One entry of `_airbyte_meta.changes` (destinations v2). */
export interface MetaChange {
  field: string;
  change: 'NULLED' | 'TRUNCATED';
  reason: MetaChangeReason;
}

/** The result of fitting one JSON value to a column: the value to store, or why it became null. */
export type Coerced = { ok: true; value: unknown } | { ok: false; reason: MetaChangeReason };

const SERIALIZATION: Coerced = { ok: false, reason: 'DESTINATION_SERIALIZATION_ERROR' };
const SIZE_LIMIT: Coerced = { ok: false, reason: 'DESTINATION_FIELD_SIZE_LIMITATION' };
const ok = (value: unknown): Coerced => ({ ok: true, value });

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)? ?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Days since 1970-01-01 of a proleptic-Gregorian date (no `Date`: it maps years 0–99 to 1900–1999). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
  return d <= days;
}

/** Parses `YYYY-MM-DD` (a real calendar date, years 0000–9999) to days since the epoch; negative before 1970. */
export function dateDays(value: string): number | undefined {
  const m = DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return validDate(y, mo, d) ? daysFromCivil(y, mo, d) : undefined;
}

/**
 * Parses an RFC 3339 / ISO 8601 timestamp to microseconds since the epoch (negative before 1970).
 * Accepts `T`, `t` or a space between date and time, optional seconds, a fraction of any length (digits past
 * the sixth are truncated), and `Z`, `±HH:MM`, `±HHMM`, `±HH` or no offset. A value without an offset is
 * read as UTC (never as the machine's local time, unlike `Date.parse`), and a bare date is its UTC midnight.
 */
export function timestampMicros(value: string): bigint | undefined {
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const [oh, om] = [Number(digits.slice(0, 2)), Number(digits.slice(2, 4) || '0')];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const seconds = daysFromCivil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s - offsetMinutes * 60;
  const micros = BigInt((m[7] ?? '').slice(0, 6).padEnd(6, '0'));
  return BigInt(seconds) * 1_000_000n + micros;
}

/** An integer as what the INT64 column stores: a number when exactly representable, else a bigint. */
function int64(value: bigint): Coerced {
  if (value < INT64_MIN || value > INT64_MAX) return SIZE_LIMIT;
  return ok(value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value);
}

/** JSON text of any value; bigints (from a bigint-aware JSON parser) are written as their decimal digits. */
function jsonText(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Fits a JSON value to a column of `kind`. Never throws for bad data: a value that does not fit comes back
 * as `{ok: false, reason}` and the caller stores null plus a `_airbyte_meta` change.
 *
 * Integers: a JSON number beyond ±2^53 has already been rounded by `JSON.parse`, so it is refused rather than
 * stored as a plausible but wrong value; integers given as strings or bigints are exact up to the INT64 range
 * and beyond it are refused as DESTINATION_FIELD_SIZE_LIMITATION. Dates and timestamps before 1970 are kept.
 */
export function coerceValue(kind: ColumnKind, value: unknown): Coerced {
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return ok(value);
      return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? ok(String(value)) : SERIALIZATION;
    case 'json': {
      try {
        const text = jsonText(value);
        return text === undefined ? SERIALIZATION : ok(text);
      } catch {
        return SERIALIZATION; // a cycle; cannot come from parsed JSON, but never fail the run over it
      }
    }
    case 'integer':
      if (typeof value === 'bigint') return int64(value);
      if (typeof value === 'number') {
        if (!Number.isInteger(value)) return SERIALIZATION;
        if (Number.isSafeInteger(value)) return ok(value);
        return Math.abs(value) >= 2 ** 63 ? SIZE_LIMIT : SERIALIZATION;
      }
      if (typeof value === 'string' && INTEGER.test(value.trim())) return int64(BigInt(value.trim()));
      return SERIALIZATION;
    case 'number': {
      const n =
        typeof value === 'number' ? value
        : typeof value === 'bigint' ? Number(value)
        : typeof value === 'string' && NUMBER.test(value.trim()) ? Number(value.trim())
        : undefined;
      if (n === undefined || Number.isNaN(n)) return SERIALIZATION;
      return Number.isFinite(n) ? ok(n) : SIZE_LIMIT;
    }
    case 'boolean':
      if (typeof value === 'boolean') return ok(value);
      return value === 'true' ? ok(true) : value === 'false' ? ok(false) : SERIALIZATION;
    case 'timestamp': {
      const micros = typeof value === 'string' ? timestampMicros(value) : undefined;
      return micros === undefined ? SERIALIZATION : ok(micros);
    }
    case 'date': {
      const days = typeof value === 'string' ? dateDays(value) : undefined;
      return days === undefined ? SERIALIZATION : ok(days);
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown column kind ${String(never)}`);
    }
  }
}

/**
 * Converts a JSON value to what the Parquet column of `kind` stores, or `undefined` when it does not fit
 * (the caller writes null and records a change in `_airbyte_meta`). Prefer `coerceValue`, which also says why.
 */
export function coerce(kind: ColumnKind, value: unknown): unknown {
  const r = coerceValue(kind, value);
  return r.ok ? r.value : undefined;
}

/**
 * The record-data part of an output row for a stream's Arrow schema: each data column's value coerced to its
 * type. A missing or null field is simply left out (that is how parquetjs-lite writes null) and is not a change;
 * a value that does not fit is left out and reported as `{field, change: 'NULLED', reason}`. A stream without
 * properties stores the whole record as JSON in `_airbyte_data`. Connector columns are not touched.
 */
export function coerceRecord(schema: Schema, data: Record<string, unknown>): { row: Record<string, unknown>; changes: MetaChange[] } {
  const row: Record<string, unknown> = {};
  const changes: MetaChange[] = [];
  for (const f of schema.fields) {
    if (!isDataColumn(f.name)) continue;
    const raw = isWholeRecordColumn(f) ? data : Object.hasOwn(data, f.name) ? data[f.name] : undefined;
    if (raw === undefined || raw === null) continue;
    const r = coerceValue(columnKind(f), raw);
    if (r.ok) row[f.name] = r.value;
    else changes.push({ field: f.name, change: 'NULLED', reason: r.reason });
  }
  return { row, changes };
}
