import { loadConfig } from '../config/config.js';
import { cancelBatch } from '../batches/lifecycle.js';
import { loadRuns, journalPath } from '../pipeline/run-registry.js';
import { Journal } from '../state/journal.js';
import { pendingBatchIds } from '../state/run-view.js';
import { configError } from '../errors.js';
import { openApiTarget } from './api-target.js';

export interface CancelOptions {
  config: string;
  run?: string;
}

/**
 * `cancel`: stops a run on purpose. Its batches still at the API are cancelled (requests already answered
 * keep their results, which are paid for), and the journal records the cancel, so the next `write`
 * collects what finished, writes unsent requests as rows with status canceled, and resubmits nothing.
 */
export async function cancelCommand(options: CancelOptions, out: NodeJS.WritableStream = process.stdout): Promise<string[]> {
  const config = await loadConfig(options.config);
  const runs = loadRuns(config.destination_path).filter((r) => !r.view.completed && (!options.run || r.view.runId === options.run));
  if (options.run && runs.length === 0) throw configError('RUN_NOT_FOUND', `no unfinished run ${options.run} in ${config.destination_path}`);
  const cancelled: string[] = [];
  const api = runs.length ? await openApiTarget(config) : undefined;
  try {
    for (const run of runs) {
      const ids = pendingBatchIds(run.view).map((p) => p.batchId);
      for (const id of ids) {
        const batch = await cancelBatch(api!.client, id);
        out.write(`run ${run.view.runId}: batch ${id} ${batch ? batch.processing_status : 'had already ended'}\n`);
        cancelled.push(id);
      }
      const journal = new Journal(journalPath(run.dir));
      journal.append({ type: 'cancel_requested', batch_ids: ids, at: new Date().toISOString() });
      journal.close();
      out.write(`run ${run.view.runId}: cancel recorded; the next write collects its finished results and resubmits nothing\n`);
    }
    if (runs.length === 0) out.write(`no unfinished runs in ${config.destination_path}\n`);
  } finally {
    await api?.close();
  }
  return cancelled;
}
