/** Retry and poll timing as pure functions, with sleep injected so tests can run in virtual time. */
import type { ApiFailure } from './api-failure.js';

/** Waits `ms`; a sleep may end early once `wake` resolves (a real one does; a virtual one may ignore it). */
export type Sleep = (ms: number, wake?: Promise<void>) => Promise<void>;
/**
 * API time per wall time, for runs against an emulator whose clock is scaled (`emulator --clock-factor`): every
 * wait (poll interval, retry-after, backoff, checkpoint and progress cadence) is divided by it. A benchmark and test knob
 * (CLAUDE_BATCH_TIME_SCALE); 1 on real syncs.
 */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const scale = Number(env.CLAUDE_BATCH_TIME_SCALE ?? 1);
  return Number.isFinite(scale) && scale > 0 ? scale : 1;
}

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Capped exponential backoff with "full jitter" between 50% and 100% of the step, so many connectors
 * retrying after the same outage do not hit the API in lockstep.
 * @example backoffMs(3, { baseMs: 1000, capMs: 60000 }, () => 1) // 8000
 */
export function backoffMs(
  attempt: number,
  policy: { baseMs: number; capMs: number },
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
  return Math.round(step * (0.5 + random() / 2));
}

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
  /** Give up once this much time has been spent waiting (the "patience" for an outage). */
  patienceMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, capMs: 60_000, patienceMs: 30 * 60_000 };

/**
 * Runs `call` until it succeeds, `classify` says to stop (any action but retry, pace or reconcile: the error
 * is rethrown as it was), or patience runs out. A wait is the API's (`waitMs`, from retry-after) or else the
 * backoff. Paced waits (a rate-limit 429) never count against the patience: the API is up and says when to
 * come back, so they can last as long as it asks (a full processing queue, for hours).
 */
export async function withRetry<T>(
  call: (attempt: number) => Promise<T>,
  classify: (err: unknown, attempt: number) => ApiFailure,
  policy: RetryPolicy,
  sleep: Sleep = realSleep,
  onRetry?: (err: unknown, waitMs: number, failure: ApiFailure) => void,
): Promise<T> {
  let waited = 0;
  let outage = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      const failure = classify(err, attempt);
      if (failure.action !== 'retry' && failure.action !== 'pace' && failure.action !== 'reconcile') throw err;
      const pacing = failure.action === 'pace';
      // Backoff grows with the failures of an outage; paced waits take the API's word and reset nothing.
      const wait = failure.waitMs ?? backoffMs(pacing ? Math.min(attempt, 6) : outage, policy);
      if (!pacing && waited + wait > policy.patienceMs) throw err;
      onRetry?.(err, wait, failure);
      await sleep(wait);
      if (!pacing) {
        waited += wait;
        outage++;
      }
    }
  }
}
