/** Waits `ms`; a sleep may end early once `wake` resolves (a real one does; a virtual one may ignore it). */
export type ClockSleep = (ms: number, wake?: Promise<void>) => Promise<void>;

/**
 * Time as the core sees it: what time it is, how to wait, and a periodic tick. The real clock is
 * systemClock(); tests drive a manual one (test/pipeline/fakes.ts), so no test waits on wall time.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep: ClockSleep;
  /** Calls `tick` every `ms` until the returned function is called; never keeps the process alive. */
  every(ms: number, tick: () => void): () => void;
}

/**
 * The wall clock. `sleep` is the caller's (the write command's stops early on SIGTERM); `scale` divides
 * periodic ticks, for runs against an emulator whose clock runs faster (see batches/retry.ts timeScale).
 */
export function systemClock(sleep: ClockSleep, scale = 1): Clock {
  return {
    now: () => Date.now(),
    sleep,
    every(ms, tick) {
      const timer = setInterval(tick, ms / scale);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
