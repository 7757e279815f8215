import type { ControlState } from '../journal/control.js';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Catalog, ConfiguredStream } from '../config/catalog.js';
import type { RunManifest } from '../sinks/manifest.js';
import { manifestKey, partitionDir, partitionKey, PARTITION_KEY, runControlDir } from '../sinks/layout.js';
import type { Store } from '../storage/store.js';
import type { LocalStore } from '../storage/local-store.js';
import { loadRuns } from './run-registry.js';

/** An older run's manifest, or undefined if it cannot be read. */
function readManifest(destination: string, runId: string): RunManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(runControlDir(destination, runId), 'manifest.json'), 'utf8')) as RunManifest;
  } catch {
    return undefined;
  }
}

/** An older run's manifest in an object store, or undefined if there is none or it cannot be parsed. */
async function readStoredManifest(store: Store, runId: string): Promise<RunManifest | undefined> {
  const bytes = await store.get(manifestKey(runId));
  try {
    return bytes ? (JSON.parse(bytes.toString('utf8')) as RunManifest) : undefined;
  } catch {
    return undefined;
  }
}

/** The generation an older run wrote a stream under, from its manifest; undefined if it does not say. */
function generationOf(manifest: RunManifest | undefined, stream: ConfiguredStream): number | undefined {
  return manifest?.streams.find((s) => s.stream === stream.name && (s.namespace ?? null) === stream.namespace)
    ?.generation_id;
}

/**
 * Whether an older complete run's partition of a stream goes once this run is complete.
 *
 * With a minimum_generation_id (the platform's refreshes and overwrites), data of lower generations goes and
 * data of this generation stays, whatever the sync mode: an earlier attempt of the same sync wrote part of it,
 * and the source resumed after that part. A run that does not say its generation (written before runs
 * recorded it) goes only under overwrite. Without a minimum (pipes), overwrite keeps only the newest run.
 */
function supersedes(stream: ConfiguredStream, olderGeneration: number | undefined): boolean {
  if (stream.minimumGenerationId > 0) {
    return olderGeneration === undefined
      ? stream.destinationSyncMode === 'overwrite'
      : olderGeneration < stream.minimumGenerationId;
  }
  return stream.destinationSyncMode === 'overwrite';
}

/**
 * Once a run is complete, removes the partitions its streams supersede (see supersedes): for `overwrite` the
 * stream's folder then holds the newest complete run (of the current generation, when the platform gives
 * generations). Until then readers see both and can select the newest complete run from
 * `_claude_batch/runs/*\/manifest.json` (or the highest run_id, which sorts by time). Partitions of runs
 * still unfinished (a detached run still collecting) are left alone.
 */
export async function pruneOverwrittenRuns(
  store: Store,
  catalog: Catalog,
  currentRunId: string,
  completedRunIds: ReadonlySet<string>,
  /** A stream this run did not get whole (the source failed or said so): its older data stays. */
  partial: (stream: ConfiguredStream) => boolean = () => false,
): Promise<{ removed: string[]; kept: string[] }> {
  if (store.kind === 'object') return pruneStoredRuns(store, catalog, currentRunId, completedRunIds, partial);
  const destination = (store as LocalStore).root;
  const removed: string[] = [];
  const kept: string[] = [];
  // Each older run's manifest is read once, however many of its streams are looked at.
  const manifests = new Map<string, RunManifest | undefined>();
  const manifestOf = (runId: string) => {
    if (!manifests.has(runId)) manifests.set(runId, readManifest(destination, runId));
    return manifests.get(runId);
  };
  for (const stream of catalog.streams) {
    if (stream.destinationSyncMode !== 'overwrite' && stream.minimumGenerationId <= 0) continue;
    if (partial(stream)) {
      kept.push(stream.namespace ? `${stream.namespace}.${stream.name}` : stream.name);
      continue;
    }
    const streamDir = dirname(partitionDir(destination, stream.namespace, stream.name, currentRunId));
    let entries: string[];
    try {
      entries = readdirSync(streamDir);
    } catch {
      continue;
    }
    for (const name of entries) {
      const runId = /^run_id=(.+)$/.exec(name)?.[1];
      if (!runId || runId === currentRunId || runId > currentRunId || !completedRunIds.has(runId)) continue;
      if (!supersedes(stream, generationOf(manifestOf(runId), stream))) continue;
      await rm(`${streamDir}/${name}`, { recursive: true, force: true });
      removed.push(`${streamDir}/${name}`);
    }
  }
  return { removed, kept };
}

/**
 * pruneOverwrittenRuns in an object store, where a partition is only a key prefix: the stream's keys are listed
 * (`<namespace>/<stream>/`, page by page), grouped by their `run_id=` segment, and a superseded run's keys go
 * in DeleteObjects requests of up to 1,000. A run counts as complete when the control state says so or when
 * its manifest (the commit marker, written last) is in the store.
 */
async function pruneStoredRuns(
  store: Store,
  catalog: Catalog,
  currentRunId: string,
  completedRunIds: ReadonlySet<string>,
  partial: (stream: ConfiguredStream) => boolean,
): Promise<{ removed: string[]; kept: string[] }> {
  const removed: string[] = [];
  const kept: string[] = [];
  const manifests = new Map<string, Promise<RunManifest | undefined>>();
  const manifestOf = (runId: string) => {
    if (!manifests.has(runId)) manifests.set(runId, readStoredManifest(store, runId));
    return manifests.get(runId)!;
  };
  for (const stream of catalog.streams) {
    if (stream.destinationSyncMode !== 'overwrite' && stream.minimumGenerationId <= 0) continue;
    if (partial(stream)) {
      kept.push(stream.namespace ? `${stream.namespace}.${stream.name}` : stream.name);
      continue;
    }
    const streamPrefix = `${dirname(partitionKey(stream.namespace, stream.name, currentRunId))}/`;
    const byRun = new Map<string, string[]>();
    for await (const object of store.list(streamPrefix)) {
      const folder = object.key.slice(streamPrefix.length).split('/')[0]!;
      const runId = new RegExp(`^${PARTITION_KEY}=(.+)$`).exec(folder)?.[1];
      if (!runId || runId === currentRunId || runId > currentRunId) continue;
      byRun.set(runId, [...(byRun.get(runId) ?? []), object.key]);
    }
    for (const [runId, keys] of byRun) {
      const manifest = await manifestOf(runId);
      if (!completedRunIds.has(runId) && !manifest) continue;
      if (!supersedes(stream, generationOf(manifest, stream))) continue;
      await store.delete(keys);
      removed.push(`${store.location}/${streamPrefix}${PARTITION_KEY}=${runId}`);
    }
  }
  return { removed, kept };
}

/**
 * Once a run is complete: removes older complete runs' partitions it supersedes (see pruneOverwrittenRuns),
 * except of streams the source did not finish, and says what it removed and kept.
 */
export async function overwriteOlderRuns(
  control: ControlState,
  catalog: Catalog,
  runId: string,
  source: { partial: (stream: ConfiguredStream) => boolean; why: string },
  log: (level: 'INFO' | 'WARN', message: string) => Promise<void>,
): Promise<void> {
  const completed = new Set((await loadRuns(control)).filter((r) => r.view.completed).map((r) => r.view.runId));
  const { removed, kept } = await pruneOverwrittenRuns(control.store, catalog, runId, completed, (s) =>
    source.partial(s),
  );
  if (removed.length)
    await log('INFO', `overwrite: removed ${removed.length} partitions of older runs (${removed.join(', ')})`);
  if (kept.length) {
    await log(
      'WARN',
      `overwrite: older runs of ${kept.join(', ')} are kept, since ${source.why}; the next complete run replaces them`,
    );
  }
}
