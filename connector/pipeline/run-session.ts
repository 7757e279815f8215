import { readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { summariseStreams, type RunManifest } from '../sinks/manifest.js';
import { writeJsonAtomic } from '../common/durable.js';
import { CONTROL_DIR, runControlDir } from '../sinks/layout.js';
import type { RunJournal, WaitMode } from '../journal/journal.js';
import type { ControlState } from '../journal/control.js';
import { foldJournal, type RunView } from '../journal/run-view.js';
import { DEFAULT_PRICES, priceFor, type PriceTable } from '../cost/prices.js';
import { costOf } from '../cost/estimate.js';
import type { StreamTally } from '../types/shared.js';

/** Estimated cost of a run from the usage it was billed (each request once), against the same work sent synchronously. */
function costSummary(tallies: StreamTally[], model: string, prices: PriceTable): RunManifest['cost'] {
  const sum = (
    pick: (
      t: StreamTally,
    ) => { requests: number; input: number; output: number; cacheRead: number; cacheWrite: number } | undefined,
  ) =>
    tallies.reduce(
      (acc, t) => {
        const u = pick(t);
        if (u) for (const k of ['requests', 'input', 'output', 'cacheRead', 'cacheWrite'] as const) acc[k] += u[k];
        return acc;
      },
      { requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    );
  const billed = sum((t) => t.billed);
  const cached = sum((t) => t.cachedUsage);
  if (!priceFor(model, prices))
    return {
      priced: false,
      billed_requests: billed.requests,
      cached_rows: cached.requests,
      batch_usd: null,
      sync_usd: null,
      saved_by_cache_usd: null,
    };
  const usd = (u: typeof billed, batch: boolean) => Math.round(costOf(u, model, { batch }, prices) * 1e6) / 1e6;
  return {
    priced: true,
    billed_requests: billed.requests,
    cached_rows: cached.requests,
    batch_usd: usd(billed, true),
    sync_usd: usd(billed, false),
    saved_by_cache_usd: usd(cached, true),
  };
}

/**
 * One run's control folder and journal, opened fresh or re-opened for resume or collection. `runDir` is the
 * run's folder in the control state's working folder (the destination's own for a local destination); the
 * journal lives where the control state keeps it (see ControlState).
 */
export class RunSession {
  private constructor(
    readonly control: ControlState,
    readonly runDir: string,
    readonly journal: RunJournal,
    readonly view: RunView,
  ) {}

  /** Makes a finished file of this run's working folder durable on the destination (see ControlState.save). */
  readonly save = (path: string): Promise<void> => this.control.save(path);

  get runId(): string {
    return this.view.runId;
  }

  /** Opens a new run; `at` (ISO, the run's clock) is its start time in the journal and the manifest. */
  static async create(
    control: ControlState,
    runId: string,
    fingerprints: { config: string; request: string },
    wait: WaitMode,
    at: string,
  ): Promise<RunSession> {
    const runDir = runControlDir(control.workRoot, runId);
    const journal = await control.openJournal(runDir);
    const started = {
      type: 'run_started',
      run_id: runId,
      config_fingerprint: fingerprints.config,
      request_fingerprint: fingerprints.request,
      wait,
      at,
    } as const;
    await journal.append(started);
    return new RunSession(control, runDir, journal, foldJournal([started])!);
  }

  /**
   * Re-opens a run for resume or collection: its spool files this working folder lacks (a new pod) are
   * fetched from the Store first.
   */
  static async reopen(control: ControlState, runDir: string, view: RunView): Promise<RunSession> {
    const journal = await control.openJournal(runDir);
    await control.fetchSpool(runDir, view.seqs.keys());
    return new RunSession(control, runDir, journal, view);
  }

  get unfinalised(): number[] {
    return [...this.view.seqs.values()].filter((s) => !s.finalised).map((s) => s.seq);
  }

  get nextSeq(): number {
    return Math.max(-1, ...this.view.seqs.keys()) + 1;
  }

  /** Removes what a killed attempt left half-done: unsealed spool folders and temp files beside outputs. */
  cleanLeftovers(): void {
    const destination = this.control.workRoot;
    const spool = join(this.runDir, 'spool');
    try {
      for (const name of readdirSync(spool)) {
        const seq = Number(/^batch-(\d+)$/.exec(name)?.[1] ?? NaN);
        if (!this.view.seqs.has(seq)) rmSync(join(spool, name), { recursive: true, force: true });
      }
    } catch {
      // no spool yet
    }
    const partition = `run_id=${this.runId}`;
    const walk = (dir: string, depth: number): void => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory() || e.name === CONTROL_DIR) continue;
        const path = join(dir, e.name);
        if (e.name === partition) {
          for (const f of readdirSync(path))
            if (f.startsWith('.') && f.endsWith('.tmp')) rmSync(join(path, f), { force: true });
        } else if (depth < 2) walk(path, depth + 1);
      }
    };
    walk(destination, 0);
  }

  manifest(model: string, startedAt: string, finishedAt: string, prices: PriceTable = DEFAULT_PRICES): RunManifest {
    const seqs = [...this.view.seqs.values()].sort((a, b) => a.seq - b.seq);
    const tallies = seqs.flatMap((s) => s.tallies);
    return {
      run_id: this.runId,
      started_at: startedAt,
      finished_at: finishedAt,
      model,
      config_fingerprint: this.view.configFingerprint,
      records_in: this.view.records,
      rows_out: tallies.reduce((n, t) => n + t.rows, 0),
      streams: summariseStreams(tallies),
      batches: seqs.map((s) => ({
        seq: s.seq,
        batch_id: s.rounds[0]?.batchId ?? '',
        batch_ids: s.rounds.map((r) => r.batchId ?? null),
        records: s.records,
        requests: s.requests,
        counts: s.rounds[0]?.counts ?? {},
        resubmitted: s.rounds.slice(1).reduce((n, r) => n + r.requests, 0),
      })),
      tokens: {
        input: tallies.reduce((n, t) => n + t.inputTokens, 0),
        output: tallies.reduce((n, t) => n + t.outputTokens, 0),
        cache_read: tallies.reduce((n, t) => n + (t.cacheReadTokens ?? 0), 0),
        cache_write: tallies.reduce((n, t) => n + (t.cacheWriteTokens ?? 0), 0),
      },
      cost: costSummary(tallies, model, prices),
      duration_seconds: Math.round((Date.parse(finishedAt) - Date.parse(startedAt)) / 100) / 10,
      attempts: this.view.attempts,
    };
  }

  /**
   * Writes the manifest, marks the run complete and drops its spool. For an object-store destination the
   * manifest is saved in the store (`_claude_batch/runs/<run>/manifest.json`, ControlState.save), after every
   * Parquet file of the run is published: the run's commit marker, as its folder's manifest is on disk.
   * `finishedAt` is the run's clock's now (ISO), as every time the journal records.
   */
  async complete(model: string, finishedAt: string, prices: PriceTable = DEFAULT_PRICES): Promise<RunManifest> {
    const manifest = this.manifest(model, this.view.startedAt, finishedAt, prices);
    await writeJsonAtomic(join(this.runDir, 'manifest.json'), manifest);
    await this.save(join(this.runDir, 'manifest.json'));
    await this.journal.append({ type: 'run_completed', at: manifest.finished_at, records: this.view.records });
    this.view.completed = true;
    await this.control.completeRun(this.runDir);
    await rm(join(this.runDir, 'spool'), { recursive: true, force: true });
    return manifest;
  }

  close(): void {
    this.journal.close();
  }
}
