/**
 * The emulator's API clock. With a `factor`, API time runs that many times faster than the wall clock (60: a
 * test second is an API minute), so hours-long batches, retry-after waits and the 24 h expiry pass in test
 * seconds; every timestamp the API shows (created_at, expires_at, ended_at) and every limit is in API time.
 * `advance()` jumps it forward on top (a virtual clock for tests that must not depend on timing).
 */
export interface ApiClock {
  now(): number;
  advance(ms: number): void;
  /** API milliseconds per wall millisecond. */
  readonly factor: number;
}

export function apiClock(options: { factor?: number; now?: () => number } = {}): ApiClock {
  const factor = options.factor ?? 1;
  if (!(factor > 0) || !Number.isFinite(factor))
    throw new RangeError(`clock factor must be a positive number, got ${factor}`);
  const wall = options.now ?? Date.now;
  const start = wall();
  let offset = 0;
  return {
    factor,
    // API time starts at the wall clock's now and runs `factor` times faster from there.
    now: () => start + (wall() - start) * factor + offset,
    advance: (ms) => {
      offset += ms;
    },
  };
}
