import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * Creates `path` holding `pid`, or returns false if it exists. The pid is written to a private file first and
 * that file is hard-linked into place, so the lock never exists empty: a reader always sees whose it is.
 */
function createWithPid(path: string, pid: number): boolean {
  const temp = `${path}.${pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(temp, String(pid), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
}

interface HeldLock {
  /** The file as read, and the pid it names (NaN or 0 when it names none). */
  text: string;
  pid: number;
  ino: number;
}

/** What a lock file holds and the file's identity, or undefined if it is gone. */
function readLock(path: string): HeldLock | undefined {
  try {
    const ino = statSync(path).ino;
    const text = readFileSync(path, 'utf8');
    return { text, pid: Number(text.trim()), ino };
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

const isLiveOwner = (pid: number) => Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid);

/**
 * One writer per destination: two runs resuming the same journal would both submit its batches. The
 * lock file holds the owner's pid; a lock left by a process that no longer exists (SIGKILL) is taken over.
 *
 * Taking over is the only way a lock is removed by anyone but its owner, and only one process may do it at a
 * time: it first creates `write.lock.takeover` (itself taken over only when its own owner is gone), then
 * removes the stale lock only if it is still the same file with the same dead owner, and creates its own.
 * Without that, two processes that both saw the stale lock could each remove the other's new one.
 */
export class DestinationLock {
  private constructor(private readonly path: string) {}

  static acquire(controlDir: string): DestinationLock {
    const path = join(controlDir, 'write.lock');
    for (let tries = 0; tries < 5; tries++) {
      if (createWithPid(path, process.pid)) return new DestinationLock(path);
      const held = readLock(path);
      if (!held) continue;
      if (isLiveOwner(held.pid)) throw busy(held.pid);
      if (DestinationLock.takeOver(path, held)) return new DestinationLock(path);
    }
    const held = readLock(path);
    if (held && isLiveOwner(held.pid)) throw busy(held.pid);
    throw configError('DESTINATION_BUSY', `cannot take the write lock ${path}: other processes are taking it at the same time`);
  }

  /** Replaces the stale lock `seen` with ours, under the takeover lock; false if someone else got there. */
  private static takeOver(path: string, seen: HeldLock): boolean {
    const guard = `${path}.takeover`;
    if (!createWithPid(guard, process.pid)) {
      const other = readLock(guard);
      // A takeover whose process died midway is cleared; a live one is left to finish.
      if (other && !isLiveOwner(other.pid)) rmSync(guard, { force: true });
      return false;
    }
    try {
      const now = readLock(path);
      if (now && (now.ino !== seen.ino || now.text !== seen.text)) return false;
      if (now) unlinkSync(path);
      return createWithPid(path, process.pid);
    } finally {
      rmSync(guard, { force: true });
    }
  }

  /** Removes the lock if it is still ours. */
  release(): void {
    const held = readLock(this.path);
    if (held?.pid === process.pid) rmSync(this.path, { force: true });
  }
}

function busy(pid: number) {
  return configError('DESTINATION_BUSY', `another write (pid ${pid}) is using this destination; wait for it to finish or stop it (its journal stays resumable)`);
}
