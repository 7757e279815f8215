import type { Sleep } from '../batches/retry.js';

/**
 * Admission control for creates: keeps the account's processing queue full but not overfull. It knows the
 * requests of this process's own batches still processing, an optional cap (`max_queued_requests`), and the
 * refusals it sees: after a create is refused (a full queue answers 429 with retry-after), other creates wait
 * until one of our batches ends, rather than each asking again and being refused; the refused one retries at
 * the API's retry-after or as soon as one of our batches ends, whichever is first. Any create that goes
 * through lifts the learned limit (other connections' batches may have ended meanwhile).
 */
export class QueueAdmission {
  private inFlight = 0;
  /** Our in-flight count when a create was last refused; cleared by the next create that goes through. */
  private learned: number | undefined;
  private changed: { promise: Promise<void>; resolve: () => void } = deferred();
  /** Creates the API refused to pace us (a full queue, a rate limit), and retried, so far. */
  refusals = 0;

  constructor(private readonly maxQueued?: number) {}

  get queued(): number {
    return this.inFlight;
  }

  /**
   * Waits until a batch of `requests` may be created, and counts them in flight from then on (two creates at
   * once must not both take the same room); `ended()` gives them back, also when the create fails. A batch
   * larger than the cap goes alone, when nothing else is in flight.
   */
  async admit(requests: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const cap = Math.min(this.maxQueued ?? Infinity, this.learned ?? Infinity);
      if (this.inFlight === 0 || this.inFlight + requests <= cap || signal?.aborted) break;
      await this.changed.promise;
    }
    this.inFlight += requests;
  }

  /** A create went through: whatever was learned from refusals is stale (other batches may have ended). */
  submitted(): void {
    this.learned = undefined;
    this.wake();
  }

  /** A batch an earlier attempt created, still processing: in the queue, though it teaches nothing about room. */
  resumed(requests: number): void {
    this.inFlight += requests;
  }

  /** One of our batches ended (or was lost): room for more. */
  ended(requests: number): void {
    this.inFlight = Math.max(0, this.inFlight - requests);
    this.wake();
  }

  /**
   * The wait after a create the API refused to pace us (submitBatch's `refusedSleep`; a 5xx or a timeout is
   * an outage, not a refusal, and waits its backoff without it): a refusal teaches the limit, and the wait
   * ends early when one of our batches ends (the queue has room again), so the queue is refilled as soon as
   * it can be.
   */
  refusedSleep(sleep: Sleep, requests: number): Sleep {
    return (ms) => {
      this.refusals++;
      // The queue was full with what we had in flight before this create.
      const before = this.inFlight - requests;
      if (before > 0) this.learned = before;
      return sleep(ms, this.changed.promise);
    };
  }

  private wake(): void {
    const { resolve } = this.changed;
    this.changed = deferred();
    resolve();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
