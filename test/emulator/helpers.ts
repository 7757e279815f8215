// Shared setup for the emulator tests: emulator + real SDK client, request builders, and the SDK interfaces' key lists (checked against the .d.ts by tsc).
import Anthropic from '@anthropic-ai/sdk';
import type {
  BatchCreateParams,
  DeletedMessageBatch,
  MessageBatch,
  MessageBatchErroredResult,
  MessageBatchIndividualResponse,
  MessageBatchRequestCounts,
} from '@anthropic-ai/sdk/resources/messages/batches';
import type { CacheCreation, Message, TextBlock, Usage } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ModelInfo } from '@anthropic-ai/sdk/resources/models';
import type { ErrorResponse } from '@anthropic-ai/sdk/resources/shared';
import { afterEach, expect } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../emulator/index.js';

export const KEY = 'emulator-test-key';
export const HAIKU = 'claude-haiku-4-5';
export const SONNET = 'claude-sonnet-4-6';

export interface Harness {
  emu: RunningEmulator;
  client: Anthropic;
}

/** An emulator (processingMs 0 unless given) and a client with no SDK retries, as the connector creates with. */
export async function start(options: EmulatorOptions = {}): Promise<Harness> {
  const emu = await startEmulator({ apiKeys: [KEY], processingMs: 0, ...options });
  return { emu, client: clientFor(emu) };
}

/**
 * Call once at the top of a test file: returns a `start` whose emulators are all closed after each test.
 * @example const harness = harnessPerTest(); it('…', async () => { const { client } = await harness(); })
 */
export function harnessPerTest(): (options?: EmulatorOptions) => Promise<Harness> {
  let open: Harness[] = [];
  afterEach(async () => {
    await Promise.all(open.map((h) => h.emu.close()));
    open = [];
  });
  return async (options) => {
    const h = await start(options);
    open.push(h);
    return h;
  };
}

export function clientFor(emu: RunningEmulator, apiKey: string = KEY): Anthropic {
  return new Anthropic({ apiKey, baseURL: emu.url, maxRetries: 0 });
}

/** A batch request with one user message. */
export function ask(
  customId: string,
  text: string,
  params: Partial<BatchCreateParams.Request['params']> = {},
): BatchCreateParams.Request {
  return {
    custom_id: customId,
    params: { model: HAIKU, max_tokens: 256, messages: [{ role: 'user', content: text }], ...params },
  };
}

/** A request whose params the SDK types would refuse (to reach the API's own per-request validation). */
export function rawRequest(customId: string, params: Record<string, unknown>): BatchCreateParams.Request {
  return { custom_id: customId, params: params as unknown as BatchCreateParams.Request['params'] };
}

export async function retrieveEnded(client: Anthropic, id: string): Promise<MessageBatch> {
  const batch = await client.messages.batches.retrieve(id);
  expect(batch.processing_status).toBe('ended');
  return batch;
}

/** Every results line, in the order the server sent them. */
export async function resultLines(client: Anthropic, id: string): Promise<MessageBatchIndividualResponse[]> {
  const lines: MessageBatchIndividualResponse[] = [];
  for await (const line of await client.messages.batches.results(id)) lines.push(line);
  return lines;
}

/** Results joined by custom_id (never by position: the API does not keep request order). */
export async function resultsById(
  client: Anthropic,
  id: string,
): Promise<Map<string, MessageBatchIndividualResponse['result']>> {
  const lines = await resultLines(client, id);
  const byId = new Map(lines.map((l) => [l.custom_id, l.result]));
  expect(byId.size).toBe(lines.length);
  return byId;
}

export function succeeded(result: MessageBatchIndividualResponse['result'] | undefined): Message {
  if (result?.type !== 'succeeded') throw new Error(`expected a succeeded result, got ${JSON.stringify(result)}`);
  return result.message;
}

/** The result as an errored one (its `error.error` holds the API's type and message), or a thrown mismatch. */
export function errored(result: MessageBatchIndividualResponse['result'] | undefined): MessageBatchErroredResult {
  if (result?.type !== 'errored') throw new Error(`expected an errored result, got ${JSON.stringify(result)}`);
  return result;
}

export function textOf(message: Message): string {
  const block = message.content[0];
  if (block?.type !== 'text') throw new Error(`expected a text block, got ${JSON.stringify(block)}`);
  return block.text;
}

/** The error an SDK call rejects with (fails the test if it resolves). */
export async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

type Missing<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>;
/**
 * The keys an SDK interface declares, listed by hand from the .d.ts. A key the SDK adds and this list lacks
 * fails type-checking (`{ missing: 'new_key' }`), so the runtime checks below cannot silently fall behind.
 */
function declaredKeys<T>() {
  return <const K extends readonly (keyof T)[]>(
    keys: K & ([Missing<T, K>] extends [never] ? unknown : { missing: Missing<T, K> }),
  ): K => keys;
}

export const MESSAGE_BATCH_KEYS = declaredKeys<MessageBatch>()([
  'id',
  'archived_at',
  'cancel_initiated_at',
  'created_at',
  'ended_at',
  'expires_at',
  'processing_status',
  'request_counts',
  'results_url',
  'type',
]);
export const REQUEST_COUNTS_KEYS = declaredKeys<MessageBatchRequestCounts>()([
  'canceled',
  'errored',
  'expired',
  'processing',
  'succeeded',
]);
export const MESSAGE_KEYS = declaredKeys<Message>()([
  'id',
  'container',
  'content',
  'diagnostics',
  'model',
  'role',
  'stop_details',
  'stop_reason',
  'stop_sequence',
  'type',
  'usage',
]);
export const USAGE_KEYS = declaredKeys<Usage>()([
  'cache_creation',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'inference_geo',
  'input_tokens',
  'output_tokens',
  'output_tokens_details',
  'server_tool_use',
  'service_tier',
  'speed',
]);
export const CACHE_CREATION_KEYS = declaredKeys<CacheCreation>()([
  'ephemeral_1h_input_tokens',
  'ephemeral_5m_input_tokens',
]);
export const TEXT_BLOCK_KEYS = declaredKeys<TextBlock>()(['citations', 'text', 'type']);
export const ERROR_RESPONSE_KEYS = declaredKeys<ErrorResponse>()(['error', 'request_id', 'type']);
export const DELETED_BATCH_KEYS = declaredKeys<DeletedMessageBatch>()(['id', 'type']);
export const MODEL_INFO_KEYS = declaredKeys<ModelInfo>()([
  'id',
  'capabilities',
  'created_at',
  'deprecated_at',
  'display_name',
  'lifecycle',
  'line',
  'max_input_tokens',
  'max_tokens',
  'retires_at',
  'type',
]);

/** The object has exactly the keys the SDK interface declares: none missing, none invented. */
export function expectKeys(value: unknown, keys: readonly string[]): void {
  expect(typeof value).toBe('object');
  expect(Object.keys(value as object).sort()).toEqual([...keys].sort());
}

/** A MessageBatch from any endpoint has the SDK's full shape. */
export function expectBatchShape(batch: MessageBatch): void {
  expectKeys(batch, MESSAGE_BATCH_KEYS);
  expectKeys(batch.request_counts, REQUEST_COUNTS_KEYS);
  expect(batch.id).toMatch(/^msgbatch_[A-Za-z0-9]+$/);
  expect(batch.type).toBe('message_batch');
}

/** A succeeded result's message has the SDK's full Message / Usage / TextBlock shape. */
export function expectMessageShape(message: Message): void {
  expectKeys(message, MESSAGE_KEYS);
  expectKeys(message.usage, USAGE_KEYS);
  if (message.usage.cache_creation !== null) expectKeys(message.usage.cache_creation, CACHE_CREATION_KEYS);
  for (const block of message.content) expectKeys(block, TEXT_BLOCK_KEYS);
  expect(message.type).toBe('message');
  expect(message.role).toBe('assistant');
  expect(message.id).toMatch(/^msg_/);
}

export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
