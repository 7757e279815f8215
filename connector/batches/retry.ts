/** Retry and poll timing as pure functions, with sleep injected so tests can run in virtual time. */

/** Waits `ms`; a sleep may end early once `wake` resolves (a real one does; a virtual one may ignore it). */
export type Sleep = (ms: number, wake?: Promise<void>) => Promise<void>;
/**
 * API time per wall time, for runs against an emulator whose clock is scaled (`emulator --clock-factor`): every
 * wait (poll interval, retry-after, backoff, checkpoint cadence) is divided by it. A benchmark and test knob
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
export function backoffMs(attempt: number, policy: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
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
 * Runs `call` until it succeeds, `decide` says the error is final (returns undefined), or patience runs out.
 * `decide` returns how long to wait (its own hint, e.g. retry-after) or 0 to use the backoff. Waits on errors
 * that `paced` says are the API pacing us (a rate-limit 429) never count against the patience: the API is up
 * and says when to come back, so they can last as long as it asks (a full processing queue, for hours).
 */
export async function withRetry<T>(
  call: (attempt: number) => Promise<T>,
  decide: (err: unknown, attempt: number) => number | undefined,
  policy: RetryPolicy,
  sleep: Sleep = realSleep,
  onRetry?: (err: unknown, waitMs: number, attempt: number) => void,
  paced: (err: unknown) => boolean = () => false,
): Promise<T> {
  let waited = 0;
  let outage = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      const hint = decide(err, attempt);
      if (hint === undefined) throw err;
      const pacing = paced(err);
      // Backoff grows with the failures of an outage; paced waits take the API's word and reset nothing.
      const wait = hint > 0 ? hint : backoffMs(pacing ? Math.min(attempt, 6) : outage, policy);
      if (!pacing && waited + wait > policy.patienceMs) throw err;
      onRetry?.(err, wait, attempt);
      await sleep(wait);
      if (!pacing) {
        waited += wait;
        outage++;
      }
    }
  }
}
