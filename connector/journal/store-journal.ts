import { randomUUID } from 'node:crypto';
import { systemError } from '../common/errors.js';
import type { Store } from '../storage/store.js';
import type { JournalEntry, RunJournal } from './journal.js';

/** Digits of an entry's number in its key: keys sort in entry order. */
const DIGITS = 10;
/** Gets in flight while a journal is read back (one object per entry). */
const READ_PARALLEL = 8;

export const entryKey = (prefix: string, n: number) => `${prefix}/${String(n).padStart(DIGITS, '0')}.json`;
const ENTRY_NAME = new RegExp(`^(\\d{${DIGITS}})\\.json$`);

/** What one entry object holds: the entry, and which writer (one process's journal) appended it. */
interface EntryObject {
  w: string;
  e: JournalEntry;
}

/**
 * A run's journal on an object store: entry N is the object `<prefix>/<N, 10 digits>.json`, created with
 * putIfAbsent, so two writers can never both append entry N (the destination's lease keeps a second writer
 * out; this is the second line of defence: the loser's append fails, and with it the act it guarded).
 * Appends are chained, so entries keep the order append() was called in, and each resolves only once its
 * object is stored: a caller that awaits it before acting keeps "journal before act".
 *
 * An object is whole or absent (no torn line as in a file), so reading back is: list the prefix, get each
 * entry in order. A gap in the numbers or an unreadable entry is refused, as a damaged file line is.
 */
export class StoreJournal implements RunJournal {
  private readonly writer = randomUUID();
  private chain: Promise<void> = Promise.resolve();
  private failed: Error | undefined;

  private constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private next: number,
  ) {}

  /** Opens the journal under `prefix` for appending after its last entry. */
  static async open(store: Store, prefix: string): Promise<StoreJournal> {
    const numbers = await entryNumbers(store, prefix);
    return new StoreJournal(store, prefix, numbers.length);
  }

  append(entry: JournalEntry): Promise<void> {
    const appended = this.chain.then(() => this.put(entry));
    // The next append waits for this one whatever its outcome; its own call reports a failure.
    this.chain = appended.catch(() => undefined);
    return appended;
  }

  private async put(entry: JournalEntry): Promise<void> {
    // After a failed append the journal's end is unknown to this writer: nothing more goes after it.
    if (this.failed) throw this.failed;
    const n = this.next;
    const body = JSON.stringify({ w: this.writer, e: entry } satisfies EntryObject) + '\n';
    try {
      if (!(await this.store.putIfAbsent(entryKey(this.prefix, n), body))) {
        // A retried write whose first try landed reads back as ours; anything else is another writer's.
        const there = (await this.store.get(entryKey(this.prefix, n)))?.toString('utf8');
        if (there !== body) {
          throw systemError(
            'JOURNAL_CONFLICT',
            `run journal ${this.prefix}: entry ${n} was appended by another writer; two writes are using this destination at once (its lease should prevent that), so this one stops before acting on anything`,
          );
        }
      }
    } catch (err) {
      this.failed = err as Error;
      throw err;
    }
    this.next = n + 1;
  }

  close(): void {
    // Nothing is held open: every entry was written whole.
  }

  /** Every entry under `prefix`, in order. */
  static async read(store: Store, prefix: string): Promise<JournalEntry[]> {
    const numbers = await entryNumbers(store, prefix);
    numbers.forEach((n, i) => {
      if (n !== i)
        throw systemError(
          'JOURNAL_DAMAGED',
          `run journal ${prefix}: entry ${i} is missing and entries follow it; the run cannot be resumed safely from it`,
        );
    });
    const entries: JournalEntry[] = new Array(numbers.length);
    for (let start = 0; start < numbers.length; start += READ_PARALLEL) {
      const slice = numbers.slice(start, start + READ_PARALLEL);
      await Promise.all(slice.map(async (n) => (entries[n] = await readEntry(store, prefix, n))));
    }
    return entries;
  }
}

async function readEntry(store: Store, prefix: string, n: number): Promise<JournalEntry> {
  const bytes = await store.get(entryKey(prefix, n));
  try {
    if (!bytes) throw new Error('gone');
    const parsed = JSON.parse(bytes.toString('utf8')) as EntryObject;
    if (typeof parsed?.e?.type !== 'string') throw new Error('not an entry');
    return parsed.e;
  } catch {
    throw systemError(
      'JOURNAL_DAMAGED',
      `run journal ${prefix}: entry ${n} is damaged or gone; the run cannot be resumed safely from it`,
    );
  }
}

/** The numbers of the entries under `prefix`, ascending (keys list in order). */
async function entryNumbers(store: Store, prefix: string): Promise<number[]> {
  const numbers: number[] = [];
  for await (const o of store.list(`${prefix}/`)) {
    const m = ENTRY_NAME.exec(o.key.slice(prefix.length + 1));
    if (m) numbers.push(Number(m[1]));
  }
  return numbers;
}
