import type { Readable } from 'node:stream';
import { loadCatalog } from '../config/catalog.js';
import { loadConfig, readJsonFile } from '../config/config.js';
import type { MessageWriter } from '../protocol/writer.js';
import { realSleep, DEFAULT_RETRY, timeScale, type Sleep } from '../batches/retry.js';
import { RequestBuilder } from '../requests/build.js';
import { WriteRun, type WriteOutcome } from '../pipeline/write-run.js';
import { sdkBatchesApi } from '../ports/sdk-batches-api.js';
import { systemClock } from '../ports/clock.js';
import { RUN_STATE_STREAM } from '../pipeline/open-batch.js';
import { controlOf, loadRuns } from '../pipeline/run-registry.js';
import { openApiTarget } from './api-target.js';
import { assertDestinationUsable } from './destination-check.js';
import { type ConnectorError, transientError } from '../common/errors.js';
import { stopRequest, stopSignal, waitUnlessStopped } from '../common/stop.js';

export interface WriteCommandOptions {
  config: string;
  catalog: string;
  state?: string;
}

/** The run ids our own STATE (stream _claude_batch_run) names in a state file handed back by the platform. */
function runIdsInState(state: unknown): string[] {
  const messages = Array.isArray(state) ? state : [state];
  const ids: string[] = [];
  for (const m of messages) {
    const s = (m as { stream?: { stream_descriptor?: { name?: string }; stream_state?: { run_id?: unknown } } })
      ?.stream;
    if (s?.stream_descriptor?.name === RUN_STATE_STREAM && typeof s.stream_state?.run_id === 'string')
      ids.push(s.stream_state.run_id);
  }
  return ids;
}

/**
 * `write`: everything that can be checked before reading stdin is checked first (config, templates,
 * catalog, destination), so a bad setup fails before any money is spent. SIGTERM/SIGINT (how a platform
 * cancels a sync) stop the run cleanly: what is complete is flushed and the journal stays resumable.
 */
export async function writeCommand(
  options: WriteCommandOptions,
  input: Readable,
  writer: MessageWriter,
  sleep: Sleep = realSleep,
): Promise<WriteOutcome> {
  // First of all: a stop may already have been requested while the process was starting (see stop.ts).
  const stop = new AbortController();
  const onStop = () => {
    if (stop.signal.aborted) return;
    void writer.log(
      'WARN',
      `${stopSignal ?? 'stop'} received: finishing what is complete, then stopping; the next write resumes this run`,
    );
    stop.abort();
  };
  if (stopRequest.signal.aborted) onStop();
  else stopRequest.signal.addEventListener('abort', onStop, { once: true });
  try {
    return await writeStoppable(options, input, writer, sleep, stop.signal, onStop);
  } finally {
    stopRequest.signal.removeEventListener('abort', onStop);
  }
}

/** Interrupted before anything was submitted: a transient error, resumable by just running again. */
function stoppedEarly(): ConnectorError {
  return transientError(
    'INTERRUPTED',
    'stopped on request before the run started; this attempt submitted nothing, and the next write goes on from where the destination stands',
  );
}

async function writeStoppable(
  options: WriteCommandOptions,
  input: Readable,
  writer: MessageWriter,
  sleep: Sleep,
  stopping: AbortSignal,
  onStop: () => void,
): Promise<WriteOutcome> {
  const config = await loadConfig(options.config);
  if (config.sink !== 'parquet') writer.divertDiagnostics(process.stderr);
  new RequestBuilder(config);
  const catalog = await loadCatalog(options.catalog);
  const state = options.state ? await readJsonFile(options.state, 'state') : undefined;
  await assertDestinationUsable(config);
  const known = new Set((await loadRuns(controlOf(config))).map((r) => r.view.runId));
  for (const id of runIdsInState(state)) {
    if (!known.has(id)) {
      await writer.log(
        'WARN',
        `the state names run ${id}, but ${config.destination_path} has no journal for it; its batches cannot be joined to records here (was the destination moved or wiped?)`,
      );
    }
  }
  if (stopping.aborted) throw stoppedEarly();
  const api = await openApiTarget(config);
  // In-process callers (tests) have no entry point that installed the handlers: listen here as well.
  const onSignal = () => onStop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    if (stopping.aborted) throw stoppedEarly();
    const run = new WriteRun({
      config,
      catalog,
      api: sdkBatchesApi(api.client),
      input,
      writer,
      signal: stopping,
      clock: systemClock(abortableSleep(sleep, stopping), timeScale()),
      lifecycle: { pollIntervalMs: config.poll_interval_seconds * 1000, retry: DEFAULT_RETRY },
    });
    const outcome = await run.run();
    const m = outcome.manifest;
    if (m) {
      const statuses = m.streams
        .map((s) => `${s.namespace ? `${s.namespace}.` : ''}${s.stream}: ${s.rows} rows ${JSON.stringify(s.by_status)}`)
        .join('; ');
      const cost = m.cost.priced
        ? `; estimated cost $${m.cost.batch_usd} at batch prices ($${m.cost.sync_usd} synchronously) for ${m.cost.billed_requests} requests, $${m.cost.saved_by_cache_usd} saved by ${m.cost.cached_rows} cached rows`
        : '';
      await writer.log(
        'INFO',
        `run ${m.run_id} complete: ${m.records_in} records in, ${m.rows_out} rows out in ${m.batches.filter((b) => b.batch_id).length} batches; ${statuses}${cost}`,
      );
    }
    return outcome;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await api.close();
  }
}

/**
 * A sleep that ends early when the run is stopping (a 30 s poll interval never delays a SIGTERM) or when its
 * `wake` promise resolves (a create waiting out a full queue, when one of our batches ends).
 */
function abortableSleep(sleep: Sleep, signal: AbortSignal, scale = timeScale()): Sleep {
  if (sleep !== realSleep) return sleep;
  return (ms, wake) => waitUnlessStopped(ms / scale, signal, wake);
}
