import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
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

/**
 * One writer per destination: two runs resuming the same journal would both submit its batches. The
 * lock file holds the owner's pid; a lock left by a process that no longer exists (SIGKILL) is taken over.
 */
export class DestinationLock {
  private constructor(private readonly path: string) {}

  static acquire(controlDir: string): DestinationLock {
    const path = join(controlDir, 'write.lock');
    for (let tries = 0; tries < 3; tries++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new DestinationLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(readFileSync(path, 'utf8').trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
          throw configError('DESTINATION_BUSY', `another write (pid ${owner}) is using this destination; wait for it to finish or stop it (its journal stays resumable)`);
        }
        rmSync(path, { force: true });
      }
    }
    throw configError('DESTINATION_BUSY', `cannot take the write lock ${path}`);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
