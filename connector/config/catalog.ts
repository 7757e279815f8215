import { Ajv } from 'ajv';
import { configError } from '../common/errors.js';

/**
 * Checks that a stream's JSON schema is a schema at all (unknown keywords, e.g. airbyte_type, are allowed).
 * Formats (date-time, Airbyte's own) are not checked here, so Ajv has no "unknown format" warning to print.
 */
const schemaChecker = new Ajv({ strict: false, validateSchema: true, allErrors: false, validateFormats: false });
import { streamKey, type StreamDescriptor } from '../protocol/messages.js';
import { readJsonFile } from './config.js';

export type JsonSchema = Record<string, unknown>;

/**
 * Why a stream's schema is not a JSON schema, or undefined. Checked against the meta-schema only, never
 * compiled: compiling generates one validator function whose size grows with the properties (thousands of
 * them overflowed the stack), and it refused references to protocol v1's `WellKnownTypes.json`, which only
 * the column mapping (arrow-schema.ts) needs to understand. A `$schema` Ajv does not know (draft-04, …) is
 * checked against its default draft instead of refusing the catalog.
 */
function schemaProblem(schema: JsonSchema): string | undefined {
  const known = typeof schema.$schema === 'string' && schemaChecker.getSchema(schema.$schema) !== undefined;
  const { $schema: _ignored, ...rest } = schema;
  try {
    if (schemaChecker.validateSchema(known ? schema : rest)) return undefined;
  } catch (err) {
    return (err as Error).message;
  }
  return schemaChecker.errorsText(schemaChecker.errors, { dataVar: 'schema' });
}

export interface ConfiguredStream {
  name: string;
  namespace: string | null;
  jsonSchema: JsonSchema;
  destinationSyncMode: 'append' | 'overwrite';
  generationId: number;
  /** Data of older generations is removed once a run of this one completes (0: none asked). */
  minimumGenerationId: number;
  syncId: number | null;
}

/** The configured catalog, indexed by stream for the per-record lookup. */
export class Catalog {
  private readonly byKey = new Map<string, ConfiguredStream>();

  constructor(readonly streams: ConfiguredStream[]) {
    for (const s of streams) this.byKey.set(streamKey(s), s);
  }

  find(stream: StreamDescriptor): ConfiguredStream | undefined {
    return this.byKey.get(streamKey({ name: stream.name, namespace: stream.namespace ?? null }));
  }
}

/** Validates a ConfiguredAirbyteCatalog. `append` and `overwrite` are supported; `append_dedup` is rejected, never silently appended. */
export function parseCatalog(raw: unknown): Catalog {
  const streamsRaw = (raw as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streamsRaw))
    throw configError('CATALOG_INVALID', 'catalog must be an object with a "streams" array');
  const streams = streamsRaw.map((entry, i): ConfiguredStream => {
    const where = `catalog streams[${i}]`;
    const s = (entry as { stream?: Record<string, unknown> } | null)?.stream;
    if (!s || typeof s.name !== 'string' || s.name === '')
      throw configError('CATALOG_INVALID', `${where}: stream.name is required`);
    const schema = s.json_schema;
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
      throw configError('CATALOG_INVALID', `${where} (${s.name}): stream.json_schema must be an object`);
    }
    const problem = schemaProblem(schema as JsonSchema);
    if (problem)
      throw configError(
        'CATALOG_INVALID',
        `${where} (${s.name}): stream.json_schema is not a valid JSON schema: ${problem}`,
      );
    const e = entry as Record<string, unknown>;
    const mode = (e.destination_sync_mode ?? 'append') as string;
    if (mode !== 'append' && mode !== 'overwrite') {
      throw configError(
        'CATALOG_UNSUPPORTED_MODE',
        `${where} (${s.name}): destination_sync_mode "${mode}" is not supported; use "append" (each run adds a run_id partition) or "overwrite" (the new run replaces the old ones once it is complete)`,
      );
    }
    return {
      name: s.name,
      namespace: typeof s.namespace === 'string' && s.namespace !== '' ? s.namespace : null,
      jsonSchema: schema as JsonSchema,
      destinationSyncMode: mode,
      generationId: typeof e.generation_id === 'number' ? e.generation_id : 0,
      minimumGenerationId: typeof e.minimum_generation_id === 'number' ? e.minimum_generation_id : 0,
      syncId: typeof e.sync_id === 'number' ? e.sync_id : null,
    };
  });
  return new Catalog(streams);
}

export async function loadCatalog(path: string): Promise<Catalog> {
  return parseCatalog(await readJsonFile(path, 'catalog'));
}
