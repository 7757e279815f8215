import { Bool, DateDay, Field, Float64, Int64, Schema, TimestampMicrosecond, Utf8, type DataType } from 'apache-arrow';
import type { JsonSchema } from '../config/catalog.js';
import { kindOf } from '../config/column-kind.js';

export type { ColumnKind };
import { PARTITION_KEY } from './layout.js';
import type { ColumnKind } from '../types/shared.js';

/** Field metadata key holding the column's kind (see config/column-kind.ts for the type table). */
const KIND = 'claude_batch.kind';
/** Marks the `_airbyte_data` column of a stream without properties, which holds the whole record. */
const WHOLE_RECORD = 'claude_batch.whole_record';
/** Marks a column that holds one property of the record. */
const DATA = 'claude_batch.data';

/** Column of a stream with properties: every property without a column of its own, as JSON (coerce.ts). */
export const ADDITIONAL_PROPERTIES = '_airbyte_additional_properties';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const ARROW_TYPE: Record<ColumnKind, () => DataType> = {
  string: () => new Utf8(),
  json: () => new Utf8(),
  integer: () => new Int64(),
  number: () => new Float64(),
  boolean: () => new Bool(),
  timestamp: () => new TimestampMicrosecond('UTC'),
  date: () => new DateDay(),
};

function field(name: string, kind: ColumnKind, nullable = true, extra: Array<[string, string]> = []): Field {
  return new Field(name, ARROW_TYPE[kind](), nullable, new Map([[KIND, kind], ...extra]));
}

export function columnKind(f: Field): ColumnKind {
  return (f.metadata.get(KIND) as ColumnKind | undefined) ?? 'string';
}

/** Whether the column holds one of the record's properties (not a connector column). */
export function isDataField(f: Field): boolean {
  return f.metadata.get(DATA) === 'true';
}

/** Whether the column holds the whole record as JSON (the fallback for a stream without properties). */
export function isWholeRecordColumn(f: Field): boolean {
  return f.metadata.get(WHOLE_RECORD) === 'true';
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
  ['_claude_attempt', 'integer'],
  ['_claude_prompt_version', 'string'],
  ['_claude_input_truncated', 'boolean'],
];

/** Enrichment columns that are set on every row. */
const REQUIRED = new Set(['_airbyte_raw_id', '_airbyte_extracted_at', '_claude_custom_id', '_claude_status']);

/**
 * Property names that cannot have a column of their own; such a property lands in
 * `_airbyte_additional_properties` under its own name, value unchanged (one rule, README "Output layout"):
 *
 * - names in the connector's own namespaces, `_airbyte_*` and `_claude_*` (a record's `_airbyte_meta` must not
 *   shadow ours, and a column added by a later version must not move a source's column);
 * - `run_id`, the Hive partition key (layout.ts), which readers with hive_partitioning show in place of such a column;
 * - the json output mode's extracted columns (`out_*`), which are the answer's;
 * - the empty name, and `__proto__` (parquetjs-lite keeps columns in plain objects, where that key would
 *   replace the prototype instead of adding a column).
 *
 * Compared case-insensitively, as DuckDB and Spark resolve column names.
 */
export function reservedColumnName(name: string, taken: ReadonlySet<string> = new Set()): boolean {
  const lower = name.toLowerCase();
  return (
    name === '' ||
    name === '__proto__' ||
    lower.startsWith('_airbyte_') ||
    lower.startsWith('_claude_') ||
    lower === PARTITION_KEY ||
    taken.has(lower)
  );
}

/**
 * The Arrow schema of a stream's output: the record's properties (typed from its JSON schema, always
 * nullable since a record may omit any field), `_airbyte_additional_properties` for everything else, then the
 * enrichment columns. A schema with no (usable) properties keeps the whole record as JSON in `_airbyte_data`.
 */
export function streamArrowSchema(
  jsonSchema: JsonSchema,
  outputColumns: ReadonlyArray<{ column: string; kind: ColumnKind }> = [],
): Schema {
  const properties = isObj(jsonSchema?.properties) ? jsonSchema.properties : {};
  const taken = new Set(outputColumns.map((c) => c.column.toLowerCase()));
  const dataFields: Field[] = [];
  for (const [name, prop] of Object.entries(properties)) {
    if (!reservedColumnName(name, taken))
      dataFields.push(field(name, kindOf(prop, jsonSchema), true, [[DATA, 'true']]));
  }
  if (dataFields.length === 0) dataFields.push(field('_airbyte_data', 'json', true, [[WHOLE_RECORD, 'true']]));
  else dataFields.push(field(ADDITIONAL_PROPERTIES, 'json'));
  const extra = ENRICHMENT_COLUMNS.map(([name, kind]) => field(name, kind, !REQUIRED.has(name)));
  // Extracted answer fields (json output mode) follow, typed by the output schema.
  const extracted = outputColumns.map((c) => field(c.column, c.kind));
  return new Schema([...dataFields, ...extra, ...extracted]);
}
