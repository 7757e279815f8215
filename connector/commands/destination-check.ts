import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { configError } from '../errors.js';

/** Proves the destination path can hold output: creates it if needed, writes and removes a probe file. */
export async function assertWritableDestination(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    const info = await stat(path);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    const probe = join(path, `.claude-batch-probe-${process.pid}`);
    const handle = await open(probe, 'wx', 0o600);
    await handle.close();
    await rm(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw configError(
      'DESTINATION_NOT_WRITABLE',
      `destination_path "${path}" is not a writable directory (${code}); create it or mount a writable volume there`,
    );
  }
}
