import type { BatchesApi, MessageBatch } from '../ports/batches-api.js';
import { classifyApiFailure } from './api-failure.js';
import { Interrupted, waitUntilEnded, type LifecycleOptions } from './lifecycle.js';
import { withRetry } from './retry.js';

/** Batches per list page: the API's maximum, so one call sees every batch of a large sync. */
const PAGE = 1000;

interface Waiter {
  createdAt: number | undefined;
  onProgress: (batch: MessageBatch) => void;
  resolve: (batch: MessageBatch) => void;
  reject: (err: unknown) => void;
}

/**
 * Polls every batch this process waits on with one `list` call per poll interval (newest first, 1,000 per page,
 * paging back only as far as the oldest batch waited on), instead of one retrieve per batch: the calls per
 * minute stay flat whether 2 or 200 batches are in flight, well inside the account's RPM to the batch
 * endpoints, which every connection on the same key shares. A batch the list does not show (just created, or
 * gone) is looked up on its own, with the early-404 tolerance and BatchLost of waitUntilEnded().
 */
export class BatchPoller {
  private readonly waiting = new Map<string, Waiter>();
  private loop: Promise<void> | undefined;
  /** API calls this poller made (list pages and single lookups), for progress and the scale benchmark. */
  calls = 0;

  constructor(
    private readonly api: BatchesApi,
    private readonly options: LifecycleOptions,
  ) {}

  /** Resolves with the batch once it has ended; `createdAt` (ms) bounds how far back the list is paged. */
  waitUntilEnded(
    batchId: string,
    createdAt: number | undefined,
    onProgress: (batch: MessageBatch) => void = () => undefined,
  ): Promise<MessageBatch> {
    return new Promise<MessageBatch>((resolve, reject) => {
      this.waiting.set(batchId, { createdAt, onProgress, resolve, reject });
      this.loop ??= this.run();
    });
  }

  private async run(): Promise<void> {
    try {
      while (this.waiting.size > 0) {
        try {
          if (this.options.signal?.aborted) throw new Interrupted();
          await this.tick();
        } catch (err) {
          for (const w of this.waiting.values()) w.reject(err);
          this.waiting.clear();
          return;
        }
        if (this.waiting.size > 0) await this.options.sleep(this.options.pollIntervalMs);
      }
    } finally {
      // In the same step as the last check: a batch added from now on starts a new loop.
      this.loop = undefined;
    }
  }

  /** One look at every waited-on batch: the list pages that reach the oldest, then single lookups for the rest. */
  private async tick(): Promise<void> {
    const oldest = Math.min(...[...this.waiting.values()].map((w) => w.createdAt ?? -Infinity));
    const seen = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await this.listPage(after);
      for (const batch of page.data) {
        if (!this.waiting.has(batch.id)) continue;
        seen.add(batch.id);
        this.settle(batch);
      }
      const last = page.data.at(-1);
      if (!page.has_more || !last || this.unsettled(seen) === 0 || Date.parse(last.created_at) < oldest) break;
      after = last.id;
    }
    for (const [id, w] of [...this.waiting]) {
      if (seen.has(id)) continue;
      try {
        this.calls++;
        const batch = await waitUntilEnded(this.api, id, {
          ...this.options,
          once: true,
          ...(w.createdAt !== undefined ? { createdAt: w.createdAt } : {}),
        });
        this.settle(batch);
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        this.waiting.delete(id);
        w.reject(err);
      }
    }
  }

  /** How many waited-on batches the pages so far have not shown. */
  private unsettled(seen: Set<string>): number {
    let n = 0;
    for (const id of this.waiting.keys()) if (!seen.has(id)) n++;
    return n;
  }

  private settle(batch: MessageBatch): void {
    const w = this.waiting.get(batch.id)!;
    w.onProgress(batch);
    if (batch.processing_status !== 'ended') return;
    this.waiting.delete(batch.id);
    w.resolve(batch);
  }

  private listPage(after: string | undefined) {
    return withRetry(
      async () => {
        this.calls++;
        return await this.api.list({ limit: PAGE, ...(after ? { after_id: after } : {}) });
      },
      (err, attempt) => classifyApiFailure(err, { call: 'list', attempt, now: this.options.now() }),
      this.options.retry,
      this.options.sleep,
    ).catch((err) => {
      if (err instanceof Interrupted) throw err;
      throw classifyApiFailure(err, { call: 'list' }).error('listing batches to poll them');
    });
  }
}
