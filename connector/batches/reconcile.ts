import type { BatchesApi, MessageBatch } from '../ports/batches-api.js';

/** Host and API clocks differ a little; a batch created this long before the journaled submit time still counts. */
const CLOCK_SKEW_MS = 30_000;

const total = (b: MessageBatch) => Object.values(b.request_counts).reduce((n, c) => n + c, 0);

/**
 * Every batch a create in doubt may have made (the process died, or the answer was lost, between the API
 * accepting the create and us writing down its id): same number of requests, created since the journaled
 * submit time, claimed by no journal; closest to that time first. There is no upper bound: creates are
 * retried for as long as api_patience_seconds allows after that time, and a resume may come hours later.
 *
 * Listing cannot show a batch's custom_ids (the API has no way to read a batch's requests back), so this
 * is a set of candidates, not an answer. It is sound because creates are serialised per destination and a
 * create in doubt is resolved before any other create starts (see CreateGate): no other create of ours can
 * be among the candidates, only another process's on the same key. All of them are kept; the task adopts
 * the first, checks it by its results (they carry custom_ids), and only when every candidate has ended
 * without answering ours are the requests sent again (BatchTask.classify).
 */
export async function findUnrecordedBatches(
  api: BatchesApi,
  expected: { requests: number; since: Date; claimed: (id: string) => boolean },
): Promise<MessageBatch[]> {
  const at = expected.since.getTime();
  const found: Array<{ batch: MessageBatch; distance: number }> = [];
  let after: string | undefined;
  listing: for (;;) {
    const page = await api.list({ limit: 100, ...(after ? { after_id: after } : {}) });
    for (const batch of page.data) {
      const created = Date.parse(batch.created_at);
      if (created < at - CLOCK_SKEW_MS) break listing;
      if (total(batch) !== expected.requests || expected.claimed(batch.id)) continue;
      found.push({ batch, distance: Math.abs(created - at) });
    }
    after = page.data.at(-1)?.id;
    if (!page.has_more || after === undefined) break;
  }
  return found.sort((a, b) => a.distance - b.distance).map((f) => f.batch);
}
