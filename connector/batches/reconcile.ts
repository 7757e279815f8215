import type Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';

/** Server and local clocks differ a little; look this far before the journaled submit time. */
const CLOCK_SKEW_MS = 5 * 60_000;

const total = (b: MessageBatch) => Object.values(b.request_counts).reduce((n, c) => n + c, 0);

/**
 * Finds a batch a create made but the journal never recorded (the process died, or the answer was lost,
 * between the API accepting the create and us writing down its id). Lists newest first back to
 * `since`; a batch with the same number of requests that no journal claims is ours. Among several,
 * the oldest is taken, matching submissions made in seq order.
 */
export async function findUnrecordedBatch(
  client: Anthropic,
  expected: { requests: number; since: Date; claimed: (id: string) => boolean },
): Promise<MessageBatch | undefined> {
  const floor = expected.since.getTime() - CLOCK_SKEW_MS;
  let match: MessageBatch | undefined;
  for await (const batch of client.messages.batches.list({ limit: 100 })) {
    if (Date.parse(batch.created_at) < floor) break;
    if (total(batch) === expected.requests && !expected.claimed(batch.id)) match = batch;
  }
  return match;
}
