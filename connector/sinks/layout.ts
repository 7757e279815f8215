import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { configError } from '../common/errors.js';

/** Folder holding the connector's own bookkeeping (journals, spools, manifests) inside the destination. */
export const CONTROL_DIR = '_claude_batch';

/** The Message Batches API's own address (config base_url's default). */
export const ANTHROPIC_API_URL = 'https://api.anthropic.com';

/**
 * The destination's result cache for answers from one API endpoint: an answer is only ever served to runs
 * against the endpoint that gave it, so an emulator's answers never pass for the real API's. The real API
 * keeps the plain `cache` folder; the embedded emulator has `cache-emulator`, any other address
 * `cache-<12 hex digits of its hash>`.
 */
export function resultCacheDir(destination: string, baseUrl: string): string {
  let name: string;
  if (baseUrl === 'emulator') name = 'cache-emulator';
  else {
    let url = baseUrl;
    try {
      const parsed = new URL(baseUrl);
      url = `${parsed.origin}${parsed.pathname}`;
    } catch {
      // Not a URL (config validation refuses those): hashed as written.
    }
    url = url.replace(/\/+$/, '');
    name = url === ANTHROPIC_API_URL ? 'cache' : `cache-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`;
  }
  return join(destination, CONTROL_DIR, name);
}

/** The folder of records without a namespace. */
export const DEFAULT_NAMESPACE_DIR = 'default';

const MAX_KEPT_CHARS = 100;
const HASH_HEX = 16;
/** What every renamed segment ends with; a name that already looks like this is renamed too. */
const RENAMED = new RegExp(`-[0-9a-f]{${HASH_HEX}}$`);
/** Segments that have a meaning in the layout: a stream or namespace never gets one of these folders. */
const RESERVED = new Set([CONTROL_DIR, DEFAULT_NAMESPACE_DIR]);

/**
 * Makes a stream or namespace name safe as one path segment inside the destination.
 *
 * A name made only of `[A-Za-z0-9_.-]`, not starting with a dot, at most 100 characters, not a reserved folder
 * name (`_claude_batch`, `default`, in any case) and not ending like a renamed segment is kept as it is.
 * Any other name (separators, `..`, control characters, `=` that Hive readers would take for a partition key,
 * unicode, empty, too long) has each unsafe character replaced by `_`, is cut to 100 characters, and gets `-`
 * and 16 hex digits of the SHA-256 of the original name. Kept names never end that way, so a kept name and a
 * renamed one never meet, and two renamed names only meet on a 64-bit hash collision.
 *
 * @example safeSegment('orders') // 'orders'
 * @example safeSegment('../etc') // '_._etc-' + 16 hex digits
 */
export function safeSegment(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .replace(/^\./, '_')
    .slice(0, MAX_KEPT_CHARS);
  const kept = cleaned === name && cleaned !== '' && !RENAMED.test(name) && !RESERVED.has(name.toLowerCase());
  if (kept) return cleaned;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_HEX);
  return `${cleaned || 'stream'}-${hash}`;
}

export function runControlDir(destination: string, runId: string): string {
  return join(destination, CONTROL_DIR, 'runs', safeSegment(runId));
}

/** The Hive partition key of the run folders; readers show it as a column (arrow-schema.ts keeps it free). */
export const PARTITION_KEY = 'run_id';

/** Partition folders handed out by partitionDir, with the destination they are under (for later checks). */
const partitionRoots = new Map<string, string>();

/**
 * `<destination>/<namespace>/<stream>/run_id=<run_id>`: Hive-style, so readers see run_id as a column. Records
 * without a namespace go to `default` (a namespace literally named "default" is renamed, see safeSegment).
 *
 * Before handing the path out it checks, with lstat, that none of the folders below the destination that
 * already exist is a symlink or not a folder: a planted link must not make us create folders or write files
 * outside the destination. Throws a config_error naming the link.
 */
export function partitionDir(destination: string, namespace: string | null, stream: string, runId: string): string {
  const segments = partitionSegments(namespace, stream, runId);
  const dir = join(destination, ...segments);
  assertNoLinksBelowSync(destination, segments);
  partitionRoots.set(resolve(dir), destination);
  return dir;
}

/** The segments of a partition below the destination: `<namespace>`, `<stream>`, `run_id=<run_id>`. */
export function partitionSegments(namespace: string | null, stream: string, runId: string): [string, string, string] {
  return [
    namespace === null || namespace === undefined ? DEFAULT_NAMESPACE_DIR : safeSegment(namespace),
    safeSegment(stream),
    `${PARTITION_KEY}=${safeSegment(runId)}`,
  ];
}

/** A partition as a Store key prefix (no trailing `/`): `<namespace>/<stream>/run_id=<run_id>`. */
export const partitionKey = (namespace: string | null, stream: string, runId: string): string =>
  partitionSegments(namespace, stream, runId).join('/');

/** A run's manifest as a Store key: the run's commit marker, written last. */
export const manifestKey = (runId: string): string => `${CONTROL_DIR}/runs/${safeSegment(runId)}/manifest.json`;

export function partFileName(batchSeq: number): string {
  return `part-${String(batchSeq).padStart(5, '0')}.parquet`;
}

function linkError(path: string, what: string) {
  return configError(
    'DESTINATION_LINK',
    `${path} is ${what}, inside destination_path; refusing to write through it (a planted link could send output anywhere). Remove it, or point destination_path at a folder this connector owns`,
  );
}

function assertNoLinksBelowSync(destination: string, segments: string[]): void {
  let path = destination;
  for (const segment of segments) {
    path = join(path, segment);
    let info;
    try {
      info = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (info.isSymbolicLink()) throw linkError(path, 'a symbolic link');
    if (!info.isDirectory()) throw linkError(path, 'not a folder');
  }
}

/**
 * Checks, with lstat, every path component from `root` (excluded: the configured destination itself may be a
 * link) down to `path` (included): each must exist and be a real folder, not a symlink. `path` must be inside
 * `root`. Throws a config_error naming the offending component.
 */
export async function assertNoLinksBelow(root: string, path: string): Promise<void> {
  const rel = relative(resolve(root), resolve(path));
  if (rel === '') return;
  if (rel.startsWith('..') || isAbsolute(rel))
    throw configError('DESTINATION_ESCAPE', `${path} is not inside the destination ${root}`);
  let at = root;
  for (const segment of rel.split(sep)) {
    at = join(at, segment);
    const info = await lstat(at);
    if (info.isSymbolicLink()) throw linkError(at, 'a symbolic link');
    if (!info.isDirectory()) throw linkError(at, 'not a folder');
  }
}

/**
 * Before a file is created in `dir`: re-checks (after the folders were made) that no component between the
 * destination and `dir` is a symlink. For a folder partitionDir handed out, that is every folder below the
 * destination; for any other folder, the folder itself.
 */
export async function assertSafeOutputDir(dir: string): Promise<void> {
  const root = partitionRoots.get(resolve(dir));
  if (root !== undefined) return assertNoLinksBelow(root, dir);
  const info = await lstat(dir);
  if (info.isSymbolicLink()) throw linkError(dir, 'a symbolic link');
  if (!info.isDirectory()) throw linkError(dir, 'not a folder');
}
