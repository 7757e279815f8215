import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { configError, registerSecret } from '../common/errors.js';
import { configSchema } from './spec.js';
import { validateStorageSettings, type S3Settings } from '../storage/open-store.js';

/** Validated config with defaults applied. Field names match spec/spec.json one to one. */
export interface ConnectorConfig {
  api_key?: string;
  base_url: string;
  destination_path: string;
  /** How to reach the bucket of an `s3://` destination_path (see storage/open-store.ts). */
  s3?: S3Settings;
  model: string;
  prompt_template: string;
  stream_prompt_templates: Record<string, string>;
  system_prompt?: string;
  max_tokens: number;
  temperature?: number;
  max_requests_per_batch: number;
  max_batch_bytes: number;
  batch_ramp_up: boolean;
  poll_interval_seconds: number;
  emit_run_state: boolean;
  wait: 'until_done' | 'submit_only';
  max_attempts: number;
  retry_expired: boolean;
  retry_canceled: boolean;
  api_patience_seconds: number;
  max_queued_requests?: number;
  progress_interval_seconds: number;
  output_mode: 'text' | 'label' | 'json';
  labels?: string[];
  output_schema?: Record<string, unknown>;
  output_column_prefix: string;
  retry_invalid_output: boolean;
  sink: 'parquet' | 'records' | 'both';
  prompt_caching: boolean;
  max_bad_records: number;
  missing_field_policy: 'fail' | 'skip' | 'render_empty';
  oversize_policy: 'truncate' | 'skip';
  max_input_tokens?: number;
  result_cache: { enabled: boolean; max_entries: number; max_size_mb: number };
  price_overrides: Record<
    string,
    { input: number; output: number; cache_write?: number; cache_read?: number; cache_write_1h?: number }
  >;
  batch_discount: number;
  max_cost_usd?: number;
  compression: 'SNAPPY' | 'ZSTD' | 'GZIP' | 'UNCOMPRESSED';
  row_group_size: number;
  max_rows_per_file?: number;
  max_file_size_mb?: number;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
ajv.addKeyword('airbyte_secret');
ajv.addKeyword('order');
// Airbyte's UI grouping: `groups` on the spec, `group` on a property.
ajv.addKeyword('groups');
ajv.addKeyword('group');
const validateSchema = ajv.compile(configSchema);

/** Turns ajv's errors into one sentence per field, naming the field and what it needs. */
function describe(errors: ErrorObject[]): string {
  return errors
    .map((e) => {
      const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(config)';
      if (e.keyword === 'required')
        return `missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
      if (e.keyword === 'additionalProperties') {
        return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"${field === '(config)' ? '' : ` in ${field}`}`;
      }
      return `"${field}" ${e.message ?? 'is invalid'}`;
    })
    .join('; ');
}

/** Models whose API refuses sampling parameters (temperature, top_p, top_k): Opus 4.7 and 4.8, Fable 5, Haiku 5.5. */
const NO_SAMPLING_MODELS = /^claude-(opus-4-[78]|fable-5|haiku-5-5)/;

/** Validates a parsed config object against the spec and applies defaults. Throws config_error. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ConnectorConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw configError('CONFIG_INVALID', 'config must be a JSON object');
  }
  const copy = structuredClone(raw) as Record<string, unknown>;
  registerSecret(typeof copy.api_key === 'string' ? copy.api_key : undefined);
  // Registered before validation, so that no error message about the config can carry them.
  const s3 = typeof copy.s3 === 'object' && copy.s3 !== null ? (copy.s3 as Record<string, unknown>) : {};
  for (const field of ['secret_access_key', 'session_token'])
    registerSecret(typeof s3[field] === 'string' ? s3[field] : undefined);
  if (!validateSchema(copy)) {
    throw configError('CONFIG_INVALID', `invalid config: ${describe(validateSchema.errors ?? [])}`);
  }
  const config = copy as unknown as ConnectorConfig;
  if (!config.api_key && env.ANTHROPIC_API_KEY) config.api_key = env.ANTHROPIC_API_KEY;
  registerSecret(config.api_key);
  if (!config.api_key && config.base_url !== 'emulator') {
    throw configError(
      'CONFIG_NO_API_KEY',
      'no API key: set "api_key" in the config or the ANTHROPIC_API_KEY environment variable',
    );
  }
  validateStorageSettings(config);
  if (config.wait === 'submit_only' && config.sink !== 'parquet') {
    // A STATE is echoed once its records are submitted, but under submit_only they are enriched by a later run:
    // a transform would pass the STATE on before the RECORDs it covers.
    throw configError(
      'CONFIG_INVALID',
      `"wait": "submit_only" cannot be combined with "sink": "${config.sink}": a transform must emit each record before the STATE that covers it, and under submit_only the records are enriched by a later run`,
    );
  }
  if (config.temperature !== undefined && NO_SAMPLING_MODELS.test(config.model)) {
    // Every request would come back errored (invalid_request_error): refuse before anything is sent.
    throw configError(
      'CONFIG_INVALID',
      `"temperature" is not accepted by ${config.model} (the API refuses sampling parameters for it); remove it from the config`,
    );
  }
  return config;
}

/** Reads and validates a config file. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ConnectorConfig> {
  return parseConfig(await readJsonFile(path, 'config'), env);
}

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw configError(
      'FILE_UNREADABLE',
      `cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw configError('FILE_NOT_JSON', `${what} file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}
