/**
 * Where a destination's files live: a local folder or an object-store prefix (S3 and its kin). Sinks, journal,
 * spool and lock go through this interface, so the pipeline never knows which it has.
 *
 * Keys are `/`-separated paths relative to the destination root (`orders/run_id=r1/part-0.parquet`,
 * `_claude_batch/runs/r1/journal/00000001.json`): never empty, never starting with `/`, no `.` or `..`
 * segments (`assertKey`).
 */
export interface Store {
  readonly kind: 'local' | 'object';
  /** For logs, STATE stats and the manifest: `/local/out` or `s3://bucket/prefix`. Never holds credentials. */
  readonly location: string;
  /**
   * Makes a finished local file visible as `key`, whole or not at all (a rename on disk, a completed multipart
   * upload in a bucket), replacing any object with that key. The local file is consumed: moved or deleted.
   */
  publishFile(localPath: string, key: string): Promise<void>;
  /** Writes `body` as `key`, whole or not at all, replacing any existing object; durable once it resolves. */
  put(key: string, body: string | Uint8Array): Promise<void>;
  /**
   * Writes `body` as `key` only if no object has that key yet; resolves false (writing nothing) if one does.
   * On disk an exclusive create; in a bucket a conditional write (`If-None-Match: *`) where the server has it.
   */
  putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Copies the object to a local file (replacing it); false when there is no such object. */
  download(key: string, localPath: string): Promise<boolean>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Deletes the keys; keys with no object are fine. */
  delete(keys: readonly string[]): Promise<void>;
}

export interface StoredObject {
  key: string;
  size: number;
  modified: Date;
}

/** Throws unless `key` is a well-formed relative key (see Store). */
export function assertKey(key: string): void {
  const bad =
    key === '' ||
    key.startsWith('/') ||
    key.endsWith('/') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    key.includes('\0');
  if (bad) throw new TypeError(`not a storage key: ${JSON.stringify(key)}`);
}

/** Joins key segments with `/` (each segment already safe: see sinks/layout.ts safeSegment). */
export const storageKey = (...segments: string[]): string => segments.join('/');
