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
