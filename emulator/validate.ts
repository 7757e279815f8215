import { KNOWN_MODELS, maxOutputTokens } from './models.js';

/** A 4xx the emulator answers with, in the API's error shape. */
export class EmulatedHttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const invalid = (message: string) => new EmulatedHttpError(400, 'invalid_request_error', message);
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

export interface BatchRequestInput {
  custom_id: string;
  params: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The checks create makes synchronously (HTTP 400 before any batch exists): the envelope, the count, and
 * each custom_id. Request params are NOT checked here — the real API reports them per request, as
 * `errored` results, once the batch ends.
 */
export function validateCreateBody(body: unknown, maxRequests: number): BatchRequestInput[] {
  if (!isObject(body)) throw invalid('Input should be a valid dictionary');
  for (const key of Object.keys(body)) if (key !== 'requests') throw invalid(`${key}: Extra inputs are not permitted`);
  const requests = body.requests;
  if (requests === undefined) throw invalid('requests: Field required');
  if (!Array.isArray(requests)) throw invalid('requests: Input should be a valid list');
  if (requests.length === 0) throw invalid('requests: List should have at least 1 item after validation, not 0');
  if (requests.length > maxRequests)
    throw invalid(`requests: List should have at most ${maxRequests} items after validation, not ${requests.length}`);
  const seen = new Set<string>();
  for (let i = 0; i < requests.length; i++) {
    const request: unknown = requests[i];
    if (!isObject(request)) throw invalid(`requests.${i}: Input should be a valid dictionary`);
    for (const key in request) {
      if (key !== 'custom_id' && key !== 'params')
        throw invalid(`requests.${i}.${key}: Extra inputs are not permitted`);
    }
    const id = request.custom_id;
    if (id === undefined) throw invalid(`requests.${i}.custom_id: Field required`);
    if (typeof id !== 'string') throw invalid(`requests.${i}.custom_id: Input should be a valid string`);
    if (id.length < 1) throw invalid(`requests.${i}.custom_id: String should have at least 1 character`);
    if (id.length > 64) throw invalid(`requests.${i}.custom_id: String should have at most 64 characters`);
    if (!CUSTOM_ID.test(id))
      throw invalid(`requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
    if (seen.has(id))
      throw invalid(
        `requests.${i}.custom_id: Duplicate custom_id '${id}': each request in a batch must have a unique custom_id`,
      );
    seen.add(id);
    if (request.params === undefined) throw invalid(`requests.${i}.params: Field required`);
    if (!isObject(request.params)) throw invalid(`requests.${i}.params: Input should be a valid dictionary`);
  }
  return requests as BatchRequestInput[];
}

/**
 * Body keys of a Messages request: the SDK's `MessageCreateParamsBase` body params (1.13), plus keys that SDK's
 * types no longer declare but the connector or beta callers may send — sampling parameters (`temperature`,
 * `top_p`, `top_k`; model-dependent on the real API) and beta features (`mcp_servers`, `context_management`).
 */
const MESSAGE_PARAMS = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stop_sequences',
  'tools',
  'tool_choice',
  'metadata',
  'thinking',
  'output_config',
  'service_tier',
  'container',
  'inference_geo',
  'cache_control',
  'diagnostics',
  'temperature',
  'top_p',
  'top_k',
  'mcp_servers',
  'context_management',
]);
/** Body keys of `POST /v1/messages/count_tokens` (the SDK's `MessageCountTokensParams` body params). */
export const COUNT_TOKENS_PARAMS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
  'cache_control',
  'speed',
]);
/** Accepted by the Messages API but refused inside a batch. */
const NOT_IN_BATCH = new Set(['stream', 'speed', 'store', 'previous_thread_event_id', 'cache_hint', 'context_hint']);

/** Models that refuse sampling parameters (temperature, top_p, top_k) outright: Opus 4.7 and 4.8, Fable 5, Haiku 5.5. */
const SAMPLING_REFUSED = /^claude-(opus-4-[78]|fable-5|haiku-5-5)/;

export interface ParamsProblem {
  type: 'invalid_request_error' | 'not_found_error';
  message: string;
}

function textOk(content: unknown): boolean {
  if (typeof content === 'string') return content.length > 0;
  if (!Array.isArray(content) || content.length === 0) return false;
  for (const b of content) if (!isObject(b) || typeof b.type !== 'string') return false;
  return true;
}

/** Per-request validation, reported as an `errored` result (never a failed create), as the real API does. */
export function validateParams(
  params: Record<string, unknown>,
  models: ReadonlySet<string> = new Set(KNOWN_MODELS),
  allowedKeys: ReadonlySet<string> = MESSAGE_PARAMS,
): ParamsProblem | undefined {
  const bad = (message: string): ParamsProblem => ({ type: 'invalid_request_error', message });
  // for…in, not Object.keys: no array per request (a parsed JSON object has no inherited enumerable keys).
  for (const key in params) {
    if (allowedKeys.has(key)) continue;
    if (NOT_IN_BATCH.has(key)) return bad(`${key}: not supported in Message Batches requests`);
    return bad(`${key}: Extra inputs are not permitted`);
  }
  const model = params.model;
  if (model === undefined) return bad('model: Field required');
  if (typeof model !== 'string') return bad('model: Input should be a valid string');
  if (!models.has(model)) return { type: 'not_found_error', message: `model: ${model}` };
  const maxTokens = params.max_tokens;
  if (maxTokens === undefined) return bad('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens))
    return bad('max_tokens: Input should be a valid integer');
  if (maxTokens < 1) return bad('max_tokens: Input should be greater than or equal to 1');
  const ceiling = maxOutputTokens(model);
  if (maxTokens > ceiling)
    return bad(
      `max_tokens: ${maxTokens} > ${ceiling}, which is the maximum allowed number of output tokens for ${model}`,
    );
  const messages = params.messages;
  if (messages === undefined) return bad('messages: Field required');
  if (!Array.isArray(messages) || messages.length === 0) return bad('messages: at least one message is required');
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isObject(m)) return bad(`messages.${i}: Input should be a valid dictionary`);
    if (m.role !== 'user' && m.role !== 'assistant')
      return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (i === 0 && m.role !== 'user') return bad('messages: first message must use the "user" role');
    if (!textOk(m.content)) return bad(`messages.${i}.content: must be a non-empty string or list of content blocks`);
  }
  if (params.system !== undefined && typeof params.system !== 'string' && !textOk(params.system)) {
    return bad('system: Input should be a valid string or list of text blocks');
  }
  const temperature = params.temperature;
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 1)) {
    return bad('temperature: Input should be less than or equal to 1 and greater than or equal to 0');
  }
  for (const key of ['temperature', 'top_p', 'top_k'] as const) {
    if (params[key] !== undefined && SAMPLING_REFUSED.test(model))
      return bad(`\`${key}\` is deprecated for this model.`);
  }
  if (temperature !== undefined && params.top_p !== undefined)
    return bad('`temperature` and `top_p` cannot both be specified for this model. Please use only one.');
  const outputConfig = params.output_config;
  if (outputConfig !== undefined) {
    if (!isObject(outputConfig)) return bad('output_config: Input should be a valid dictionary');
    const format = outputConfig.format;
    if (format !== undefined && format !== null) {
      if (!isObject(format) || format.type !== 'json_schema')
        return bad("output_config.format.type: Input should be 'json_schema'");
      if (!isObject(format.schema)) return bad('output_config.format.schema: Field required');
      const problem = structuredSchemaProblem(format.schema, 'output_config.format.schema', true);
      if (problem) return bad(problem);
    }
  }
  return undefined;
}

/**
 * The JSON Schema subset structured outputs take: the keywords the SDK's own strict transform keeps
 * (lib/transform-json-schema), every object closed with `additionalProperties: false`, string formats from
 * its list, minItems 0 or 1. The real API refuses an open object; what it does with the other keywords the
 * transform moves into descriptions (numeric ranges, lengths, patterns) is refused here too, so a caller that
 * passes this check sends nothing the API could turn down.
 */
const SCHEMA_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'anyOf',
  'allOf',
  '$defs',
  '$ref',
  'description',
  'title',
  'format',
  'minItems',
]);
const STRING_FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'uri',
  'ipv4',
  'ipv6',
  'uuid',
]);

function structuredSchemaProblem(node: unknown, path: string, root = false): string | undefined {
  if (!isObject(node)) return `${path}: Input should be a valid dictionary`;
  if (root && node.type !== 'object') return `${path}: the root schema must be of type 'object'`;
  for (const key in node)
    if (!SCHEMA_KEYWORDS.has(key)) return `${path}: '${key}' is not supported in structured output schemas`;
  if (node.type === 'object' || node.properties !== undefined) {
    if (node.additionalProperties !== false)
      return `${path}: For 'object' type, 'additionalProperties' must be explicitly set to false`;
    if (node.properties !== undefined && !isObject(node.properties))
      return `${path}.properties: Input should be a valid dictionary`;
    const problem = subSchemasProblem(node.properties, `${path}.properties`);
    if (problem) return problem;
  }
  if (node.format !== undefined && !STRING_FORMATS.has(node.format as string))
    return `${path}: format '${String(node.format)}' is not supported`;
  if (node.minItems !== undefined && node.minItems !== 0 && node.minItems !== 1)
    return `${path}: minItems must be 0 or 1`;
  if (node.items !== undefined) {
    const problem = structuredSchemaProblem(node.items, `${path}.items`);
    if (problem) return problem;
  }
  for (const key of ['anyOf', 'allOf'] as const) {
    const list = node[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0) return `${path}.${key}: Input should be a non-empty list`;
    const problem = subSchemasProblem(list, `${path}.${key}`);
    if (problem) return problem;
  }
  if (node.$defs !== undefined && !isObject(node.$defs)) return `${path}.$defs: Input should be a valid dictionary`;
  return subSchemasProblem(node.$defs, `${path}.$defs`);
}

/** The first problem among sub-schemas held by name or index (properties, $defs, anyOf, allOf), if any. */
function subSchemasProblem(schemas: Record<string, unknown> | unknown[] | undefined, path: string): string | undefined {
  for (const [name, sub] of Object.entries(schemas ?? {})) {
    const problem = structuredSchemaProblem(sub, `${path}.${name}`);
    if (problem) return problem;
  }
  return undefined;
}
