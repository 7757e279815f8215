import { EmulatedHttpError } from './validate.js';

/**
 * An account's Batches API limits (docs "Rate limits", batch section): requests per minute to all batch
 * endpoints, as a token bucket; requests waiting in the processing queue; and the tier's monthly spend cap.
 * Past the first two the API answers 429 `rate_limit_error` with `retry-after`; past the spend cap, 429 with
 * `error.details.error_code: enforced_spend_limit_reached` and no `retry-after` (it will not pass by waiting).
 * One emulator is one account: every key and every process calling it shares these limits.
 */
export interface LimitOptions {
  /** Calls per minute to the batch endpoints (create, retrieve, list, cancel, delete, results). */
  requestsPerMinute?: number;
  /** The bucket holds this many seconds' worth of calls (default 10): bursts trip it below the per-minute figure. */
  burstSeconds?: number;
  /** Requests of batches still in progress, across the account, above which a create is refused. */
  maxQueuedRequests?: number;
  /** `retry-after` of a queue-full refusal (the real figure is not documented; default 60). */
  queueRetryAfterSeconds?: number;
  /** Spend (USD, estimated from create bodies at Haiku 4.5 batch input price) past which creates are refused. */
  spendCapUsd?: number;
  /** Acceleration limit: a minute may use at most this many times the calls of the minute before (plus 60). */
  accelerationFactor?: number;
}

/** The documented tiers (docs, Jan 2026): RPM to batch endpoints, queue, monthly spend cap. */
export const TIERS: Record<'start' | 'build' | 'scale', LimitOptions> = {
  start: { requestsPerMinute: 1000, maxQueuedRequests: 200_000, spendCapUsd: 500 },
  build: { requestsPerMinute: 2000, maxQueuedRequests: 300_000, spendCapUsd: 1000 },
  scale: { requestsPerMinute: 4000, maxQueuedRequests: 500_000, spendCapUsd: 200_000 },
};

/** A 429 the limits gave, with its headers. */
export class RateLimited extends EmulatedHttpError {
  constructor(
    message: string,
    readonly headers: Record<string, string>,
    details?: Record<string, unknown>,
  ) {
    super(429, 'rate_limit_error', message, details);
  }
}

export interface LimitStats {
  accepted: number;
  refusedRpm: number;
  refusedQueue: number;
  refusedSpend: number;
  refusedAcceleration: number;
  /** Most calls accepted in any 60 s of API time. */
  peakRpm: number;
  peakQueued: number;
  spentUsd: number;
}

const MINUTE = 60_000;
/** Haiku 4.5 batch input price, USD per token; a create's tokens are estimated as body bytes / 4. */
const USD_PER_INPUT_TOKEN = 0.5 / 1e6;

export class AccountLimits {
  private tokens: number;
  private refilledAt: number;
  /** API times of the calls accepted in the last minute, oldest first (at most one minute's worth). */
  private readonly window: number[] = [];
  private windowStart = 0;
  private previousMinute = { start: 0, calls: 0, lastCalls: Infinity };
  /** Requests of creates admitted but not yet stored: concurrent creates must not both see the same room. */
  private reserved = 0;
  private readonly counts: LimitStats = {
    accepted: 0,
    refusedRpm: 0,
    refusedQueue: 0,
    refusedSpend: 0,
    refusedAcceleration: 0,
    peakRpm: 0,
    peakQueued: 0,
    spentUsd: 0,
  };

  constructor(
    private readonly options: LimitOptions,
    private readonly now: () => number,
  ) {
    this.tokens = this.capacity;
    this.refilledAt = now();
  }

  private get capacity(): number {
    const rpm = this.options.requestsPerMinute ?? Infinity;
    return Math.max(1, (rpm * (this.options.burstSeconds ?? 10)) / 60);
  }

  /** Takes one call from the bucket, or refuses it with the seconds until a token is back. */
  takeCall(): void {
    const rpm = this.options.requestsPerMinute;
    const now = this.now();
    if (rpm !== undefined) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * rpm) / MINUTE);
      this.refilledAt = now;
      if (this.tokens < 1) {
        this.counts.refusedRpm++;
        const seconds = Math.max(1, Math.ceil(((1 - this.tokens) * 60) / rpm));
        throw new RateLimited(
          'Number of requests has exceeded your per-minute rate limit for the Message Batches API',
          { 'retry-after': String(seconds) },
        );
      }
    }
    this.accelerate(now);
    if (rpm !== undefined) this.tokens -= 1;
    this.counts.accepted++;
    this.window.push(now);
    while (this.windowStart < this.window.length && this.window[this.windowStart]! <= now - MINUTE) this.windowStart++;
    if (this.windowStart > 4096) {
      this.window.splice(0, this.windowStart);
      this.windowStart = 0;
    }
    this.counts.peakRpm = Math.max(this.counts.peakRpm, this.window.length - this.windowStart);
  }

  /** Acceleration limit (optional): a sharp rise in calls from one minute to the next is refused for a while. */
  private accelerate(now: number): void {
    const factor = this.options.accelerationFactor;
    if (factor === undefined) return;
    const m = this.previousMinute;
    if (now - m.start >= MINUTE) {
      m.lastCalls = now - m.start < 2 * MINUTE ? m.calls : 0;
      m.start = now - ((now - m.start) % MINUTE);
      m.calls = 0;
    }
    if (m.calls + 1 > m.lastCalls * factor + 60) {
      this.counts.refusedAcceleration++;
      throw new RateLimited('Your usage is increasing too quickly; please ramp up gradually', {
        'retry-after': String(Math.max(1, Math.ceil((m.start + MINUTE - now) / 1000))),
      });
    }
    m.calls++;
  }

  /**
   * A create of `requests` (body of `bytes`) with `queued` requests already waiting: the spend cap, then the
   * queue. Admitted requests are reserved until `created()`, when the store counts them.
   */
  admitCreate(requests: number, bytes: number, queuedNow: number): void {
    const queued = queuedNow + this.reserved;
    const cap = this.options.spendCapUsd;
    if (cap !== undefined && this.counts.spentUsd >= cap) {
      this.counts.refusedSpend++;
      // No retry-after: the cap holds until the next month.
      throw new RateLimited(
        'You have reached your monthly spend limit for this usage tier; it resets at the start of next month.',
        {},
        { error_code: 'enforced_spend_limit_reached' },
      );
    }
    const max = this.options.maxQueuedRequests;
    if (max !== undefined && queued + requests > max) {
      this.counts.refusedQueue++;
      const seconds = this.options.queueRetryAfterSeconds ?? 60;
      throw new RateLimited(
        `Number of batch requests in the processing queue would exceed your limit of ${max}; ${queued} are queued`,
        { 'retry-after': String(seconds) },
      );
    }
    this.counts.spentUsd += (bytes / 4) * USD_PER_INPUT_TOKEN;
    this.counts.peakQueued = Math.max(this.counts.peakQueued, queued + requests);
    this.reserved += requests;
  }

  /** An admitted create is stored (or failed): its requests are the store's to count now. */
  created(requests: number): void {
    this.reserved -= requests;
  }

  stats(): LimitStats {
    return { ...this.counts };
  }
}
