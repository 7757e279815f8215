import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * Makes a stream or namespace name safe as one path segment. Anything that could escape the destination
 * or collide (separators, `..`, control characters, a leading dot) is replaced, and a changed name gets a
 * short hash of the original so two different names never share a folder.
 */
export function safeSegment(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.=-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  if (cleaned === name && cleaned !== '') return cleaned;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${cleaned || 'stream'}-${hash}`;
}

/** Folder holding the connector's own bookkeeping (journals, spools, manifests) inside the destination. */
export const CONTROL_DIR = '_claude_batch';

export function runControlDir(destination: string, runId: string): string {
  return join(destination, CONTROL_DIR, 'runs', safeSegment(runId));
}

/** `<destination>/<namespace>/<stream>/run_id=<run_id>`: Hive-style, so readers see run_id as a column. */
export function partitionDir(destination: string, namespace: string | null, stream: string, runId: string): string {
  return join(destination, safeSegment(namespace ?? 'default'), safeSegment(stream), `run_id=${safeSegment(runId)}`);
}

export function partFileName(batchSeq: number): string {
  return `part-${String(batchSeq).padStart(5, '0')}.parquet`;
}
