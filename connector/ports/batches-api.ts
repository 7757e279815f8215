/*
 * Ports: what the write core (connector/pipeline/ and the batch lifecycle it drives) needs from the world
 * outside the process, as interfaces, with the real adapter beside each one. Tests plug in-memory fakes
 * into the same seams (test/pipeline/fakes.ts), so the core runs in-process with no HTTP and no real time.
 *
 * - batches-api.ts: the Message Batches API on the wire (create, retrieve, list, results, cancel, and the
 *   model lookup `check` makes); sdk-batches-api.ts adapts the Anthropic SDK client to it.
 * - clock.ts: now, sleep and a periodic tick; systemClock() is the real one.
 * - The output sink (where a finalised batch's rows go) is pipeline/output-sink.ts: its types are the
 *   sinks' own (BatchResults, BatchOutput), so it lives with the core that calls it.
 * - The journal/spool/lock store is connector/storage/.
 *
 * Files here import nothing from the rest of connector/, so any folder may depend on them without a cycle.
 */
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';

export type { MessageBatch };

/** One page of the batch list, newest first. */
export interface BatchPage {
  data: MessageBatch[];
  has_more: boolean;
}

/** A create body already serialised: its exact size and a fresh stream of it per attempt. */
export interface CreateBodyStream {
  bytes: number;
  chunks(): AsyncGenerator<Buffer>;
}

/**
 * The Message Batches API as the core uses it. Failures are thrown as the SDK's error classes
 * (Anthropic.APIError and its subclasses, with status and headers; APIConnectionError): the retry,
 * reconcile and give-up decisions in batches/ read them. An adapter never retries a create on its own
 * (a create retried after the API accepted it makes a second, paid batch); the other calls are idempotent.
 */
export interface BatchesApi {
  /** POST /v1/messages/batches with this body, sent once. */
  create(body: CreateBodyStream): Promise<MessageBatch>;
  retrieve(batchId: string): Promise<MessageBatch>;
  /** One page of recent batches, newest first; `after_id` pages further back. */
  list(params: { limit: number; after_id?: string }): Promise<BatchPage>;
  /** The raw JSONL results of an ended batch, from its `results_url`. */
  results(resultsUrl: string): Promise<Response>;
  cancel(batchId: string): Promise<MessageBatch>;
  /** GET /v1/models/{id}: the model exists for this key (a 404 says it does not). */
  model(modelId: string): Promise<{ id: string }>;
}
