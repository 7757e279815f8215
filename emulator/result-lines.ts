import { ERROR_MESSAGES, type Faults } from './faults.js';
import type { RequestCounts, ResultType } from './batch-record.js';
import type { LineWriter } from './line-writer.js';
import { MAX_INPUT_TOKENS, minCacheableTokens } from './models.js';
import { opaqueId, unitHash } from './random.js';
import { answerText, answerUsage, type CacheBook, type ResponderParams } from './responder.js';
import { validateParams, type BatchRequestInput, type ParamsProblem } from './validate.js';

/**
 * A batch's results lines: what create decides for each request (planResults, in request order) and the line
 * written for it (writeResult), and the two ways a line is read back (lineHead, errorBody's shape).
 */

/** What create decided for each request, in request order; the result lines are written from it afterwards. */
export interface Plan {
  /** Per request: one of the kinds below, plus TTL_1H when its cache write was a 1-hour one. */
  kinds: Uint8Array;
  /** Per request: input, cache-read and cache-write tokens (succeeded requests only). */
  usage: Float64Array;
  /** The validation problem of each invalid request, by index. */
  problems: Map<number, ParamsProblem>;
  erroredType: string;
}
const INVALID = 1;
const ERRORED = 2;
const EXPIRED = 3;
const SUCCEEDED = 4;
const SUCCEEDED_UNUSABLE = 5;
const KIND = 7;
const TTL_1H = 8;
/** A results line starts `{"custom_id":"<id>","result":{"type":"<type>"` (custom_ids need no JSON escaping). */
const LINE_HEAD = '{"custom_id":"';
const TYPE_AFTER_ID = '","result":{"type":"';

const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** What a plan needs beside the requests: the known models, the prompt cache, and faults already served. */
export interface PlanContext {
  models: ReadonlySet<string>;
  /** Overrides every model's own minimum (see minCacheableTokens in models.ts). */
  minCacheableTokens: number | undefined;
  cache: CacheBook;
  /** How many times each fault has failed each custom_id (so a retry can get through). */
  failedTimes: Map<string, number>;
}

/**
 * Everything about each request's result that depends on what came before it — fault attempts per custom_id,
 * prompt-cache writes and reads — decided in request order, and the counts of the result types into `counts`.
 */
export function planResults(
  requests: BatchRequestInput[],
  faults: Faults,
  counts: RequestCounts,
  context: PlanContext,
): Plan {
  const n = requests.length;
  const plan: Plan = {
    kinds: new Uint8Array(n),
    usage: new Float64Array(n * 3),
    problems: new Map(),
    erroredType: faults.erroredType,
  };
  const failsFirst = (kind: string, id: string, share: number, attempts: number) => {
    if (share <= 0 || unitHash(kind, id) >= share) return false;
    const key = `${kind}:${id}`;
    const times = context.failedTimes.get(key) ?? 0;
    if (times >= attempts) return false;
    context.failedTimes.set(key, times + 1);
    return true;
  };
  const cache = context.cache;
  for (let i = 0; i < n; i++) {
    const request = requests[i]!;
    const id = request.custom_id;
    const problem = validateParams(request.params, context.models);
    if (problem) {
      plan.kinds[i] = INVALID;
      plan.problems.set(i, problem);
      counts.errored++;
    } else if (failsFirst('errored', id, faults.erroredShare, faults.erroredAttempts)) {
      plan.kinds[i] = ERRORED;
      counts.errored++;
    } else if (failsFirst('expired', id, faults.expiredShare, faults.expiredAttempts)) {
      plan.kinds[i] = EXPIRED;
      counts.expired++;
    } else {
      const unusable = faults.invalidOutputShare > 0 && unitHash('invalid', id) < faults.invalidOutputShare;
      const usage = answerUsage(
        request.params as unknown as ResponderParams,
        cache,
        context.minCacheableTokens ?? minCacheableTokens(request.params.model as string),
      );
      const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
      if (prompt > MAX_INPUT_TOKENS) {
        plan.kinds[i] = INVALID;
        plan.problems.set(i, {
          type: 'invalid_request_error',
          message: `prompt is too long: ${prompt} tokens > ${MAX_INPUT_TOKENS} maximum`,
        });
        counts.errored++;
        continue;
      }
      plan.kinds[i] = (unusable ? SUCCEEDED_UNUSABLE : SUCCEEDED) | (usage.cacheTtl === '1h' ? TTL_1H : 0);
      plan.usage[i * 3] = usage.inputTokens;
      plan.usage[i * 3 + 1] = usage.cacheReadTokens;
      plan.usage[i * 3 + 2] = usage.cacheWriteTokens;
      counts.succeeded++;
    }
  }
  return plan;
}

/**
 * Writes the results line of request `index`, as planned. A succeeded line is built as text, one JSON.stringify
 * per string, exactly what JSON.stringify of { custom_id, result: { type: 'succeeded', message } } gives.
 */
export function writeResult(
  out: LineWriter,
  request: BatchRequestInput,
  index: number,
  plan: Plan,
): Promise<void> | undefined {
  const id = request.custom_id;
  const kind = plan.kinds[index]! & KIND;
  if (kind === INVALID) {
    const problem = plan.problems.get(index)!;
    return out.line(JSON.stringify({ custom_id: id, result: errorBody(problem.type, problem.message) }));
  }
  if (kind === ERRORED)
    return out.line(
      JSON.stringify({
        custom_id: id,
        result: errorBody(plan.erroredType, ERROR_MESSAGES[plan.erroredType] ?? 'Error'),
      }),
    );
  if (kind === EXPIRED) return out.line(JSON.stringify({ custom_id: id, result: { type: 'expired' } }));
  const params = request.params as unknown as ResponderParams;
  const a = answerText(params, kind === SUCCEEDED_UNUSABLE);
  const input = num(plan.usage[index * 3]!);
  const read = num(plan.usage[index * 3 + 1]!);
  const write = num(plan.usage[index * 3 + 2]!);
  const ttl1h = (plan.kinds[index]! & TTL_1H) !== 0;
  const head =
    `{"custom_id":${JSON.stringify(id)},"result":{"type":"succeeded","message":{"id":"${opaqueId('msg_emulator_')}",` +
    `"type":"message","role":"assistant","model":${JSON.stringify(params.model)},"content":[{"type":"text","text":`;
  // Only numbers and fixed ASCII: the tail can be written as latin1.
  const asciiTail =
    `,"citations":null}],"stop_reason":"${a.stopReason}","stop_sequence":null,"stop_details":null,"container":null,` +
    `"diagnostics":null,"usage":{"input_tokens":${input},"output_tokens":${num(a.outputTokens)},` +
    `"cache_creation_input_tokens":${write},"cache_read_input_tokens":${read},` +
    `"cache_creation":{"ephemeral_1h_input_tokens":${ttl1h ? write : '0'},"ephemeral_5m_input_tokens":${ttl1h ? '0' : write}},` +
    `"inference_geo":null,"output_tokens_details":null,"server_tool_use":null,"service_tier":"batch","speed":null}}}}`;
  return out.line(head, JSON.stringify(a.text), asciiTail);
}

/** custom_id and result type of a results line, read from its fixed start (JSON.parse for anything else). */
export function lineHead(line: string): [string, ResultType] {
  if (line.startsWith(LINE_HEAD)) {
    const idEnd = line.indexOf('"', LINE_HEAD.length);
    const typeAt = idEnd + TYPE_AFTER_ID.length;
    if (idEnd > 0 && line.startsWith(TYPE_AFTER_ID, idEnd))
      return [line.slice(LINE_HEAD.length, idEnd), line.slice(typeAt, line.indexOf('"', typeAt)) as ResultType];
  }
  const parsed = JSON.parse(line) as { custom_id: string; result: { type: ResultType } };
  return [parsed.custom_id, parsed.result.type];
}

export function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'errored', error: { type: 'error', error: { type, message }, request_id: null } };
}
