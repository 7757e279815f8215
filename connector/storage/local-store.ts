import { constants } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fsyncPath } from '../common/durable.js';
import { assertKey, type Store, type StoredObject } from './store.js';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * A destination in a local folder. Writes go to a temp name, are fsync'd, then renamed, and the folder is
 * fsync'd, so a reader (or a crash) never sees half an object. Never follows a symbolic link when creating.
 */
export class LocalStore implements Store {
  readonly kind = 'local' as const;
  readonly location: string;

  constructor(readonly root: string) {
    this.location = root;
  }

  /** The local path of a key. */
  pathOf(key: string): string {
    assertKey(key);
    return join(this.root, ...key.split('/'));
  }

  async publishFile(localPath: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    await fsyncPath(localPath);
    try {
      await rename(localPath, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another file system: copy to a temp name beside the target, then rename that.
      const temp = tempName(target);
      await copyFile(localPath, temp);
      await fsyncPath(temp);
      await rename(temp, target);
      await rm(localPath, { force: true });
    }
    await fsyncPath(dirname(target));
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = tempName(target);
    await writeFile(temp, body, { flag: 'wx', mode: 0o644, flush: true });
    await rename(temp, target);
    await fsyncPath(dirname(target));
  }

  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    // Written whole under a temp name first, then linked in exclusively: no reader sees a partial object.
    const temp = tempName(target);
    await writeFile(temp, body, { flag: 'wx', mode: 0o644, flush: true });
    try {
      const handle = await open(
        target,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      );
      await handle.close();
    } catch (err) {
      await rm(temp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    await rename(temp, target);
    await fsyncPath(dirname(target));
    return true;
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async download(key: string, localPath: string): Promise<boolean> {
    try {
      await copyFile(this.pathOf(key), localPath);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    // Only the folder that can hold matches is walked.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const start = base === '' ? this.root : this.pathOf(base);
    const found: StoredObject[] = [];
    await walk(start, async (path) => {
      const key = relative(this.root, path).split(sep).join('/');
      if (!key.startsWith(prefix) || isTemp(key)) return;
      const info = await stat(path);
      found.push({ key, size: info.size, modified: info.mtime });
    });
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async delete(keys: readonly string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      const path = this.pathOf(key);
      await rm(path, { force: true });
      folders.add(dirname(path));
    }
    for (const folder of folders)
      await fsyncPath(folder).catch((err) => (isMissing(err) ? undefined : Promise.reject(err)));
  }
}

const TEMP_SUFFIX = '.tmp-store';
const tempName = (target: string) =>
  `${target}.${process.pid}.${Math.random().toString(36).slice(2, 10)}${TEMP_SUFFIX}`;
const isTemp = (key: string) => key.endsWith(TEMP_SUFFIX);

async function walk(dir: string, visit: (path: string) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, visit);
    else if (entry.isFile()) await visit(path);
  }
}
