import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { configError } from '../common/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** How often an owner renews its lock, and how long a lock from another host lives without renewal. */
const RENEW_MS = 20_000;
export const LEASE_MS = 120_000;

/** What a lock file says: `<pid>@<host>` (a bare pid, as older versions wrote, means this host). */
const lockText = (pid: number) => `${pid}@${hostname()}`;

/**
 * Creates `path` holding `text`, or returns false if it exists. The text is written to a private file first
 * and that file is hard-linked into place, so the lock never exists empty: a reader always sees whose it is.
 */
function createWith(path: string, text: string): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
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
  /** The file as read, the pid and host it names (pid NaN or 0 when it names none), its identity and age. */
  text: string;
  pid: number;
  host: string;
  ino: number;
  ageMs: number;
}

/** What a lock file holds, or undefined if it is gone. */
function readLock(path: string): HeldLock | undefined {
  try {
    const stat = statSync(path);
    const text = readFileSync(path, 'utf8');
    const [pid, host] = text.trim().split('@');
    return { text, pid: Number(pid), host: host ?? hostname(), ino: stat.ino, ageMs: Date.now() - stat.mtimeMs };
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Whether the owner of a lock may still be running. On this host its pid answers that (our own pid is never
 * a live other owner). Another host, e.g. another container on a shared volume, where every connector may be
 * pid 1, cannot be asked: its lock counts as live while it keeps renewing it (see LEASE_MS).
 */
function isLiveOwner(held: HeldLock): boolean {
  if (held.host !== hostname()) return held.ageMs < LEASE_MS;
  return Number.isInteger(held.pid) && held.pid > 0 && held.pid !== process.pid && alive(held.pid);
}

/**
 * One writer per destination: two runs resuming the same journal would both submit its batches. The lock
 * file holds the owner's pid and host and is renewed while it is held; a lock whose owner is gone (killed,
 * or on another host and not renewed for LEASE_MS) is taken over.
 *
 * Taking over is the only way a lock is removed by anyone but its owner, and only one process may do it at a
 * time: it first creates `write.lock.takeover` (itself taken over only when its own owner is gone), then
 * removes the stale lock only if it is still the same file with the same owner, and creates its own.
 * Without that, two processes that both saw the stale lock could each remove the other's new one.
 */
export class DestinationLock {
  private readonly renewal: NodeJS.Timeout;

  private constructor(private readonly path: string) {
    this.renewal = setInterval(() => this.renew(), RENEW_MS);
    this.renewal.unref();
  }

  static acquire(controlDir: string): DestinationLock {
    const path = join(controlDir, 'write.lock');
    const ours = lockText(process.pid);
    for (let tries = 0; tries < 5; tries++) {
      if (createWith(path, ours)) return new DestinationLock(path);
      const held = readLock(path);
      if (!held) continue;
      if (isLiveOwner(held)) throw busy(held);
      if (DestinationLock.takeOver(path, held, ours)) return new DestinationLock(path);
    }
    const held = readLock(path);
    if (held && isLiveOwner(held)) throw busy(held);
    throw configError(
      'DESTINATION_BUSY',
      `cannot take the write lock ${path}: other processes are taking it at the same time`,
    );
  }

  /** Replaces the stale lock `seen` with ours, under the takeover lock; false if someone else got there. */
  private static takeOver(path: string, seen: HeldLock, ours: string): boolean {
    const guard = `${path}.takeover`;
    if (!createWith(guard, ours)) {
      const other = readLock(guard);
      // A takeover whose process died midway is cleared; a live one is left to finish.
      if (other && !isLiveOwner(other)) rmSync(guard, { force: true });
      return false;
    }
    try {
      const now = readLock(path);
      if (now && (now.ino !== seen.ino || now.text !== seen.text)) return false;
      if (now) unlinkSync(path);
      return createWith(path, ours);
    } finally {
      rmSync(guard, { force: true });
    }
  }

  /** Marks the lock as still held (its modification time), for owners on other hosts to see. */
  private renew(): void {
    try {
      const now = new Date();
      if (readLock(this.path)?.text === lockText(process.pid)) utimesSync(this.path, now, now);
    } catch {
      // A missed renewal is retried at the next tick; the lease is several ticks long.
    }
  }

  /** Stops renewing, and removes the lock if it is still ours. */
  release(): void {
    clearInterval(this.renewal);
    if (readLock(this.path)?.text === lockText(process.pid)) rmSync(this.path, { force: true });
  }
}

/** The live owner of the lock in `controlDir`, if there is one (for `status`). */
export function lockHolder(controlDir: string): { pid: number; host: string } | undefined {
  const held = readLock(join(controlDir, 'write.lock'));
  return held && isLiveOwner(held) ? { pid: held.pid, host: held.host } : undefined;
}

function busy(held: HeldLock) {
  const where = held.host === hostname() ? '' : ` on ${held.host}`;
  return configError(
    'DESTINATION_BUSY',
    `another write (pid ${held.pid}${where}) is using this destination; wait for it to finish or stop it (its journal stays resumable)`,
  );
}
