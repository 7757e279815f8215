import type Anthropic from '@anthropic-ai/sdk';
import type { BatchesApi, MessageBatch } from './batches-api.js';

/** The real Batches API: the SDK client (auth, headers, timeouts and error mapping are its own). */
export function sdkBatchesApi(client: Anthropic): BatchesApi {
  return {
    // What messages.batches.create() sends, with the body already serialised: the SDK passes a stream through
    // untouched. SDK retries are off for this call only (see BatchesApi).
    create: (body) =>
      client.post<MessageBatch>('/v1/messages/batches', {
        body: body.chunks(),
        headers: { 'content-type': 'application/json', 'content-length': String(body.bytes) },
        maxRetries: 0,
      }),
    retrieve: (batchId) => client.messages.batches.retrieve(batchId),
    list: async (params) => {
      const page = await client.messages.batches.list(params);
      return { data: page.data, has_more: page.has_more };
    },
    // What the SDK's results() does, minus its JSONL decoder: the body as bytes.
    results: (resultsUrl) =>
      client
        .get<unknown>(resultsUrl, { headers: { Accept: 'application/binary' }, stream: true, __binaryResponse: true })
        .asResponse(),
    cancel: (batchId) => client.messages.batches.cancel(batchId),
    model: (modelId) => client.models.retrieve(modelId),
  };
}
