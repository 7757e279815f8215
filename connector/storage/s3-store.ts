import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { registerSecret } from '../common/errors.js';
import { assertKey, type Store, type StoredObject } from './store.js';
import { isNotFound, isNotImplemented, isPreconditionFailed, storageError } from './s3-errors.js';

/** How a bucket refuses a second writer of a key (see S3Store.putIfAbsent). */
export type ConditionalWrites = 'auto' | 'native' | 'emulated';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/` ('' for the bucket's root). */
  prefix: string;
  /** An S3-compatible server's address (MinIO, R2, GCS interop, s3rver); unset: AWS S3 itself. */
  endpoint?: string;
  /** Default: us-east-1 (most S3-compatible servers accept any region). */
  region?: string;
  /** Unset: the SDK's default credential chain (environment, shared files, SSO, web identity, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key`; most S3-compatible servers need it. */
  pathStyle?: boolean;
  conditionalWrites?: ConditionalWrites;
  /** Attempts per request, the first included (SDK standard retry: exponential backoff with jitter on 5xx, throttling, network errors). */
  maxAttempts?: number;
  /** Milliseconds to connect, and without a byte on an open request, before it counts as failed (and is retried). */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Multipart part size in bytes (at least 5 MiB); a file no larger goes in one PutObject. */
  partSize?: number;
  /** Keys per ListObjectsV2 page (S3's maximum, and default, is 1,000). */
  listPageSize?: number;
  /** Keys per DeleteObjects request (S3's maximum, and default, is 1,000). */
  deleteChunkSize?: number;
}

/** The defaults: 8 MiB parts, 2 in flight (at most 16 MiB of a file in memory), 6 attempts per request. */
export const S3_DEFAULTS = {
  partSize: 8 * 1024 * 1024,
  queueSize: 2,
  maxAttempts: 6,
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
} as const;
/** ListObjectsV2 returns, and DeleteObjects takes, at most this many keys per request. */
const MAX_KEYS = 1000;

/**
 * A destination in an S3 bucket (or an S3-compatible one: MinIO, R2, GCS through its XML API, s3rver).
 *
 * Whole or nothing: publishFile is a multipart upload, which S3 only shows once CompleteMultipartUpload
 * succeeds (a failed one is aborted, leaving nothing); a file of at most one part is one PutObject, atomic too.
 * Nothing here ever puts a credential into a message: errors are rebuilt from the SDK's error name, status and
 * message (s3-errors.ts), and the secret key and session token are registered for redaction.
 */
export class S3Store implements Store {
  readonly kind = 'object' as const;
  readonly location: string;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly listPageSize: number;
  private readonly deleteChunkSize: number;
  private conditional: Promise<'native' | 'emulated'> | undefined;

  constructor(options: S3StoreOptions, client?: S3Client) {
    this.bucket = options.bucket;
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.location = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSize ?? S3_DEFAULTS.partSize);
    this.listPageSize = Math.min(MAX_KEYS, options.listPageSize ?? MAX_KEYS);
    this.deleteChunkSize = Math.min(MAX_KEYS, options.deleteChunkSize ?? MAX_KEYS);
    registerSecret(options.credentials?.secretAccessKey);
    registerSecret(options.credentials?.sessionToken);
    if (options.conditionalWrites && options.conditionalWrites !== 'auto')
      this.conditional = Promise.resolve(options.conditionalWrites);
    // The SDK warns on stderr, once per process, that its releases after January 2027 need Node 22: not the
    // user's business in a sync log (this connector supports Node >= 20.19 with the locked SDK version).
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = client ?? new S3Client(clientConfig(options));
  }

  /** The bucket key of a store key. */
  objectKey(key: string): string {
    assertKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private where(key?: string): string {
    return key === undefined ? this.location : `${this.location}/${key}`;
  }

  async publishFile(localPath: string, key: string): Promise<void> {
    const Key = this.objectKey(key);
    const body = createReadStream(localPath);
    try {
      const size = (await stat(localPath)).size;
      if (size <= this.partSize) {
        // One request; S3 shows a PutObject whole or not at all.
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: size }));
      } else {
        // A failed multipart upload is aborted here rather than by lib-storage, whose own abort replaces the
        // upload's error with the abort's when that fails too (s3rver has no AbortMultipartUpload: 405).
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key, Body: body },
          partSize: this.partSize,
          queueSize: S3_DEFAULTS.queueSize,
          leavePartsOnError: true,
        });
        try {
          await upload.done();
        } catch (err) {
          // Best effort: parts an abort cannot remove are left to the bucket's AbortIncompleteMultipartUpload
          // lifecycle rule (README); the object itself never became visible either way.
          if (upload.uploadId)
            await this.client
              .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.uploadId }))
              .catch(() => undefined);
          throw err;
        }
      }
    } catch (err) {
      throw storageError('upload', this.where(key), err);
    } finally {
      body.destroy();
    }
    await rm(localPath, { force: true });
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body }));
    } catch (err) {
      throw storageError('write', this.where(key), err);
    }
  }

  /**
   * A conditional PutObject (`If-None-Match: *`) where the server honours it (AWS S3 since August 2024, R2,
   * MinIO): a second writer gets 412 and nothing changes. Some servers accept the header and ignore it (s3rver
   * overwrites): with `conditional_writes: auto` a probe on first use finds out (two conditional writes of a
   * fresh key: the second must be refused), and such a server gets the emulated form, see putIfAbsentEmulated.
   */
  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const Key = this.objectKey(key);
    const mode = await (this.conditional ??= this.probeConditionalWrites());
    if (mode === 'emulated') return this.putIfAbsentEmulated(key, body);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, IfNoneMatch: '*' }));
      return true;
    } catch (err) {
      // 409 ConditionalRequestConflict: another conditional write of the key is in progress; it wins.
      if (isPreconditionFailed(err)) return false;
      throw storageError('write', this.where(key), err);
    }
  }

  /**
   * For servers without conditional writes: HEAD (taken: false), else PUT with a random token in the object's
   * metadata, then read the metadata back: true only if the token is still ours. This refuses a writer that
   * comes after the object exists and one whose PUT was overwritten before its read-back. It leaves one race:
   * two writers that both miss in the HEAD, where A puts and reads back before B puts and reads back, both get
   * true (and B's body wins). A lease built on it must therefore re-read its object before acting on it and
   * treat a changed owner as lost; or use a server with real conditional writes.
   */
  async putIfAbsentEmulated(key: string, body: string | Uint8Array): Promise<boolean> {
    const Key = this.objectKey(key);
    const token = randomBytes(12).toString('hex');
    try {
      if (await this.exists(Key)) return false;
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, Metadata: { 'claude-batch-writer': token } }),
      );
      const back = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return back.Metadata?.['claude-batch-writer'] === token;
    } catch (err) {
      throw storageError('write', this.where(key), err);
    }
  }

  /** Whether the server refuses a second `If-None-Match: *` write of a key (see putIfAbsent). */
  async probeConditionalWrites(): Promise<'native' | 'emulated'> {
    const key = this.objectKey(`_claude_batch/probe/conditional-${Date.now()}-${randomBytes(6).toString('hex')}`);
    const attempt = async () => {
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: 'probe', IfNoneMatch: '*' }),
        );
        return 'written' as const;
      } catch (err) {
        if (isPreconditionFailed(err)) return 'refused' as const;
        if (isNotImplemented(err)) return 'unsupported' as const;
        throw storageError('write', this.where(), err);
      }
    };
    try {
      const first = await attempt();
      if (first === 'unsupported') return 'emulated';
      return (await attempt()) === 'refused' ? 'native' : 'emulated';
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
    }
  }

  private async exists(Key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw storageError('read', this.where(key), err);
    }
  }

  async download(key: string, localPath: string): Promise<boolean> {
    const Key = this.objectKey(key);
    const temp = `${localPath}.${process.pid}.${randomBytes(4).toString('hex')}.download`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      await pipeline(out.Body as Readable, createWriteStream(temp, { mode: 0o600 }));
      await rename(temp, localPath);
      return true;
    } catch (err) {
      await rm(temp, { force: true });
      if (isNotFound(err)) return false;
      throw storageError('read', this.where(key), err);
    }
  }

  /** ListObjectsV2, a page (up to 1,000 keys) at a time, each page yielded before the next is asked for. */
  async *list(prefix: string): AsyncIterable<StoredObject> {
    const root = this.prefix ? `${this.prefix}/` : '';
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: root + prefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (err) {
        throw storageError('list', this.where(prefix || undefined), err);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(root.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** DeleteObjects, 1,000 keys a request; a server without it gets one DeleteObject per key. */
  async delete(keys: readonly string[]): Promise<void> {
    const objectKeys = keys.map((k) => this.objectKey(k));
    for (let i = 0; i < objectKeys.length; i += this.deleteChunkSize) {
      const chunk = objectKeys.slice(i, i + this.deleteChunkSize);
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length) {
          const first = failed[0]!;
          throw storageError('delete', this.where(first.Key?.slice(this.prefix ? this.prefix.length + 1 : 0)), {
            name: first.Code ?? 'DeleteError',
            message: `${failed.length} of ${chunk.length} keys not deleted: ${first.Message ?? ''}`,
          });
        }
      } catch (err) {
        if (!isNotImplemented(err)) throw storageError('delete', this.where(), err);
        for (const Key of chunk) {
          try {
            await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
          } catch (e) {
            if (!isNotFound(e)) throw storageError('delete', this.where(), e);
          }
        }
      }
    }
  }

  /** Closes the client's sockets (the store is unusable afterwards). */
  close(): void {
    this.client.destroy();
  }
}

function clientConfig(o: S3StoreOptions): S3ClientConfig {
  return {
    region: o.region || 'us-east-1',
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.pathStyle ?? Boolean(o.endpoint),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    maxAttempts: o.maxAttempts ?? S3_DEFAULTS.maxAttempts,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: o.connectTimeoutMs ?? S3_DEFAULTS.connectTimeoutMs,
      requestTimeout: o.requestTimeoutMs ?? S3_DEFAULTS.requestTimeoutMs,
      // Without it the handler only logs a warning when requestTimeout passes and the request waits on for good
      // (a server that accepts and never answers would hold a write or a check forever).
      throwOnRequestTimeout: true,
    },
    // Checksums only where the API requires them (DeleteObjects): the newer default (a CRC on every upload,
    // sent as an aws-chunked trailer) is not understood by several S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}
