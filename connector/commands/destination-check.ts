import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { asConnectorError, ConnectorError, configError } from '../common/errors.js';
import { CONTROL_DIR } from '../sinks/layout.js';
import { openStore, type S3Settings } from '../storage/open-store.js';
import type { Store } from '../storage/store.js';
import type { CallLimits } from '../types/shared.js';

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
      const shown = entries
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(', ');
      throw configError(
        'DESTINATION_NOT_OURS',
        `destination_path "${path}" already holds other files (${shown}${entries.length > 3 ? ', …' : ''}) and no ${CONTROL_DIR} folder, so it is not this connector's output; point destination_path at an empty folder (or a new subfolder)`,
      );
    }
    await assertNoLinks(path);
    const probe = join(path, `${PROBE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    const handle = await open(
      probe,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0),
      0o600,
    );
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
      throw configError(
        'DESTINATION_NOT_OURS',
        `${join(destination, CONTROL_DIR)} is not a folder; remove it or point destination_path elsewhere`,
      );
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

/**
 * Proves an object-store destination works before anything is spent: the prefix is this connector's (empty,
 * or holding a `_claude_batch/` folder), and a probe object can be written, listed and deleted. A failure keeps
 * the storage error's type (a missing bucket or refused key: config_error; an unreachable endpoint: transient)
 * and names the step and what to fix; no credential is ever part of it.
 */
export async function assertWritableStore(store: Store): Promise<void> {
  const first = async (prefix: string) => {
    for await (const object of store.list(prefix)) return object.key;
    return undefined;
  };
  const step = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (err) {
      const e = asConnectorError(err);
      throw new ConnectorError(
        e.failureType,
        e.code,
        `destination_path ${store.location} failed the ${what} check: ${e.message}`,
      );
    }
  };
  if ((await step('list', () => first(`${CONTROL_DIR}/`))) === undefined) {
    const other = await step('list', () => first(''));
    if (other !== undefined) {
      throw configError(
        'DESTINATION_NOT_OURS',
        `destination_path ${store.location} already holds other objects (${JSON.stringify(other)}) and no ${CONTROL_DIR}/ prefix, so it is not this connector's output; point destination_path at an empty prefix`,
      );
    }
  }
  const probe = `${CONTROL_DIR}/check/${PROBE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  await step('write', () => store.put(probe, 'probe'));
  const listed = await step('list', () => first(probe));
  if (listed !== probe)
    throw configError(
      'DESTINATION_NOT_LISTABLE',
      `destination_path ${store.location}: a probe object written there is not listed back; the endpoint or prefix does not behave as S3`,
    );
  await step('delete', () => store.delete([probe]));
  if ((await step('list', () => first(probe))) !== undefined) {
    throw configError(
      'DESTINATION_NOT_DELETABLE',
      `destination_path ${store.location}: a probe object deleted there is still listed; overwrite could not remove older runs (check s3:DeleteObject in the policy)`,
    );
  }
}

/** The destination check of check and write: a local folder (assertWritableDestination) or an object store. */
export async function assertDestinationUsable(
  config: { destination_path: string; s3?: S3Settings },
  limits?: CallLimits,
): Promise<void> {
  const store = openStore(config, limits);
  if (store.kind === 'object') await assertWritableStore(store);
  else await assertWritableDestination(config.destination_path);
}
