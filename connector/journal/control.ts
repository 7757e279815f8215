import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../storage/store.js';
import { Journal, type JournalEntry, type RunJournal } from './journal.js';
import type { AcquireOptions, WriteLock } from './lease.js';
import { DestinationLock, lockHolder } from './lock.js';

export type LockOptions = Pick<AcquireOptions, 'signal' | 'onWait'>;

export const journalPath = (runDir: string) => join(runDir, 'journal.jsonl');

/**
 * A destination's control state: the run journals, each batch's spool, the one-writer lock. It has two
 * places, kept apart:
 *
 * - the **working folder** (`workRoot`, laid out as the destination is: `<workRoot>/<control>/runs/<run>/spool/…`,
 *   `<workRoot>/<control>/cache…`): scratch a process reads and writes at disk speed (spool files as they are
 *   written, results as they download, the request index, the result cache);
 * - the **Store** (the destination itself): the durable truth any process, on any machine, resumes from.
 *
 * For a local folder both are the destination (LocalControl: journal.jsonl, write.lock, the spool in
 * place, exactly as before object storage existed). For an object store (ObjectControl, object-control.ts)
 * the working folder is a local folder that may start empty (a new pod); the journal and the lease live
 * only on the Store, and each spool file is copied there once it is final (save) and back on resume (fetch).
 */
export interface ControlState {
  readonly store: Store;
  /** Root of the working folder; `<workRoot>/<control folder>` mirrors the destination's. */
  readonly workRoot: string;
  /** True when the working folder is scratch and the Store holds the truth (an object store). */
  readonly remote: boolean;
  /**
   * Takes the destination's one-writer lock (a file, or a lease object on the Store). A lease another host may
   * have left is waited out (see StoreLease.acquire): `signal` ends that wait with an INTERRUPTED error, and
   * `onWait` is told when it starts.
   */
  lock(options?: LockOptions): Promise<WriteLock>;
  /** The live process holding the one-writer lock at `now` (ms), if any (for `status`). */
  writer(now: number): Promise<{ pid: number; host: string } | undefined>;
  /** A file of a run (e.g. `manifest.json`), as the Store holds it; undefined if it has none. */
  readRunFile(runDir: string, name: string): Promise<Buffer | undefined>;
  /** Every run's working folder and journal, as the Store has them (the run registry). */
  runs(): Promise<Array<{ dir: string; entries: JournalEntry[] }>>;
  /** Opens a run's journal for appending (creating the run's working folder). */
  openJournal(runDir: string): Promise<RunJournal>;
  /** A run's journal entries, in order. */
  readJournal(runDir: string): Promise<JournalEntry[]>;
  /** Makes a finished working file (a sealed spool file, downloaded results, the manifest) durable on the Store. */
  save(localPath: string): Promise<void>;
  /** Brings the spool files of the run's `seqs` that the working folder lacks from the Store. */
  fetchSpool(runDir: string, seqs: Iterable<number>): Promise<void>;
  /** A run is complete: its spool leaves the Store, and its journal is made cheap to read. */
  completeRun(runDir: string): Promise<void>;
}

/** A local destination: the working folder is the destination, and nothing is copied anywhere. */
export class LocalControl implements ControlState {
  readonly remote = false;
  readonly workRoot: string;

  constructor(
    readonly store: Store & { root: string },
    private readonly controlName: string,
  ) {
    this.workRoot = store.root;
  }

  private get controlDir(): string {
    return join(this.workRoot, this.controlName);
  }

  async lock(): Promise<WriteLock> {
    mkdirSync(this.controlDir, { recursive: true, mode: 0o700 });
    const lock = DestinationLock.acquire(this.controlDir);
    return { release: async () => lock.release() };
  }

  async writer(): Promise<{ pid: number; host: string } | undefined> {
    return lockHolder(this.controlDir);
  }

  async readRunFile(runDir: string, name: string): Promise<Buffer | undefined> {
    return readFile(join(runDir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  async runs(): Promise<Array<{ dir: string; entries: JournalEntry[] }>> {
    const root = join(this.controlDir, 'runs');
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .sort()
      .map((name) => ({ dir: join(root, name), entries: Journal.read(journalPath(join(root, name))) }));
  }

  async openJournal(runDir: string): Promise<RunJournal> {
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    return new Journal(journalPath(runDir));
  }

  async readJournal(runDir: string): Promise<JournalEntry[]> {
    return Journal.read(journalPath(runDir));
  }

  async save(): Promise<void> {
    // Written in place, fsync'd: already durable.
  }

  async fetchSpool(): Promise<void> {
    // The spool never left.
  }

  async completeRun(): Promise<void> {
    // The run session drops the local spool itself.
  }
}
