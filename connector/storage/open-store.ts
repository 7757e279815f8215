import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configError } from '../common/errors.js';
import { LocalStore } from './local-store.js';
import { S3_DEFAULTS, S3Store, type ConditionalWrites } from './s3-store.js';
import type { CallLimits } from '../types/shared.js';
import type { Store } from './store.js';

/** The config's `s3` block (spec/spec.json): how to reach the bucket named in destination_path. */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  path_style?: boolean;
  conditional_writes?: ConditionalWrites;
}

const S3_URL = /^s3:\/\/([^/]*)(?:\/(.*))?$/;
/** S3's bucket naming rules (which R2, MinIO and GCS share in substance). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Whether destination_path names a bucket (`s3://bucket/prefix`) rather than a local folder. */
export const isObjectDestination = (destinationPath: string): boolean => destinationPath.startsWith('s3://');

/**
 * `s3://bucket/some/prefix` → bucket and key prefix (no leading or trailing `/`). Throws a config_error for a
 * bucket name S3 would refuse or a prefix with empty, `.` or `..` segments.
 */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = S3_URL.exec(url);
  const bucket = m?.[1] ?? '';
  if (!m || !BUCKET.test(bucket) || bucket.includes('..')) {
    throw configError(
      'CONFIG_INVALID',
      `destination_path ${JSON.stringify(url)} does not name a bucket: expected s3://<bucket>/<optional prefix>, the bucket 3 to 63 characters of a-z, 0-9, "." and "-"`,
    );
  }
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '' && prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw configError(
      'CONFIG_INVALID',
      `destination_path ${JSON.stringify(url)}: the prefix after the bucket must not have empty, "." or ".." segments`,
    );
  }
  return { bucket, prefix };
}

/** Checks the storage settings of a config (called by parseConfig); throws config_error. */
export function validateStorageSettings(config: { destination_path: string; s3?: S3Settings }): void {
  if (!isObjectDestination(config.destination_path)) return;
  parseS3Url(config.destination_path);
  const s3 = config.s3 ?? {};
  if (Boolean(s3.access_key_id) !== Boolean(s3.secret_access_key)) {
    throw configError(
      'CONFIG_INVALID',
      's3: give both access_key_id and secret_access_key, or neither (then the default AWS credential chain is used: environment, shared config files, web identity, instance or task role)',
    );
  }
  if (s3.session_token && !s3.access_key_id)
    throw configError('CONFIG_INVALID', 's3: session_token needs access_key_id and secret_access_key');
}

/** The Store of a config's destination_path: a LocalStore for a folder, an S3Store for `s3://bucket/prefix`. */
export function openStore(config: { destination_path: string; s3?: S3Settings }, limits?: CallLimits): Store {
  if (!isObjectDestination(config.destination_path)) return new LocalStore(config.destination_path);
  const { bucket, prefix } = parseS3Url(config.destination_path);
  const s3 = config.s3 ?? {};
  return new S3Store({
    bucket,
    prefix,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.region ? { region: s3.region } : {}),
    ...(s3.access_key_id && s3.secret_access_key
      ? {
          credentials: {
            accessKeyId: s3.access_key_id,
            secretAccessKey: s3.secret_access_key,
            ...(s3.session_token ? { sessionToken: s3.session_token } : {}),
          },
        }
      : {}),
    ...(s3.path_style !== undefined ? { pathStyle: s3.path_style } : {}),
    conditionalWrites: s3.conditional_writes ?? 'auto',
    ...(limits
      ? {
          maxAttempts: limits.retries + 1,
          requestTimeoutMs: limits.timeoutMs,
          connectTimeoutMs: Math.min(limits.timeoutMs, S3_DEFAULTS.connectTimeoutMs),
        }
      : {}),
  });
}

/**
 * The local working folder of a destination: the destination itself for a local folder; for an object store,
 * a folder on this machine named after the bucket location (under $CLAUDE_BATCH_WORK_DIR, else the OS temp
 * folder). It holds what a process writes at disk speed before it goes to the Store: Parquet files being
 * staged (sinks/store-output.ts) and the control state's scratch (journal/control.ts). A new pod may start
 * with it empty.
 */
export function localWorkRoot(config: { destination_path: string }): string {
  if (!isObjectDestination(config.destination_path)) return config.destination_path;
  const base = process.env.CLAUDE_BATCH_WORK_DIR || join(tmpdir(), 'destination-claude-batch');
  return join(
    base,
    createHash('sha256').update(config.destination_path.replace(/\/+$/, '')).digest('hex').slice(0, 16),
  );
}
