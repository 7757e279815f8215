import { join } from 'node:path';
import { CONTROL_DIR } from '../sinks/layout.js';
import { LocalControl, type ControlState } from '../journal/control.js';
import { ObjectControl } from '../journal/object-control.js';
import type { JournalEntry } from '../journal/journal.js';
import { foldJournal, type RunView } from '../journal/run-view.js';
import { LocalStore } from '../storage/local-store.js';
import type { Store } from '../storage/store.js';
import { localWorkRoot, openStore, type S3Settings } from '../storage/open-store.js';

export { journalPath } from '../journal/control.js';
export const runsDir = (destination: string) => join(destination, CONTROL_DIR, 'runs');

/**
 * The control state of a destination's Store: in the destination itself for a local folder; for an object
 * store, on the Store, with `workRoot` as its working folder (default: localWorkRoot of its location, under
 * $CLAUDE_BATCH_WORK_DIR or the OS temp folder).
 */
export function controlFor(store: Store, workRoot?: string): ControlState {
  if (store instanceof LocalStore) return new LocalControl(store, CONTROL_DIR);
  return new ObjectControl(store, workRoot ?? localWorkRoot({ destination_path: store.location }), CONTROL_DIR);
}

/** The control state of a config's destination (see openStore and controlFor). */
export function controlOf(config: { destination_path: string; s3?: S3Settings }): ControlState {
  const store = openStore(config);
  return controlFor(store, localWorkRoot(config));
}

/** A run a destination's journal knows: its control folder, its journal and that journal folded. */
export interface KnownRun {
  dir: string;
  view: RunView;
  entries: JournalEntry[];
}

/** Every run the destination's journals know, oldest first. */
export async function loadRuns(control: ControlState): Promise<KnownRun[]> {
  const runs: KnownRun[] = [];
  for (const { dir, entries } of await control.runs()) {
    const view = foldJournal(entries);
    if (view) runs.push({ dir, view, entries });
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
