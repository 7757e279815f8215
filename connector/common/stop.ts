/**
 * The stop request of a `write` (SIGTERM/SIGINT: how a platform cancels a sync). The handlers are installed
 * by the entry point before any other module is loaded: loading the rest takes from a few hundred ms to
 * seconds on a loaded machine, and a signal in that window would otherwise kill the process by its default
 * action, with no TRACE. A signal that came early is seen by writeCommand as an already aborted stop.
 */
export const stopRequest = new AbortController();
export let stopSignal: NodeJS.Signals | undefined;

export function installStopHandlers(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopSignal ??= signal;
      stopRequest.abort();
    });
  }
  // A test hook (like CLAUDE_BATCH_FAILPOINT): says on stderr when a signal can no longer kill the process.
  if (process.env.CLAUDE_BATCH_STOP_PROBE) process.stderr.write('stop handlers installed\n');
}

/**
 * A wait that ends early: `wait` (milliseconds on a timer, or a promise) settles, or `signal` aborts (a stop
 * request), or `wake` resolves, whichever comes first. An early end resolves quietly and clears the timer, so
 * a long wait never holds a stopping process; a rejected `wait` rejects.
 */
export function waitUnlessStopped(
  wait: number | Promise<void>,
  signal: AbortSignal | undefined,
  wake?: Promise<void>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = typeof wait === 'number' ? setTimeout(done, wait) : undefined;
    if (typeof wait !== 'number') wait.then(done, reject);
    signal?.addEventListener('abort', done, { once: true });
    void wake?.then(done);
  });
}
