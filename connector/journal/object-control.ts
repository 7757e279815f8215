import { constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Store } from '../storage/store.js';
import type { ControlState, LockOptions } from './control.js';
import { Journal, type JournalEntry, type RunJournal } from './journal.js';
import { leaseHolder, StoreLease, WRITE_LEASE_PATIENCE_MS, type WriteLock } from './lease.js';
import { DestinationLock } from './lock.js';
import { StoreJournal } from './store-journal.js';

/** A completed run's journal, compacted into one object (see completeRun). */
const COMPACT = 'journal.jsonl';
const SPOOL_SEQ = /\/spool\/batch-(\d+)\//;

/**
 * Control state of an object-store destination (see ControlState). Keys on the Store are the working
 * folder's paths relative to `workRoot`, so the two mirror each other:
 *
 *   <control>/lease/<generation>.json                 the one-writer lease (lease.ts)
 *   <control>/runs/<run>/journal/<n>.json              entry n of the run's journal (store-journal.ts)
 *   <control>/runs/<run>/journal.jsonl                 a completed run's journal, compacted
 *   <control>/runs/<run>/spool/batch-N/records.jsonl   a sealed batch's records
 *   <control>/runs/<run>/spool/batch-N/round-K/requests.jsonl, results.jsonl
 *   <control>/runs/<run>/manifest.json
 *   <control>/runs/<run>/written-records.bin           a completed run's record fingerprints (written-records.ts)
 *
 * The result cache and the run's request index stay in the working folder only.
 */
export class ObjectControl implements ControlState {
  readonly remote = true;

  constructor(
    readonly store: Store,
    readonly workRoot: string,
    private readonly controlName: string,
  ) {
    mkdirSync(join(workRoot, controlName), { recursive: true, mode: 0o700 });
  }

  /** The Store key of a working-folder path. */
  keyOf(path: string): string {
    const rel = relative(this.workRoot, path);
    if (rel === '' || rel.startsWith('..'))
      throw new TypeError(`${path} is not in the working folder ${this.workRoot}`);
    return rel.split(sep).join('/');
  }

  private pathOf(key: string): string {
    return join(this.workRoot, ...key.split('/'));
  }

  /**
   * The working folder's lock file first, then the lease. The lease keeps writers on any host apart; the lock
   * file keeps the other processes of this host (`estimate`) off the working folder's result cache while a
   * write has it open, as a local destination's write.lock does. The lease wait: a lease a killed pod may have
   * left is waited out (up to a lease and a renewal), a live holder refused.
   */
  async lock(options: LockOptions = {}): Promise<WriteLock> {
    const local = DestinationLock.acquire(join(this.workRoot, this.controlName));
    try {
      const lease = await StoreLease.acquire(this.store, this.leasePrefix, {
        patienceMs: WRITE_LEASE_PATIENCE_MS,
        ...options,
      });
      return {
        lost: lease.lost,
        release: async () => {
          try {
            await lease.release();
          } finally {
            local.release();
          }
        },
      };
    } catch (err) {
      local.release();
      throw err;
    }
  }

  /** The lease's holder, if its lease is live at `now` (renewed within LEASE_MS, or its process runs here). */
  writer(now: number): Promise<{ pid: number; host: string } | undefined> {
    return leaseHolder(this.store, this.leasePrefix, now);
  }

  /** The run file's object (`<control>/runs/<run>/<name>`), whatever the working folder holds. */
  readRunFile(runDir: string, name: string): Promise<Buffer | undefined> {
    return this.store.get(`${this.keyOf(runDir)}/${name}`);
  }

  private get leasePrefix(): string {
    return `${this.controlName}/lease`;
  }

  async runs(): Promise<Array<{ dir: string; entries: JournalEntry[] }>> {
    const prefix = `${this.controlName}/runs/`;
    const names = new Map<string, boolean>();
    for await (const o of this.store.list(prefix)) {
      const [name, file] = o.key.slice(prefix.length).split('/');
      if (!name) continue;
      names.set(name, (names.get(name) ?? false) || file === COMPACT);
    }
    const out = [];
    for (const [name] of [...names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const dir = this.pathOf(prefix + name);
      out.push({ dir, entries: await this.readJournal(dir) });
    }
    return out;
  }

  async openJournal(runDir: string): Promise<RunJournal> {
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    return StoreJournal.open(this.store, `${this.keyOf(runDir)}/journal`);
  }

  async readJournal(runDir: string): Promise<JournalEntry[]> {
    const key = this.keyOf(runDir);
    const compact = await this.store.get(`${key}/${COMPACT}`);
    if (compact) return Journal.parse(compact.toString('utf8'), `${this.store.location}/${key}/${COMPACT}`);
    return StoreJournal.read(this.store, `${key}/journal`);
  }

  /** Copies the file to the Store whole (the working copy stays: later steps of this process read it). */
  async save(localPath: string): Promise<void> {
    const temp = `${localPath}.${process.pid}.upload`;
    try {
      // A copy-on-write clone where the file system has one; publishFile consumes the copy.
      await copyFile(localPath, temp, constants.COPYFILE_FICLONE);
      await this.store.publishFile(temp, this.keyOf(localPath));
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Downloads each spool file of the given seqs the working folder lacks or holds at another size (a file a
   * killed process was writing). A seq not in the list was never sealed: whatever the Store has of it is a
   * leftover and stays where it is (the seq's next seal replaces it).
   */
  async fetchSpool(runDir: string, seqs: Iterable<number>): Promise<void> {
    const wanted = new Set(seqs);
    for await (const o of this.store.list(`${this.keyOf(runDir)}/spool/`)) {
      const seq = Number(SPOOL_SEQ.exec(o.key)?.[1] ?? NaN);
      if (!wanted.has(seq) || o.key.endsWith('.upload')) continue;
      const path = this.pathOf(o.key);
      if (existsSync(path) && statSync(path).size === o.size) continue;
      await this.download(o.key, path);
    }
  }

  async fetchFile(localPath: string): Promise<boolean> {
    return existsSync(localPath) || (await this.download(this.keyOf(localPath), localPath));
  }

  /** The object at `key` into `path`, through a temp file renamed into place (whole or absent); false if none. */
  private async download(key: string, path: string): Promise<boolean> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.fetch`;
    if (!(await this.store.download(key, temp))) return false;
    await rename(temp, path);
    return true;
  }

  async removeFile(localPath: string): Promise<void> {
    await rm(localPath, { force: true });
    await this.store.delete([this.keyOf(localPath)]);
  }

  /**
   * Compacts the journal into one object (a completed run is read by every later write: one get instead of
   * one per entry), then deletes the entry objects and the spool. A crash in between leaves both forms; the
   * compact one is read first and is whole.
   */
  async completeRun(runDir: string): Promise<void> {
    const key = this.keyOf(runDir);
    const entries = await this.readJournal(runDir);
    await this.store.put(`${key}/${COMPACT}`, entries.map((e) => JSON.stringify(e) + '\n').join(''));
    const gone: string[] = [];
    for (const prefix of [`${key}/journal/`, `${key}/spool/`])
      for await (const o of this.store.list(prefix)) gone.push(o.key);
    for (let i = 0; i < gone.length; i += 1000) await this.store.delete(gone.slice(i, i + 1000));
  }
}
