import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * fsync a file, or a directory: on a directory it makes created, renamed and deleted names durable across
 * power loss, not just process death.
 */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncPath for code that must not yield (the result cache's table swaps). */
export function fsyncPathSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes JSON atomically: temp file, fsync, rename, so a reader never sees half a file. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await rm(temp, { force: true });
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n', { mode: 0o644, flush: true, flag: 'wx' });
  await rename(temp, path);
  await fsyncPath(dirname(path));
}

/** Reads `length` bytes at `position` unless the file ends first; returns how many it read. */
export function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes `length` bytes of `buf` at `position`, however many writes it takes. */
export function writeFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, buf, done, length - done, position + done);
}
