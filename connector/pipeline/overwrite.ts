import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Catalog, ConfiguredStream } from '../config/catalog.js';
import { partitionDir } from '../sinks/layout.js';

/**
 * `overwrite` streams: once a run is complete, the partitions of older completed runs are removed, so
 * the stream's folder holds only the newest complete run. Until then readers see both and can select the
 * newest complete run from `_claude_batch/runs/*\/manifest.json` (or the highest run_id, which sorts by
 * time). Partitions of runs still unfinished (a detached run still collecting) are left alone.
 */
export async function pruneOverwrittenRuns(
  destination: string,
  catalog: Catalog,
  currentRunId: string,
  completedRunIds: ReadonlySet<string>,
  /** A stream this run did not get whole (the source failed or said so): its older data stays. */
  partial: (stream: ConfiguredStream) => boolean = () => false,
): Promise<{ removed: string[]; kept: string[] }> {
  const removed: string[] = [];
  const kept: string[] = [];
  for (const stream of catalog.streams) {
    if (stream.destinationSyncMode !== 'overwrite') continue;
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
      await rm(`${streamDir}/${name}`, { recursive: true, force: true });
      removed.push(`${streamDir}/${name}`);
    }
  }
  return { removed, kept };
}
