import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { loadConfig } from '../config/config.js';
import { controlOf, loadRuns } from '../pipeline/run-registry.js';
import { phaseOf, pendingBatchIds, type RunView } from '../journal/run-view.js';
import { redact } from '../common/errors.js';
import { CONTROL_DIR } from '../sinks/layout.js';

function liveLockOwner(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
import { openApiTarget } from './api-target.js';

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

function reportOf(view: RunView, dir: string): RunReport {
  const seqs = [...view.seqs.values()];
  const manifestPath = join(dir, 'manifest.json');
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
      age_seconds: p.submittedAt ? Math.round((Date.now() - Date.parse(p.submittedAt)) / 1000) : null,
    })),
    ...(existsSync(manifestPath) ? { manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) } : {}),
  };
}

/**
 * `status`: a destination's runs from their journals — phase, batches written, batches still at the API
 * with their age — and, for pending batches, what the API says about them now.
 */
export async function statusCommand(
  options: StatusOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<RunReport[]> {
  const config = await loadConfig(options.config);
  const runs = (await loadRuns(controlOf(config))).filter((r) => !options.run || r.view.runId === options.run);
  const reports = runs.map((r) => reportOf(r.view, r.dir));
  // An unfinished, non-detached run whose destination lock is held by a live process is being written now.
  const writer = liveLockOwner(join(config.destination_path, CONTROL_DIR, 'write.lock'));
  if (writer !== undefined) {
    const live = [...reports].reverse().find((r) => r.phase === 'interrupted');
    if (live) live.phase = `running (pid ${writer})`;
  }
  if (reports.some((r) => r.pending.length > 0)) {
    const api = await openApiTarget(config);
    try {
      for (const batch of reports.flatMap((r) => r.pending)) {
        try {
          const b = await api.client.messages.batches.retrieve(batch.batch_id, {}, { maxRetries: 1 });
          batch.api = { processing_status: b.processing_status, request_counts: b.request_counts };
        } catch (err) {
          batch.api = { error: redact((err as Error).message) };
        }
      }
    } finally {
      await api.close();
    }
  }
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
