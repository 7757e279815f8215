import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConnectorError, configError } from '../common/errors.js';
import { CONTROL_DIR } from '../sinks/layout.js';

/** Entries a folder can hold and still count as empty: file-system and OS litter, our own probe files. */
const IGNORABLE = new Set(['lost+found', '.DS_Store', 'Thumbs.db', 'desktop.ini', '.gitkeep', '.keep']);
const PROBE_PREFIX = '.claude-batch-probe-';
const isIgnorable = (name: string) => IGNORABLE.has(name) || name.startsWith(PROBE_PREFIX);

/** How deep data folders are checked for links: <namespace>/<stream>/run_id=<id>. */
const DATA_DEPTH = 3;
/** The walk for links stops after this many entries (a huge destination is not scanned whole by check). */
const MAX_ENTRIES = 50_000;

/**
 * Proves the destination path can hold our output, and is ours to write:
 * - it is created if missing; it must be a folder (it may itself be a symlink: that is the user's choice);
 * - a folder that already holds other things but no `_claude_batch` control folder belongs to something else
 *   (a home directory, another tool's output, a mount root with data): refused, so we never mix our
 *   partitions into it or prune anything there;
 * - no symlink may sit inside it where we write: the control folder (at any depth) and the data folders
 *   (`<namespace>/<stream>/run_id=…`);
 * - a probe file can be created (exclusively, without following links) and removed.
 * Every problem is a config_error saying what to do.
 */
export async function assertWritableDestination(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    const info = await stat(path);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    const entries = (await readdir(path)).filter((name) => !isIgnorable(name));
    if (entries.length > 0 && !entries.includes(CONTROL_DIR)) {
      const shown = entries.slice(0, 3).map((n) => JSON.stringify(n)).join(', ');
      throw configError(
        'DESTINATION_NOT_OURS',
        `destination_path "${path}" already holds other files (${shown}${entries.length > 3 ? ', …' : ''}) and no ${CONTROL_DIR} folder, so it is not this connector's output; point destination_path at an empty folder (or a new subfolder)`,
      );
    }
    await assertNoLinks(path);
    const probe = join(path, `${PROBE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    const handle = await open(probe, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o600);
    await handle.close();
    await rm(probe);
  } catch (err) {
    if (err instanceof ConnectorError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw configError(
      'DESTINATION_NOT_WRITABLE',
      `destination_path "${path}" is not a writable directory (${code}); create it or mount a writable volume there`,
    );
  }
}

/** Refuses symlinks inside the destination where we write: the whole control folder, and data folders to DATA_DEPTH. */
async function assertNoLinks(destination: string): Promise<void> {
  let seen = 0;
  const walk = async (dir: string, depth: number, maxDepth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      if (++seen > MAX_ENTRIES) return;
      const path = join(dir, entry.name);
      if (entry.isSymbolicLink()) throw linkFound(path, destination);
      if (entry.isDirectory() && depth + 1 < maxDepth) await walk(path, depth + 1, maxDepth);
    }
  };
  let control;
  try {
    control = await lstat(join(destination, CONTROL_DIR));
  } catch {
    control = undefined;
  }
  if (control) {
    if (control.isSymbolicLink()) throw linkFound(join(destination, CONTROL_DIR), destination);
    if (!control.isDirectory()) {
      throw configError('DESTINATION_NOT_OURS', `${join(destination, CONTROL_DIR)} is not a folder; remove it or point destination_path elsewhere`);
    }
    await walk(join(destination, CONTROL_DIR), 0, Infinity);
  }
  const top = await readdir(destination, { withFileTypes: true });
  for (const entry of top) {
    if (entry.name === CONTROL_DIR || isIgnorable(entry.name)) continue;
    const path = join(destination, entry.name);
    if (entry.isSymbolicLink()) throw linkFound(path, destination);
    if (entry.isDirectory()) await walk(path, 1, DATA_DEPTH);
  }
}

function linkFound(path: string, destination: string): ConnectorError {
  return configError(
    'DESTINATION_LINK',
    `${path} is a symbolic link inside destination_path "${destination}"; this connector never writes through links (one could send output or bookkeeping anywhere). Remove it, or point destination_path at a folder this connector owns`,
  );
}
