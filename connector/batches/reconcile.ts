import type Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';

/** Host and API clocks differ a little; a batch created this long before the journaled submit time still counts. */
const CLOCK_SKEW_MS = 30_000;

const total = (b: MessageBatch) => Object.values(b.request_counts).reduce((n, c) => n + c, 0);

/**
 * Finds a batch a create made but the journal never recorded (the process died, or the answer was lost,
 * between the API accepting the create and us writing down its id). Candidates: same number of requests,
 * created since the journaled submit time, claimed by no journal; the one created closest to that time
 * wins. There is no upper bound: creates are retried for as long as api_patience_seconds allows (half an
 * hour by default) after that time, and a resume may come hours later, so a batch made long after it can be
 * ours. Listing cannot show a batch's custom_ids, so an adoption is checked again when its results arrive
 * (a batch that answers none of our requests was not ours, and the requests are sent after all).
 */
export async function findUnrecordedBatch(
  client: Anthropic,
  expected: { requests: number; since: Date; claimed: (id: string) => boolean },
): Promise<MessageBatch | undefined> {
  const at = expected.since.getTime();
  let best: { batch: MessageBatch; distance: number } | undefined;
  for await (const batch of client.messages.batches.list({ limit: 100 })) {
    const created = Date.parse(batch.created_at);
    if (created < at - CLOCK_SKEW_MS) break;
    if (total(batch) !== expected.requests || expected.claimed(batch.id)) continue;
    const distance = Math.abs(created - at);
    if (!best || distance < best.distance) best = { batch, distance };
  }
  return best?.batch;
}
