import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type FaultPicker,
  errorTypeFor,
  ERROR_MESSAGES,
  type Endpoint,
  type Faults,
  type HttpFault,
} from './faults.js';
import { modelInfo } from './models.js';
import { promptTokens, type ResponderParams } from './responder.js';
import { opaqueId } from './random.js';
import type { BatchStore } from './store.js';
import { RateLimited, type AccountLimits } from './limits.js';
import { COUNT_TOKENS_PARAMS, EmulatedHttpError, validateCreateBody, validateParams } from './validate.js';

export interface HandlerContext {
  store: BatchStore;
  apiKeys: ReadonlySet<string>;
  models: readonly string[];
  maxRequestsPerBatch: number;
  maxBodyBytes: number;
  faults: () => Faults;
  picker: FaultPicker;
  calls: Record<Endpoint, number>;
  publicOrigin?: string;
  /** The account's rate, queue and spend limits, when the emulator models them. */
  limits?: AccountLimits;
}

/** What a handler produced: a JSON body, or a body it streams itself. */
type Reply = { json: unknown } | { stream: (res: ServerResponse) => Promise<void> };

interface Call {
  id: string;
  url: URL;
  body: unknown;
  /** Length of the request body (characters). */
  bytes: number;
  origin: string;
}

interface Route {
  endpoint: Endpoint;
  id?: string;
  run: (ctx: HandlerContext, call: Call) => Promise<Reply>;
}

const BATCHES = '/v1/messages/batches';
/** The endpoints the batch rate limit counts ("RPM to all Batch endpoints"); count_tokens and models have their own. */
const BATCH_ENDPOINTS: ReadonlySet<Endpoint> = new Set(['create', 'retrieve', 'list', 'cancel', 'delete', 'results']);
/** The Messages and token-counting endpoints take at most 32 MB (batches: 256 MB). */
const COUNT_TOKENS_MAX_BODY_BYTES = 32 * 1024 * 1024;
const COUNT_TOKENS_KEYS_WITH_MAX: ReadonlySet<string> = new Set([...COUNT_TOKENS_PARAMS, 'max_tokens']);
const ORGANIZATION_ID = '00000000-0000-4000-8000-0000e0e0e0e0';
const RESULTS_CHUNK_BYTES = 1024 * 1024;

function route(method: string, path: string): Route | undefined {
  if (path === BATCHES) {
    if (method === 'POST') return { endpoint: 'create', run: create };
    if (method === 'GET') return { endpoint: 'list', run: list };
  }
  if (path === '/v1/messages/count_tokens' && method === 'POST') return { endpoint: 'count_tokens', run: countTokens };
  if (path === '/v1/models' && method === 'GET') return { endpoint: 'models', run: listModels };
  const model = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (model && method === 'GET') return { endpoint: 'models', id: decodeURIComponent(model[1]!), run: getModel };
  const batch = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path);
  if (!batch) return undefined;
  const id = decodeURIComponent(batch[1]!);
  if (batch[2] === '/cancel' && method === 'POST') return { endpoint: 'cancel', id, run: cancel };
  if (batch[2] === '/results' && method === 'GET') return { endpoint: 'results', id, run: results };
  if (!batch[2] && method === 'GET') return { endpoint: 'retrieve', id, run: retrieve };
  if (!batch[2] && method === 'DELETE') return { endpoint: 'delete', id, run: remove };
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: { details?: Record<string, unknown>; headers?: Record<string, string> } = {},
): void {
  const requestId = res.getHeader('request-id') as string;
  const error = { type, message, ...(extra.details ? { details: extra.details } : {}) };
  sendJson(res, status, { type: 'error', error, request_id: requestId }, extra.headers);
}

function sendFault(res: ServerResponse, fault: HttpFault): void {
  if (fault.resetConnection) {
    res.socket?.destroy();
    return;
  }
  const status = fault.status ?? 500;
  const type = errorTypeFor(status);
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
  if (fault.shouldRetry !== undefined) headers['x-should-retry'] = String(fault.shouldRetry);
  const message =
    fault.errorCode === 'enforced_spend_limit_reached'
      ? 'You have reached your specified workspace API usage limits.'
      : (ERROR_MESSAGES[type] ?? 'Error');
  sendError(res, status, type, message, {
    headers,
    ...(fault.errorCode ? { details: { error_code: fault.errorCode } } : {}),
  });
}

/** Reads the body; past the size limit it keeps draining (so the client can read our answer) and reports 413. */
async function readBody(req: IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { text: size <= limit ? Buffer.concat(chunks).toString('utf8') : '', tooLarge: size > limit };
}

/** The API versions the real API answers to (SDK 1.x sends 2026-10-21, the docs' examples 2023-06-01); any other is refused. */
const API_VERSIONS = new Set(['2023-01-01', '2023-06-01', '2026-10-21']);

function authenticate(ctx: HandlerContext, req: IncomingMessage): EmulatedHttpError | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const key = (req.headers['x-api-key'] as string | undefined) ?? bearer;
  if (!key) return new EmulatedHttpError(401, 'authentication_error', 'x-api-key header is required');
  if (!ctx.apiKeys.has(key)) return new EmulatedHttpError(401, 'authentication_error', 'invalid x-api-key');
  const version = req.headers['anthropic-version'];
  if (!version) return new EmulatedHttpError(400, 'invalid_request_error', 'anthropic-version: header is required');
  if (!API_VERSIONS.has(String(version)))
    return new EmulatedHttpError(
      400,
      'invalid_request_error',
      `anthropic-version: "${String(version)}" is not a valid version`,
    );
  return undefined;
}

/** One HTTP exchange: count it, authenticate, inject any fault, then serve it as the real API would. */
export async function handle(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('request-id', opaqueId('req_011C', 20));
  res.setHeader('anthropic-organization-id', ORGANIZATION_ID);
  const url = new URL(req.url ?? '/', 'http://emulator');
  const origin = ctx.publicOrigin ?? `http://${req.headers.host ?? 'localhost'}`;
  const found = route(req.method ?? 'GET', url.pathname);
  const limit =
    found?.endpoint === 'count_tokens' ? Math.min(ctx.maxBodyBytes, COUNT_TOKENS_MAX_BODY_BYTES) : ctx.maxBodyBytes;
  const body = await readBody(req, limit);
  if (!found) return sendError(res, 404, 'not_found_error', 'Not found');
  ctx.calls[found.endpoint]++;
  try {
    if (body.tooLarge) {
      // Answered at the edge (Cloudflare) in the real service, before the API looks at the key: no request_id in the body.
      return sendJson(res, 413, {
        type: 'error',
        error: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
      });
    }
    const denied = authenticate(ctx, req);
    if (denied) throw denied;
    if (ctx.limits && BATCH_ENDPOINTS.has(found.endpoint)) ctx.limits.takeCall();
    let parsed: unknown;
    if (body.text.length > 0) {
      try {
        parsed = JSON.parse(body.text);
      } catch {
        throw new EmulatedHttpError(400, 'invalid_request_error', 'The request body is not valid JSON.');
      }
    }
    const fault = ctx.picker.pick(ctx.faults().http, found.endpoint);
    if (fault && !fault.afterEffect) return sendFault(res, fault);
    const reply = await found.run(ctx, { id: found.id ?? '', url, body: parsed, bytes: body.text.length, origin });
    // An after-effect fault does the work, then answers with a failure: the client cannot tell it happened.
    if (fault) return sendFault(res, fault);
    if ('json' in reply) return sendJson(res, 200, reply.json);
    await reply.stream(res);
  } catch (err) {
    if (res.headersSent) {
      res.socket?.destroy();
      return;
    }
    if (err instanceof EmulatedHttpError) {
      return sendError(res, err.status, err.type, err.message, {
        ...(err.details ? { details: err.details } : {}),
        ...(err instanceof RateLimited ? { headers: err.headers } : {}),
      });
    }
    sendError(res, 500, 'api_error', 'Internal server error');
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function create(ctx: HandlerContext, call: Call): Promise<Reply> {
  const requests = validateCreateBody(call.body, ctx.maxRequestsPerBatch);
  ctx.limits?.admitCreate(requests.length, call.bytes, ctx.store.queuedRequests());
  let batch;
  try {
    batch = await ctx.store.create(requests);
  } finally {
    ctx.limits?.created(requests.length);
  }
  return { json: ctx.store.view(batch, call.origin) };
}

async function retrieve(ctx: HandlerContext, call: Call): Promise<Reply> {
  return { json: ctx.store.view(await ctx.store.get(call.id, true), call.origin) };
}

async function cancel(ctx: HandlerContext, call: Call): Promise<Reply> {
  return { json: ctx.store.view(await ctx.store.cancel(call.id), call.origin) };
}

async function remove(ctx: HandlerContext, call: Call): Promise<Reply> {
  await ctx.store.delete(call.id);
  return { json: { id: call.id, type: 'message_batch_deleted' } };
}

function pageLimit(url: URL): number {
  const raw = url.searchParams.get('limit');
  if (raw === null) return 20;
  const limit = Number(raw);
  if (!Number.isInteger(limit))
    throw new EmulatedHttpError(400, 'invalid_request_error', 'limit: Input should be a valid integer');
  if (limit < 1)
    throw new EmulatedHttpError(400, 'invalid_request_error', 'limit: Input should be greater than or equal to 1');
  if (limit > 1000)
    throw new EmulatedHttpError(400, 'invalid_request_error', 'limit: Input should be less than or equal to 1000');
  return limit;
}

/** Newest-first cursor pagination, shared by batches and models: `after_id` pages older, `before_id` newer. */
function paginate<T extends { id: string }>(
  newestFirst: T[],
  url: URL,
): { data: T[]; has_more: boolean; first_id: string | null; last_id: string | null } {
  const limit = pageLimit(url);
  const after = url.searchParams.get('after_id');
  const before = url.searchParams.get('before_id');
  let data: T[];
  let hasMore: boolean;
  if (before) {
    const at = newestFirst.findIndex((b) => b.id === before);
    const end = at === -1 ? 0 : at;
    const start = Math.max(0, end - limit);
    data = newestFirst.slice(start, end);
    hasMore = start > 0;
  } else {
    const at = after ? newestFirst.findIndex((b) => b.id === after) : -1;
    const start = after ? (at === -1 ? newestFirst.length : at + 1) : 0;
    data = newestFirst.slice(start, start + limit);
    hasMore = start + limit < newestFirst.length;
  }
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

async function list(ctx: HandlerContext, call: Call): Promise<Reply> {
  const page = paginate(ctx.store.all().reverse(), call.url);
  const views = [];
  for (const batch of page.data) views.push(ctx.store.view(await ctx.store.get(batch.id), call.origin));
  return { json: { ...page, data: views } };
}

async function results(ctx: HandlerContext, call: Call): Promise<Reply> {
  const path = await ctx.store.resultsFile(call.id);
  return { stream: (res) => streamResults(ctx.faults(), call.id, path, res) };
}

async function streamResults(faults: Faults, id: string, path: string, res: ServerResponse): Promise<void> {
  res.writeHead(200, {
    ...(faults.resultsWithoutContentType ? {} : { 'content-type': 'application/x-jsonl' }),
    'content-disposition': `attachment; filename*=utf-8''${id}_results.jsonl`,
    vary: 'Accept-Encoding',
  });
  const dropAfter =
    faults.dropResultsAfterLines !== undefined && faults.dropResultsTimes > 0
      ? faults.dropResultsAfterLines
      : undefined;
  if (dropAfter === undefined && faults.resultsLineDelayMs <= 0) {
    // Big reads: each chunk written to the socket has a fixed cost, so 1 MiB chunks serve a results file with
    // about a third of the CPU that the default 64 KiB ones take (at most a chunk or two in memory: pipe waits).
    const file = createReadStream(path, { highWaterMark: RESULTS_CHUNK_BYTES });
    file.pipe(res);
    await once(res, 'close');
    file.destroy();
    return;
  }
  if (dropAfter !== undefined) faults.dropResultsTimes--;
  let sent = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (dropAfter !== undefined && sent >= dropAfter) {
      lines.close();
      // Let the lines already written reach the client, then cut the connection mid-body.
      await sleep(20);
      res.socket?.destroy();
      return;
    }
    if (faults.resultsLineDelayMs > 0) await sleep(faults.resultsLineDelayMs);
    if (!res.write(line + '\n')) await once(res, 'drain');
    sent++;
  }
  res.end();
}

async function countTokens(ctx: HandlerContext, call: Call): Promise<Reply> {
  const body = call.body;
  if (!isObject(body)) throw new EmulatedHttpError(400, 'invalid_request_error', 'Input should be a valid dictionary');
  if ('max_tokens' in body)
    throw new EmulatedHttpError(400, 'invalid_request_error', 'max_tokens: Extra inputs are not permitted');
  // The Messages checks, against count_tokens' own keys (which take `speed` and have no max_tokens).
  const problem = validateParams({ ...body, max_tokens: 1 }, new Set(ctx.models), COUNT_TOKENS_KEYS_WITH_MAX);
  if (problem)
    throw new EmulatedHttpError(problem.type === 'not_found_error' ? 404 : 400, problem.type, problem.message);
  return { json: { input_tokens: promptTokens(body as unknown as ResponderParams).total } };
}

async function listModels(ctx: HandlerContext, call: Call): Promise<Reply> {
  return { json: paginate(ctx.models.map(modelInfo) as Array<{ id: string }>, call.url) };
}

async function getModel(ctx: HandlerContext, call: Call): Promise<Reply> {
  if (!ctx.models.includes(call.id)) throw new EmulatedHttpError(404, 'not_found_error', `model: ${call.id}`);
  return { json: modelInfo(call.id) };
}
