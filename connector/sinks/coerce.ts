import type { Schema } from 'apache-arrow';
import {
  ADDITIONAL_PROPERTIES,
  columnKind,
  isDataField,
  isWholeRecordColumn,
  type ColumnKind,
} from './arrow-schema.js';
import { isNumberText, objectMembers, type Member } from '../protocol/json-text.js';

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

/**
 * The result of fitting one JSON value to a column: the value to store, or why it became null. `rounded`: the
 * value stored is the nearest a DOUBLE holds, not the number the source sent (a TRUNCATED change).
 */
export type Coerced = { ok: true; value: unknown; rounded?: true } | { ok: false; reason: MetaChangeReason };

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
  return ok(
    value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value,
  );
}

/** A decimal number's exact value: sign, significant digits without leading or trailing zeros, exponent. */
interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

const DECIMAL = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/;

function decimalOf(text: string): Decimal | undefined {
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === '' && !m[3])) return undefined;
  const fraction = m[3] ?? '';
  const all = (m[2]! + fraction).replace(/^0+/, '');
  const digits = all.replace(/0+$/, '');
  if (digits === '') return { negative: false, digits: '0', exponent: 0 };
  return {
    negative: m[1] === '-',
    digits,
    exponent: Number(m[4] ?? 0) - fraction.length + (all.length - digits.length),
  };
}

const sameDecimal = (a: Decimal, b: Decimal) =>
  a.negative === b.negative && a.digits === b.digits && a.exponent === b.exponent;

/** The text of a number to parse: the source's own spelling when the value came as a JSON number or numeric string. */
function numberText(value: unknown, text: string | undefined): string | undefined {
  if (text !== undefined && isNumberText(text)) return text;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return NUMBER.test(trimmed) ? trimmed : undefined;
}

/** An integer from its decimal text, exactly (never through a double): `9007199254740993`, `1e3`, `-0.0`. */
function integerFromText(text: string): Coerced {
  if (INTEGER.test(text)) return int64(BigInt(text));
  const d = decimalOf(text);
  if (!d || d.exponent < 0) return SERIALIZATION;
  // More than 19 digits is beyond ±9.2e18 whatever they are; never build the digits of 1e999999999.
  if (d.digits.length + d.exponent > 19) return SIZE_LIMIT;
  return int64(BigInt((d.negative ? '-' : '') + d.digits + '0'.repeat(d.exponent)));
}

/**
 * A number as a DOUBLE. The nearest double is stored; when its shortest spelling is not the number the source
 * wrote (12345678901234567890, 0.1000000000000000055511151231257827), it is flagged `rounded`. Beyond a
 * double's range (1e400) it cannot be stored at all.
 */
function double(value: unknown, text: string | undefined): Coerced {
  const spelled = numberText(value, text);
  if (spelled === undefined) {
    if (typeof value === 'bigint') return double(value, value.toString());
    if (typeof value !== 'number') return SERIALIZATION;
    return Number.isFinite(value) ? ok(value) : SIZE_LIMIT;
  }
  const n = Number(spelled);
  if (!Number.isFinite(n)) return SIZE_LIMIT;
  if (String(n) === spelled) return ok(n); // the usual case, without comparing decimals
  const exact = decimalOf(spelled);
  return exact && sameDecimal(exact, decimalOf(String(n))!) ? ok(n) : { ok: true, value: n, rounded: true };
}

/** JSON text of any value; bigints (from a bigint-aware JSON parser) are written as their decimal digits. */
function jsonText(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Fits a JSON value to a column of `kind`. Never throws for bad data: a value that does not fit comes back
 * as `{ok: false, reason}` and the caller stores null plus a `_airbyte_meta` change.
 *
 * `text` is the value's JSON text as the source wrote it (objectMembers()), when known: numbers are then read
 * from it exactly, JSON columns keep it as it is, and a number in a string column is its own spelling.
 * Integers are exact over the whole INT64 range (and refused beyond it as DESTINATION_FIELD_SIZE_LIMITATION);
 * without the text, a JSON number beyond ±2^53 has already been rounded by `JSON.parse` and is refused rather
 * than stored as a plausible but wrong value. Dates and timestamps before 1970 are kept.
 */
export function coerceValue(kind: ColumnKind, value: unknown, text?: string): Coerced {
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return ok(value);
      if (typeof value === 'number' && text !== undefined && isNumberText(text)) return ok(text);
      return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? ok(String(value))
        : SERIALIZATION;
    case 'json': {
      if (text !== undefined) return ok(text);
      try {
        const json = jsonText(value);
        return json === undefined ? SERIALIZATION : ok(json);
      } catch {
        return SERIALIZATION; // a cycle; cannot come from parsed JSON, but never fail the run over it
      }
    }
    case 'integer': {
      const spelled = numberText(value, text);
      if (spelled !== undefined) return integerFromText(spelled);
      if (typeof value === 'bigint') return int64(value);
      if (typeof value === 'number') {
        if (!Number.isInteger(value)) return SERIALIZATION;
        if (Number.isSafeInteger(value)) return ok(value);
        return Math.abs(value) >= 2 ** 63 ? SIZE_LIMIT : SERIALIZATION;
      }
      return SERIALIZATION;
    }
    case 'number':
      return double(value, text);
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

/** How a stream's schema lays out record data: by name, the kind of each data column. */
interface DataPlan {
  columns: Map<string, ColumnKind>;
  /** A stream without properties: the whole record in `_airbyte_data`. */
  whole: string | undefined;
  additional: boolean;
}

const plans = new WeakMap<Schema, DataPlan>();

function planOf(schema: Schema): DataPlan {
  let plan = plans.get(schema);
  if (!plan) {
    plan = { columns: new Map(), whole: undefined, additional: false };
    for (const f of schema.fields) {
      if (isWholeRecordColumn(f)) plan.whole = f.name;
      else if (f.name === ADDITIONAL_PROPERTIES) plan.additional = true;
      else if (isDataField(f)) plan.columns.set(f.name, columnKind(f));
    }
    plans.set(schema, plan);
  }
  return plan;
}

/**
 * A record's members: cut from its text when there is one, else the parsed data's keys without text (its
 * numbers JSON.parse may have rounded already; serialised only where a value has to be passed on).
 */
function membersOf(data: Record<string, unknown>, dataText: string | undefined): Array<{ key: string; text?: string }> {
  const keys = Object.keys(data);
  return (dataText === undefined ? undefined : objectMembers(dataText, keys.length)) ?? keys.map((key) => ({ key }));
}

/** A JSON object of members, each value as its text. */
export function objectText(members: readonly Member[]): string {
  const parts: string[] = [];
  for (const m of members) parts.push(`${JSON.stringify(m.key)}:${m.text}`);
  return `{${parts.join(',')}}`;
}

/**
 * The record-data part of an output row for a stream's Arrow schema: each data column's value coerced to its
 * type, from the record's own text (`dataText`) where given. A missing or null field is simply left out (that
 * is how parquetjs-lite writes null) and is not a change. Nothing the source sent is lost:
 *
 * - a value that does not fit its column is left out and reported as `{field, change: 'NULLED', reason}`;
 *   a number a DOUBLE can only hold rounded is stored rounded, reported as `TRUNCATED`;
 * - every property without a column of its own (undeclared, or named like a connector column; see
 *   arrow-schema.ts) and the exact text of every nulled or rounded value go into `_airbyte_additional_properties`,
 *   a JSON object of the source's own keys and value texts;
 * - a stream without properties stores the whole record text in `_airbyte_data`.
 *
 * Iterative over the members, so a record of any width is fine. Connector columns are not touched.
 */
export function coerceRecord(
  schema: Schema,
  data: Record<string, unknown>,
  dataText?: string,
): { row: Record<string, unknown>; changes: MetaChange[] } {
  const row: Record<string, unknown> = {};
  const changes: MetaChange[] = [];
  const plan = planOf(schema);
  if (plan.whole !== undefined) {
    const whole = dataText ?? jsonText(data);
    if (whole !== undefined) row[plan.whole] = whole;
    return { row, changes };
  }
  const extra: Member[] = [];
  const keep = ({ key, text }: { key: string; text?: string }) =>
    extra.push({ key, text: text ?? jsonText(data[key]) ?? 'null' });
  for (const member of membersOf(data, dataText)) {
    const kind = plan.columns.get(member.key);
    if (kind === undefined) {
      keep(member);
      continue;
    }
    const raw = data[member.key];
    if (raw === undefined || raw === null) continue;
    const r = coerceValue(kind, raw, member.text);
    if (r.ok) row[member.key] = r.value;
    if (r.ok && !r.rounded) continue;
    changes.push({
      field: member.key,
      change: r.ok ? 'TRUNCATED' : 'NULLED',
      reason: r.ok ? 'DESTINATION_FIELD_SIZE_LIMITATION' : r.reason,
    });
    keep(member);
  }
  if (extra.length && plan.additional) row[ADDITIONAL_PROPERTIES] = objectText(extra);
  return { row, changes };
}
