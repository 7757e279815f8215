import { openSync, writeSync, fsyncSync, closeSync, readFileSync, existsSync, ftruncateSync, constants } from 'node:fs';
import { systemError } from '../common/errors.js';
import type { StreamTally } from '../types/shared.js';

export type WaitMode = 'until_done' | 'submit_only';

/**
 * Every fact a run depends on, in the order it became true. The journal is the single source of truth
 * for resume: a batch is identified by its `seq` (a sealed group of records) and `round` (0 = first
 * submission, k = the k-th resubmission of the requests that failed in round k-1).
 */
export type JournalEntry =
  | {
      type: 'run_started';
      run_id: string;
      config_fingerprint: string;
      request_fingerprint: string;
      wait: WaitMode;
      at: string;
    }
  | { type: 'attempt_started'; attempt: number; at: string }
  | { type: 'batch_sealed'; seq: number; records: number; requests: number; bytes: number; estimate_usd?: number }
  | { type: 'round_sealed'; seq: number; round: number; requests: number; reasons: Record<string, number> }
  | { type: 'batch_submitting'; seq: number; round: number; at: string }
  | {
      type: 'batch_submitted';
      seq: number;
      round: number;
      batch_id: string;
      at: string;
      reconciled?: boolean;
      alternates?: string[];
    }
  | { type: 'batch_lost'; seq: number; round: number; batch_id: string; reason: string }
  | { type: 'batch_ended'; seq: number; round: number; batch_id: string; counts: Record<string, number>; at: string }
  | { type: 'results_downloaded'; seq: number; round: number; batch_id: string; lines: number }
  | { type: 'file_written'; seq: number; tally: StreamTally }
  | { type: 'batch_finalised'; seq: number }
  /** `positions`: per stream, how many of its records (from the run's first) came before this STATE. */
  | { type: 'state_emitted'; stream: string | null; records: number; positions?: Record<string, number> }
  | { type: 'cancel_requested'; batch_ids: string[]; at: string }
  | { type: 'run_detached'; at: string; pending: number }
  | { type: 'run_interrupted'; at: string; reason: string }
  | { type: 'run_completed'; at: string; records: number };

/**
 * Where a run's entries go. Whatever the medium, an entry is durable once append() resolves, and entries
 * keep the order append() was called in: a caller awaits it before the act the entry guards (journal before
 * act). A local journal is one fsync'd file (Journal); an object store's is one object per entry
 * (StoreJournal, store-journal.ts).
 */
export interface RunJournal {
  append(entry: JournalEntry): Promise<void>;
  close(): void;
}

/**
 * Append-only JSONL, fsync'd after every entry: once append() returns, the fact survives a crash.
 * The write is synchronous on purpose (entries are few, a handful per batch, and ordering must be exact):
 * the entry is on disk before append() returns, and the promise it returns is already settled.
 */
export class Journal implements RunJournal {
  private readonly fd: number;

  constructor(readonly path: string) {
    // Never through a planted symlink: the journal decides what gets paid for.
    this.fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    // A torn last line (power lost mid-append) was never acknowledged: cut it off, or the next entry would
    // be glued to it and lost with it on every later read.
    const bytes = readFileSync(path);
    if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) {
      ftruncateSync(this.fd, bytes.lastIndexOf(0x0a) + 1);
      fsyncSync(this.fd);
    }
  }

  append(entry: JournalEntry): Promise<void> {
    const line = Buffer.from(JSON.stringify(entry) + '\n');
    for (let done = 0; done < line.length;) done += writeSync(this.fd, line, done);
    fsyncSync(this.fd);
    return Promise.resolve();
  }

  close(): void {
    closeSync(this.fd);
  }

  /**
   * Reads a journal back. A torn last line (crash mid-write) is ignored: it was never acknowledged. A damaged
   * line with entries after it is refused: skipping it, or everything after it, could mean paying again.
   */
  static read(path: string): JournalEntry[] {
    if (!existsSync(path)) return [];
    return Journal.parse(readFileSync(path, 'utf8'), path);
  }

  /** Entries from a journal's text (`where` names it in errors); see read(). */
  static parse(text: string, where: string): JournalEntry[] {
    const entries: JournalEntry[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line) continue;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        if (lines.slice(i + 1).some(Boolean))
          throw systemError(
            'JOURNAL_DAMAGED',
            `run journal ${where}: line ${i + 1} is damaged and entries follow it; the run cannot be resumed safely from it`,
          );
        break;
      }
    }
    return entries;
  }
}
