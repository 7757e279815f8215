import {
  Bool,
  DateDay,
  Field,
  Float64,
  Int64,
  Schema,
  TimestampMicrosecond,
  Utf8,
  type DataType,
} from 'apache-arrow';
import type { JsonSchema } from '../config/catalog.js';

/**
 * How a column's values are coerced; kept in the Arrow field metadata so the Arrow schema is the one
 * description of a stream's columns that both the coercion and the Parquet schema are derived from.
 */
export type ColumnKind = 'string' | 'json' | 'integer' | 'number' | 'boolean' | 'timestamp' | 'date';
const KIND = 'claude_batch.kind';

function field(name: string, kind: ColumnKind, nullable = true): Field {
  const types: Record<ColumnKind, DataType> = {
    string: new Utf8(),
    json: new Utf8(),
    integer: new Int64(),
    number: new Float64(),
    boolean: new Bool(),
    timestamp: new TimestampMicrosecond('UTC'),
    date: new DateDay(),
  };
  return new Field(name, types[kind], nullable, new Map([[KIND, kind]]));
}

export function columnKind(f: Field): ColumnKind {
  return (f.metadata.get(KIND) as ColumnKind | undefined) ?? 'string';
}

/** Maps one JSON-schema property to a column kind; unions, objects and arrays keep their value as JSON text. */
export function kindOf(schema: unknown): ColumnKind {
  if (typeof schema !== 'object' || schema === null) return 'json';
  const s = schema as Record<string, unknown>;
  const types = (Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type]).filter((t) => t !== 'null');
  if (types.length !== 1 || s.oneOf || s.anyOf) return 'json';
  const airbyteType = s.airbyte_type;
  switch (types[0]) {
    case 'string':
      if (s.format === 'date-time' || airbyteType === 'timestamp_with_timezone' || airbyteType === 'timestamp_without_timezone') {
        return 'timestamp';
      }
      return s.format === 'date' ? 'date' : 'string';
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

/** Columns the connector adds to every row, after the record's own. */
export const ENRICHMENT_COLUMNS: ReadonlyArray<[string, ColumnKind]> = [
  ['_airbyte_raw_id', 'string'],
  ['_airbyte_extracted_at', 'timestamp'],
  ['_airbyte_generation_id', 'integer'],
  ['_airbyte_meta', 'json'],
  ['_claude_custom_id', 'string'],
  ['_claude_status', 'string'],
  ['_claude_output', 'string'],
  ['_claude_error_type', 'string'],
  ['_claude_error', 'string'],
  ['_claude_model', 'string'],
  ['_claude_stop_reason', 'string'],
  ['_claude_input_tokens', 'integer'],
  ['_claude_output_tokens', 'integer'],
  ['_claude_cache_read_tokens', 'integer'],
  ['_claude_cache_write_tokens', 'integer'],
  ['_claude_batch_id', 'string'],
];

const RESERVED = new Set(ENRICHMENT_COLUMNS.map(([name]) => name));

/**
 * The Arrow schema of a stream's output: the record's properties (typed from its JSON schema, always
 * nullable since a record may omit any field), then the enrichment columns. A schema with no properties
 * keeps the whole record as JSON in `_airbyte_data`.
 */
export function streamArrowSchema(jsonSchema: JsonSchema): Schema {
  const properties = (jsonSchema.properties ?? {}) as Record<string, unknown>;
  const dataFields = Object.entries(properties)
    .filter(([name]) => !RESERVED.has(name))
    .map(([name, prop]) => field(name, kindOf(prop)));
  if (dataFields.length === 0) dataFields.push(field('_airbyte_data', 'json'));
  const extra = ENRICHMENT_COLUMNS.map(([name, kind]) =>
    field(name, kind, !['_airbyte_raw_id', '_airbyte_extracted_at', '_claude_custom_id', '_claude_status'].includes(name)),
  );
  return new Schema([...dataFields, ...extra]);
}
