import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../storage/store.js';
import { localWorkRoot, openStore, type S3Settings } from '../storage/open-store.js';
import { partFileName, partitionKey } from './layout.js';
import type { Publisher } from './parquet-file.js';

/**
 * Parquet output into an object store. Each file is written whole to a local staging folder (as on disk,
 * under a hidden temp name), then published with Store.publishFile under the same layout key a local
 * destination uses (`<namespace>/<stream>/run_id=<run>/part-<seq>.parquet`): a multipart upload that
 * becomes visible only once complete. Tallies and the manifest name files by their full location
 * (`s3://bucket/prefix/<key>`), as they name local files by their path.
 */
export interface ObjectOutput {
  store: Store;
  /** Local scratch for files being written; each one leaves it when published (or aborted). */
  stagingRoot: string;
}

/**
 * An ObjectOutput for an object-store destination; undefined for a local folder (files go straight there).
 * Files are staged in the destination's local working folder, laid out as the destination is
 * (`<work>/<namespace>/<stream>/run_id=<run>/.part-….tmp`), so the clean-up of a resumed run
 * (RunSession.cleanLeftovers) finds what a killed process left there.
 */
export function objectOutputFor(config: { destination_path: string; s3?: S3Settings }, stagingRoot = localWorkRoot(config)): ObjectOutput | undefined {
  const store = openStore(config);
  return store.kind === 'object' ? { store, stagingRoot } : undefined;
}

/** Where one stream's output of one batch goes: its final name and the publisher that puts it there. */
export async function objectTarget(out: ObjectOutput, namespace: string | null, stream: string, runId: string, seq: number): Promise<{ path: string; publisher: Publisher }> {
  const key = partitionKey(namespace, stream, runId);
  const stagingDir = join(out.stagingRoot, ...key.split('/'));
  await mkdir(stagingDir, { recursive: true, mode: 0o700 });
  const prefix = `${out.store.location}/`;
  return {
    path: `${prefix}${key}/${partFileName(seq)}`,
    publisher: {
      stagingDir,
      publish: (tempPath, finalPath) => out.store.publishFile(tempPath, finalPath.slice(prefix.length)),
    },
  };
}
