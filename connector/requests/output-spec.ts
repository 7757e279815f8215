import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import type { ConnectorConfig } from '../config/config.js';
import { configError } from '../common/errors.js';
import { kindOf } from '../config/column-kind.js';
import type { ColumnKind } from '../types/shared.js';

export type OutputMode = 'text' | 'label' | 'json';

/**
 * What shape the model's answer must take, and how it becomes columns: `text` keeps the text, `label`
 * normalises it to one of the configured labels, `json` asks for structured output (output_config.format)
 * and turns each top-level property of the schema into its own typed column.
 */
export interface OutputSpec {
  mode: OutputMode;
  labels: string[];
  /** The user's output_schema: answers are validated against it, and it types the columns. */
  schema?: Record<string, unknown>;
  /**
   * The schema as requests send it (output_config.format.schema): the API takes only a subset of JSON Schema
   * (every object closed with additionalProperties false; no numeric, length or pattern constraints), so
   * this is the SDK's own strict transform of `schema` (what its jsonSchemaOutputFormat helper sends).
   * Constraints it cannot send move into descriptions, and `validate` still enforces them on the answers.
   */
  apiSchema?: Record<string, unknown>;
  validate?: ValidateFunction;
  /** Extra Parquet columns for json mode: `<prefix><property>` with the kind the schema gives it. */
  columns: Array<{ column: string; property: string; kind: ColumnKind }>;
}

const ajv = new Ajv({ allErrors: true, strict: false });

export function outputSpecFrom(config: ConnectorConfig): OutputSpec {
  const mode = config.output_mode;
  if (mode === 'label') {
    const labels = [...new Set((config.labels ?? []).map((l) => l.trim()).filter(Boolean))];
    if (labels.length < 2)
      throw configError('CONFIG_INVALID', 'output_mode "label" needs "labels": a list of at least two distinct labels');
    return { mode, labels, columns: [] };
  }
  if (mode === 'json') {
    const schema = config.output_schema;
    const properties = schema?.properties;
    if (
      !schema ||
      schema.type !== 'object' ||
      typeof properties !== 'object' ||
      properties === null ||
      Object.keys(properties).length === 0
    ) {
      throw configError(
        'CONFIG_INVALID',
        'output_mode "json" needs "output_schema": a JSON schema of type "object" with at least one property',
      );
    }
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(schema);
    } catch (err) {
      throw configError('CONFIG_INVALID', `output_schema is not a valid JSON schema: ${(err as Error).message}`);
    }
    let apiSchema: Record<string, unknown>;
    try {
      apiSchema = transformJSONSchema(schema) as Record<string, unknown>;
    } catch (err) {
      throw configError(
        'CONFIG_INVALID',
        `output_schema cannot be sent as a structured-output schema: ${(err as Error).message}`,
      );
    }
    const prefix = config.output_column_prefix;
    const columns = Object.entries(properties as Record<string, unknown>).map(([property, sub]) => ({
      column: `${prefix}${property}`,
      property,
      kind: kindOf(sub, schema),
    }));
    return { mode, labels: [], schema, apiSchema, validate, columns };
  }
  return { mode: 'text', labels: [], columns: [] };
}

/** The instruction that makes label mode's answers parseable; part of the shared (cacheable) prefix. */
export function labelInstruction(labels: string[]): string {
  return `Answer with exactly one of these labels and nothing else: ${labels.join(', ')}.`;
}

/**
 * Version of the prompt a row was answered with: a hash of everything that shapes the answer for that
 * stream (template, system prompt, output shape, model, sampling settings). Same version ⇒ same prompt.
 */
export function promptVersion(config: ConnectorConfig, template: string, spec: OutputSpec): string {
  const shape = {
    template,
    system: config.system_prompt ?? null,
    mode: spec.mode,
    labels: spec.labels,
    schema: spec.schema ?? null,
    model: config.model,
    max_tokens: config.max_tokens,
    temperature: config.temperature ?? null,
  };
  return 'p' + createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 12);
}

export type Interpreted =
  { ok: true; value: string; extracted?: Record<string, unknown> } | { ok: false; reason: string };

/** Turns a succeeded answer into the configured shape, or says why it does not fit. */
export function interpretAnswer(spec: OutputSpec, text: string, stopReason: string | null): Interpreted {
  if (spec.mode === 'text') return { ok: true, value: text };
  if (stopReason === 'max_tokens') return { ok: false, reason: 'truncated: the answer hit max_tokens' };
  if (spec.mode === 'label') {
    const label = normaliseLabel(text, spec.labels);
    return label
      ? { ok: true, value: label }
      : { ok: false, reason: `not one of the labels: ${JSON.stringify(text.slice(0, 80))}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (!spec.validate!(parsed)) {
    const first = spec.validate!.errors?.[0];
    return {
      ok: false,
      reason: `does not match output_schema: ${first ? `${first.instancePath || '(root)'} ${first.message}` : 'invalid'}`,
    };
  }
  return { ok: true, value: text, extracted: parsed as Record<string, unknown> };
}

/** Exact label (case, quotes and punctuation aside), else the single label the answer names as a word. */
export function normaliseLabel(text: string, labels: string[]): string | undefined {
  const clean = (s: string) =>
    s
      .trim()
      .toLowerCase()
      .replace(/^[\s"'`*_.:-]+|[\s"'`*_.:!-]+$/g, '');
  const answer = clean(text);
  const exact = labels.find((l) => clean(l) === answer);
  if (exact) return exact;
  const named = labels.filter((l) =>
    new RegExp(`(^|[^\\p{L}\\p{N}])${clean(l).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\p{N}])`, 'iu').test(
      answer,
    ),
  );
  return named.length === 1 ? named[0] : undefined;
}
