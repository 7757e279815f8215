import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type ConnectorConfig } from '../config/config.js';
import { cancelBatch } from '../batches/lifecycle.js';
import type { BatchesApi } from '../ports/batches-api.js';
import { controlOf, loadRuns } from '../pipeline/run-registry.js';
import type { ControlState } from '../journal/control.js';
import type { WriteLock } from '../journal/lease.js';
import { pendingBatchIds } from '../journal/run-view.js';
import { ConnectorError, configError } from '../common/errors.js';
import { CONTROL_DIR } from '../sinks/layout.js';
import { usingBatchesApi } from './api-target.js';

export interface CancelOptions {
  config: string;
  run?: string;
}

/** What `cancel` uses besides the config (tests): the Batches API port, and the clock the journal is stamped by. */
export interface CancelDeps {
  api?: BatchesApi;
  now?: () => number;
}

/**
 * `cancel`: stops a run on purpose. Its batches still at the API are cancelled (requests already answered
 * keep their results, which are paid for), and the journal records the cancel, so the next `write`
 * collects what finished, writes unsent requests as rows with status canceled, and resubmits nothing.
 * It takes the destination's write lock: a write still running would never see the cancel and would
 * resubmit the canceled requests, so that write has to be stopped first.
 */
export async function cancelCommand(
  options: CancelOptions,
  out: NodeJS.WritableStream = process.stdout,
  deps: CancelDeps = {},
): Promise<string[]> {
  const config = await loadConfig(options.config);
  const control = controlOf(config);
  let lock: WriteLock | undefined;
  try {
    lock = control.remote || existsSync(join(config.destination_path, CONTROL_DIR)) ? await control.lock() : undefined;
  } catch (err) {
    if (!(err instanceof ConnectorError) || err.code !== 'DESTINATION_BUSY') throw err;
    throw configError(
      'DESTINATION_BUSY',
      `cannot cancel now: ${err.message}. A running write would resubmit what is cancelled under it; stop it first (SIGTERM), then cancel`,
    );
  }
  try {
    return await cancelRuns(options, config, control, out, deps);
  } finally {
    await lock?.release();
  }
}

async function cancelRuns(
  options: CancelOptions,
  config: ConnectorConfig,
  control: ControlState,
  out: NodeJS.WritableStream,
  deps: CancelDeps,
): Promise<string[]> {
  const runs = (await loadRuns(control)).filter(
    (r) => !r.view.completed && (!options.run || r.view.runId === options.run),
  );
  if (options.run && runs.length === 0)
    throw configError('RUN_NOT_FOUND', `no unfinished run ${options.run} in ${config.destination_path}`);
  if (runs.length === 0) {
    out.write(`no unfinished runs in ${config.destination_path}\n`);
    return [];
  }
  const now = deps.now ?? Date.now;
  const cancelled: string[] = [];
  await usingBatchesApi(config, deps.api, async (api) => {
    for (const run of runs) {
      const ids = pendingBatchIds(run.view).map((p) => p.batchId);
      for (const id of ids) {
        const batch = await cancelBatch(api, id);
        out.write(`run ${run.view.runId}: batch ${id} ${batch ? batch.processing_status : 'had already ended'}\n`);
        cancelled.push(id);
      }
      const journal = await control.openJournal(run.dir);
      await journal.append({ type: 'cancel_requested', batch_ids: ids, at: new Date(now()).toISOString() });
      journal.close();
      out.write(
        `run ${run.view.runId}: cancel recorded; the next write collects its finished results and resubmits nothing\n`,
      );
    }
  });
  return cancelled;
}
