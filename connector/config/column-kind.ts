import type { JsonSchema } from './catalog.js';
import type { ColumnKind } from '../types/shared.js';

/**
 * Airbyte protocol v1 "well-known types" (`{"$ref": "WellKnownTypes.json#/definitions/<Name>"}`).
 * BinaryData is base64 text, and times of day have no Parquet type parquetjs-lite can write, so both stay strings.
 */
const WELL_KNOWN: Record<string, ColumnKind> = {
  String: 'string',
  BinaryData: 'string',
  Number: 'number',
  Integer: 'integer',
  Boolean: 'boolean',
  Date: 'date',
  TimestampWithTimezone: 'timestamp',
  TimestampWithoutTimezone: 'timestamp',
  TimeWithTimezone: 'string',
  TimeWithoutTimezone: 'string',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows a local `#/definitions/...` or `#/$defs/...` pointer inside the stream's own schema. */
function resolveLocalRef(ref: string, root: Obj | undefined): unknown {
  if (!root || !ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * Maps one JSON-schema property to a column kind.
 *
 * - `string` → string, except `format: date-time` / `airbyte_type: timestamp_with(out)_timezone` → timestamp
 *   and `format: date` / `airbyte_type: date` → date. `airbyte_type: time_with(out)_timezone` and `format: time`
 *   stay strings (no time-of-day type is writable).
 * - `integer`, or `number` with `airbyte_type: integer` → integer (INT64).
 * - `airbyte_type: big_integer` → **string**: Airbyte uses it for values that may exceed 64 bits (and sends them
 *   as strings), so VARCHAR keeps every digit where INT64 would have to null the value.
 * - `number` → number (DOUBLE), `boolean` → boolean.
 * - Objects, arrays, real unions (`oneOf`/`anyOf`/`allOf` or several non-null types), unknown `$ref`s, empty or
 *   malformed schemas → json (the value as JSON text). A union of `null` and exactly one other branch
 *   (`anyOf: [{type: null}, {type: string}]`) is just a nullable column of that branch's type.
 *
 * `root` is the stream's whole schema, used to resolve local `$ref`s.
 */
export function kindOf(schema: unknown, root?: JsonSchema, depth = 0): ColumnKind {
  if (!isObj(schema) || depth > 16) return 'json';
  const airbyteType = schema.airbyte_type;
  if (airbyteType === 'big_integer') return 'string';

  if (typeof schema.$ref === 'string') {
    // Both spellings occur in Airbyte's own catalogs: `#/definitions/String` and `#definitions/String`.
    const wellKnown = /(?:^|\/)WellKnownTypes\.json#\/?definitions\/(\w+)$/.exec(schema.$ref)?.[1];
    if (wellKnown) return WELL_KNOWN[wellKnown] ?? 'json';
    const target = resolveLocalRef(schema.$ref, root);
    return target === undefined ? 'json' : kindOf(target, root, depth + 1);
  }

  if (schema.allOf !== undefined) return 'json';
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (schema[key] === undefined) continue;
    const branches = Array.isArray(schema[key]) ? (schema[key] as unknown[]) : [];
    const nonNull = branches.filter(
      (b) => !(isObj(b) && (b.type === 'null' || (Array.isArray(b.type) && b.type.every((t) => t === 'null')))),
    );
    // Only "null or X" collapses to a nullable X; any other union, even of one branch, stays JSON.
    if (nonNull.length !== 1 || nonNull.length === branches.length || schema.type !== undefined) return 'json';
    return kindOf(nonNull[0], root, depth + 1);
  }

  const types = (Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type]).filter(
    (t) => t !== 'null',
  );
  if (types.length !== 1) return 'json';
  switch (types[0]) {
    case 'string':
      if (
        schema.format === 'date-time' ||
        airbyteType === 'timestamp_with_timezone' ||
        airbyteType === 'timestamp_without_timezone'
      ) {
        return 'timestamp';
      }
      if (schema.format === 'date' || airbyteType === 'date') return 'date';
      return 'string';
    case 'integer':
      return 'integer';
    case 'number':
      return airbyteType === 'integer' ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'json';
  }
}
