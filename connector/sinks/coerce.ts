import type { ColumnKind } from './arrow-schema.js';

export interface MetaChange {
  field: string;
  change: 'NULLED';
  reason: 'DESTINATION_TYPECAST_ERROR' | 'DESTINATION_FIELD_SIZE_LIMITATION';
}

const DAY_MS = 86_400_000;
const INTEGER = /^-?\d+$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses an RFC 3339 / ISO timestamp to microseconds since the epoch, keeping sub-millisecond digits. */
export function timestampMicros(value: string): bigint | undefined {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  const extraMicros = fraction.length > 3 ? BigInt(fraction.slice(3, 6).padEnd(3, '0')) : 0n;
  return BigInt(ms) * 1000n + extraMicros;
}

/**
 * Converts a JSON value to what the Parquet column of `kind` stores. `undefined` means "does not fit":
 * the caller writes null and records a change in `_airbyte_meta`, so a bad value never fails the run.
 * Negative timestamps and dates are refused because the Parquet writer cannot encode them.
 */
export function coerce(kind: ColumnKind, value: unknown): unknown {
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return value;
      return typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
    case 'json':
      return JSON.stringify(value);
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      if (typeof value === 'string' && INTEGER.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
      return undefined;
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'string' && NUMBER.test(value.trim())) return Number(value);
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'timestamp': {
      const micros = typeof value === 'string' ? timestampMicros(value) : undefined;
      return micros !== undefined && micros >= 0n ? micros : undefined;
    }
    case 'date': {
      const m = typeof value === 'string' ? DATE.exec(value) : null;
      if (!m) return undefined;
      const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      const back = new Date(ms).toISOString().slice(0, 10);
      return back === value && ms >= 0 ? ms / DAY_MS : undefined;
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown column kind ${String(never)}`);
    }
  }
}
