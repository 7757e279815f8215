import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_DIR } from '../sinks/layout.js';
import { Journal } from '../journal/journal.js';
import { foldJournal, type RunView } from '../journal/run-view.js';

export const journalPath = (runDir: string) => join(runDir, 'journal.jsonl');
export const runsDir = (destination: string) => join(destination, CONTROL_DIR, 'runs');

/** A run a destination's journal knows: its control folder and its folded journal. */
export interface KnownRun {
  dir: string;
  view: RunView;
}

/** Every run the destination's journals know, oldest first. */
export function loadRuns(destination: string): KnownRun[] {
  const root = runsDir(destination);
  if (!existsSync(root)) return [];
  const runs: KnownRun[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const view = foldJournal(Journal.read(journalPath(dir)));
    if (view) runs.push({ dir, view });
  }
  return runs.sort((a, b) => a.view.startedAt.localeCompare(b.view.startedAt));
}

/** Batch ids any journal has recorded: a batch found by listing is adopted only if none claims it. */
export function claimedBatchIds(runs: Array<{ view: RunView }>): Set<string> {
  const ids = new Set<string>();
  for (const { view } of runs) {
    for (const seq of view.seqs.values()) {
      for (const r of seq.rounds) {
        if (r.batchId) ids.add(r.batchId);
        // Candidates a round may still adopt are taken too: no other round may adopt them meanwhile.
        for (const id of r.alternates ?? []) ids.add(id);
      }
    }
  }
  return ids;
}
