import { openSync, writeSync, fsyncSync, closeSync, readFileSync, existsSync } from 'node:fs';

/** Every fact the run depends on, in the order it became true. The journal is the source of truth for resume. */
export type JournalEntry =
  | { type: 'run_started'; run_id: string; config_fingerprint: string; at: string }
  | { type: 'batch_sealed'; seq: number; records: number; requests: number; bytes: number }
  | { type: 'batch_submitting'; seq: number; at: string }
  | { type: 'batch_submitted'; seq: number; batch_id: string; at: string }
  | { type: 'batch_ended'; seq: number; batch_id: string; counts: Record<string, number>; at: string }
  | { type: 'results_downloaded'; seq: number; batch_id: string; lines: number }
  | { type: 'file_written'; seq: number; path: string; rows: number }
  | { type: 'batch_finalised'; seq: number }
  | { type: 'state_emitted'; count: number }
  | { type: 'run_completed'; at: string; records: number };

/**
 * Append-only JSONL, fsync'd after every entry: once append() returns, the fact survives a crash.
 * Synchronous on purpose: entries are few (a handful per batch) and ordering must be exact.
 */
export class Journal {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'a', 0o600);
  }

  append(entry: JournalEntry): void {
    writeSync(this.fd, JSON.stringify(entry) + '\n');
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Reads a journal back; a torn last line (crash mid-write) is ignored, it was never acknowledged. */
  static read(path: string): JournalEntry[] {
    if (!existsSync(path)) return [];
    const entries: JournalEntry[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        break;
      }
    }
    return entries;
  }
}
