import { hostname } from 'node:os';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { loadConfig } from '../config/config.js';
import { controlOf, loadRuns, type KnownRun } from '../pipeline/run-registry.js';
import { phaseOf, pendingBatchIds } from '../journal/run-view.js';
import type { ControlState } from '../journal/control.js';
import { classifyApiFailure } from '../batches/api-failure.js';
import type { BatchesApi } from '../ports/batches-api.js';
import { usingBatchesApi } from './api-target.js';

export interface StatusOptions {
  config: string;
  run?: string;
  json?: boolean;
}

interface BatchReport {
  seq: number;
  round: number;
  batch_id: string;
  age_seconds: number | null;
  api?: { processing_status: string; request_counts: MessageBatch['request_counts'] } | { error: string };
}

export interface RunReport {
  run_id: string;
  phase: string;
  started_at: string;
  attempts: number;
  records: number;
  batches_sealed: number;
  batches_written: number;
  pending: BatchReport[];
  manifest?: unknown;
}

async function reportOf(run: KnownRun, control: ControlState, now: number): Promise<RunReport> {
  const view = run.view;
  const seqs = [...view.seqs.values()];
  const manifest = await control.readRunFile(run.dir, 'manifest.json');
  return {
    run_id: view.runId,
    phase: phaseOf(view) + (view.cancelRequested && !view.completed ? ' (cancel requested)' : ''),
    started_at: view.startedAt,
    attempts: view.attempts,
    records: view.records,
    batches_sealed: seqs.length,
    batches_written: seqs.filter((s) => s.finalised).length,
    pending: pendingBatchIds(view).map((p) => ({
      seq: p.seq,
      round: p.round,
      batch_id: p.batchId,
      age_seconds: p.submittedAt ? Math.round((now - Date.parse(p.submittedAt)) / 1000) : null,
    })),
    ...(manifest ? { manifest: JSON.parse(manifest.toString('utf8')) as unknown } : {}),
  };
}

/** What `status` reads besides the config (tests): the Batches API, and the clock ages are measured by. */
export interface StatusDeps {
  api?: BatchesApi;
  now?: () => number;
}

/** What the API says about each pending batch now; a failed lookup is reported, never fatal. */
async function lookUp(api: BatchesApi, batches: BatchReport[], now: () => number): Promise<void> {
  for (const batch of batches) {
    try {
      const b = await api.retrieve(batch.batch_id);
      batch.api = { processing_status: b.processing_status, request_counts: b.request_counts };
    } catch (err) {
      const failure = classifyApiFailure(err, { call: 'retrieve', now: now() });
      batch.api = { error: failure.error(`looking up batch ${batch.batch_id}`).message };
    }
  }
}

/**
 * `status`: a destination's runs from their journals — phase, batches written, batches still at the API
 * with their age — and, for pending batches, what the API says about them now.
 */
export async function statusCommand(
  options: StatusOptions,
  out: NodeJS.WritableStream = process.stdout,
  deps: StatusDeps = {},
): Promise<RunReport[]> {
  const config = await loadConfig(options.config);
  const now = deps.now ?? Date.now;
  const control = controlOf(config);
  const runs = (await loadRuns(control)).filter((r) => !options.run || r.view.runId === options.run);
  const at = now();
  const reports: RunReport[] = [];
  for (const r of runs) reports.push(await reportOf(r, control, at));
  // The newest unfinished, non-detached run is being written now if the destination's lock (a file, or the
  // lease on a bucket) has a live holder; otherwise it was interrupted.
  const writer = await control.writer(at);
  if (writer !== undefined) {
    const live = [...reports].reverse().find((r) => r.phase === 'interrupted');
    const where = writer.host === hostname() && !control.remote ? '' : `host ${writer.host}, `;
    if (live) live.phase = `running (${where}pid ${writer.pid})`;
  }
  const pending = reports.flatMap((r) => r.pending);
  if (pending.length > 0) await usingBatchesApi(config, deps.api, (api) => lookUp(api, pending, now));
  if (options.json) {
    out.write(JSON.stringify(reports, null, 2) + '\n');
    return reports;
  }
  if (reports.length === 0) out.write(`no runs in ${config.destination_path}\n`);
  for (const r of reports) {
    out.write(
      `run ${r.run_id}: ${r.phase}, started ${r.started_at}, ${r.attempts} attempt(s), ${r.records} records, ${r.batches_written}/${r.batches_sealed} batches written\n`,
    );
    for (const p of r.pending) {
      const api = !p.api
        ? ''
        : 'error' in p.api
          ? ` (API: ${p.api.error})`
          : ` (API: ${p.api.processing_status} ${JSON.stringify(p.api.request_counts)})`;
      out.write(
        `  batch #${p.seq}${p.round ? ` round ${p.round}` : ''} ${p.batch_id}, submitted ${p.age_seconds ?? '?'} s ago${api}\n`,
      );
    }
    const m = r.manifest as { rows_out?: number; tokens?: { input: number; output: number } } | undefined;
    if (m) out.write(`  manifest: ${m.rows_out} rows, tokens ${m.tokens?.input} in / ${m.tokens?.output} out\n`);
  }
  return reports;
}
