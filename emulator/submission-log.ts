import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SUBMISSION_LOG = 'submissions.log';

/**
 * Every create the emulator accepted, per request: one `custom_id<TAB>batch_id` line each, appended when the
 * batch is made. It is the auditor's view of "paid twice" (a custom_id carried by two creates), so with a
 * data dir it survives emulator restarts (a kill included: a line is appended before the create answers),
 * and another process reads it from that dir with readSubmissionLog(). Without one it lives in the store's
 * temp dir and its text outlives close(), so counts stay readable after the emulator stopped.
 */
export class SubmissionLog {
  private readonly path: string;
  private closedText: string | undefined;

  constructor(dir: string, persist: boolean) {
    this.path = join(dir, SUBMISSION_LOG);
    if (!persist || !existsSync(this.path)) writeFileSync(this.path, '', { mode: 0o600 });
  }

  record(batchId: string, customIds: Iterable<string>): void {
    let text = '';
    for (const id of customIds) text += `${id}\t${batchId}\n`;
    appendFileSync(this.path, text, 'latin1');
  }

  /** How many creates carried each custom_id. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    forEachEntry(this.text(), (id) => counts.set(id, (counts.get(id) ?? 0) + 1));
    return counts;
  }

  /** Each custom_id's batches, in the order they were created. */
  batchesById(): Map<string, string[]> {
    return batchesByIdOf(this.text());
  }

  /** Keeps the text readable; a persisted log stays on disk, a temporary one goes with its dir. */
  close(remove: boolean): void {
    this.closedText ??= this.text();
    if (remove) rmSync(this.path, { force: true });
  }

  private text(): string {
    return this.closedText ?? readFileSync(this.path, 'latin1');
  }
}

function forEachEntry(text: string, each: (customId: string, batchId: string) => void): void {
  for (let at = 0; at < text.length;) {
    const end = text.indexOf('\n', at);
    if (end === -1) break; // a line cut by a kill mid-append: that create never answered
    const line = text.slice(at, end);
    const tab = line.indexOf('\t');
    each(tab === -1 ? line : line.slice(0, tab), tab === -1 ? '' : line.slice(tab + 1));
    at = end + 1;
  }
}

function batchesByIdOf(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  forEachEntry(text, (id, batch) => {
    const list = out.get(id);
    if (list) list.push(batch);
    else out.set(id, [batch]);
  });
  return out;
}

/** The log of an emulator's data dir (`emulator --data-dir D`), also while it runs or after it died. */
export function readSubmissionLog(dataDir: string): Map<string, string[]> {
  const path = join(dataDir, SUBMISSION_LOG);
  return existsSync(path) ? batchesByIdOf(readFileSync(path, 'latin1')) : new Map();
}

/** The custom_ids carried by more than one create: what was paid twice. */
export function paidTwice(log: Map<string, string[]>): Map<string, string[]> {
  return new Map([...log].filter(([, batches]) => batches.length > 1));
}
