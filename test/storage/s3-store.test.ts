// Runs the Store contract against S3Store on a real S3 API server (s3rver on loopback), and checks what is
// particular to a bucket: the conditional-write probe, multipart publish, paged listing, errors without secrets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../connector/storage/s3-store.js';
import { ConnectorError } from '../../connector/common/errors.js';
import { describeStoreContract } from './store-contract.js';
import { S3RVER_KEY, startS3, type S3Server } from '../helpers/s3.js';

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.cleanup();
});

// Each test gets its own prefix in the one bucket, so they cannot see each other's keys.
describeStoreContract('S3Store', async () => s3.store(`contract-${randomBytes(4).toString('hex')}`));

describe('S3Store on s3rver', () => {
  it('finds that s3rver ignores If-None-Match on PUT, and emulates putIfAbsent there', async () => {
    const store = s3.store(`probe-${randomBytes(4).toString('hex')}`);
    expect(await store.probeConditionalWrites()).toBe('emulated');
    // Trusting the header on this server would let a second writer through: that is why the probe exists.
    const native = s3.store(store.location.split('/').pop()!, { conditionalWrites: 'native' });
    expect(await native.putIfAbsent('k', 'one')).toBe(true);
    expect(await native.putIfAbsent('k', 'two')).toBe(true);
    expect((await native.get('k'))?.toString()).toBe('two');
    // The probe leaves nothing behind.
    const left: string[] = [];
    for await (const o of store.list('_claude_batch/')) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('lists page by page and deletes in chunks (page and chunk sizes lowered from 1,000 to 2)', async () => {
    const store = s3.store(`many-${randomBytes(4).toString('hex')}`, { listPageSize: 2, deleteChunkSize: 2 });
    const keys = ['d/k0', 'd/k1', 'd/k2', 'd/k3', 'd/k4'];
    for (const k of keys) await store.put(k, 'x');
    const before = (await s3.requests()).length;
    const listed: string[] = [];
    for await (const o of store.list('d/')) listed.push(o.key);
    expect(listed).toEqual(keys);
    const listing = (await s3.requests()).slice(before);
    expect(listing).toHaveLength(3);
    expect(listing.every((r) => r.startsWith('GET ') && r.includes('list-type=2'))).toBe(true);
    expect(listing.filter((r) => r.includes('continuation-token='))).toHaveLength(2);
    const mark = (await s3.requests()).length;
    await store.delete([...keys, 'd/never']);
    const deletes = (await s3.requests()).slice(mark);
    expect(deletes).toHaveLength(3);
    expect(deletes.every((r) => r.startsWith('POST ') && r.includes('delete'))).toBe(true);
    const after: string[] = [];
    for await (const o of store.list('d/')) after.push(o.key);
    expect(after).toEqual([]);
  });

  it('publishes a file larger than a part as a multipart upload, visible whole once completed', async () => {
    const store = s3.store(`mp-${randomBytes(4).toString('hex')}`, { partSize: 5 * 1024 * 1024 });
    const local = join(mkdtempSync(join(tmpdir(), 's3-mp-')), 'big.parquet');
    const body = randomBytes(11 * 1024 * 1024 + 5);
    writeFileSync(local, body);
    const mark = (await s3.requests()).length;
    await store.publishFile(local, 'big/part-00000.parquet');
    const served = (await s3.requests()).slice(mark);
    expect(served.filter((r) => r.startsWith('POST ') && r.includes('?uploads'))).toHaveLength(1);
    expect(served.filter((r) => r.startsWith('PUT ') && r.includes('partNumber='))).toHaveLength(3);
    expect(served.filter((r) => r.startsWith('POST ') && r.includes('uploadId='))).toHaveLength(1);
    expect(existsSync(local)).toBe(false);
    expect((await store.get('big/part-00000.parquet'))?.equals(body)).toBe(true);
  });

  it("aborts a multipart upload whose part fails, reporting the part's error: no object appears", async () => {
    const prefix = `mpfail-${randomBytes(4).toString('hex')}`;
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_KEY,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    // The second part is refused (the request never leaves the client); every other request reaches s3rver.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber?: number }).PartNumber === 2) {
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const store = new S3Store({ bucket: s3.bucket, prefix, partSize: 5 * 1024 * 1024 }, client);
    const local = join(mkdtempSync(join(tmpdir(), 's3-mp-')), 'big.parquet');
    writeFileSync(local, randomBytes(11 * 1024 * 1024));
    const mark = (await s3.requests()).length;
    await expect(store.publishFile(local, 'big/part-00000.parquet')).rejects.toMatchObject({
      failureType: 'config_error',
      code: 'STORAGE_ACCESS_DENIED',
    });
    const served = (await s3.requests()).slice(mark);
    // The abort is sent (s3rver answers it 405: it has no AbortMultipartUpload), and no completion.
    expect(served.filter((r) => r.startsWith('DELETE ') && r.includes('uploadId='))).toHaveLength(1);
    expect(served.filter((r) => r.startsWith('POST ') && r.includes('uploadId='))).toHaveLength(0);
    expect(await store.get('big/part-00000.parquet')).toBeUndefined();
  });

  it('falls back to one DeleteObject per key on a server that answers DeleteObjects with NotImplemented', async () => {
    const prefix = `nodelete-${randomBytes(4).toString('hex')}`;
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_KEY,
    });
    // Stands in for a server without Multi-Object Delete (the request never leaves the client).
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectsCommand')
          throw Object.assign(new Error('A header you provided implies functionality that is not implemented'), {
            name: 'NotImplemented',
            $metadata: { httpStatusCode: 501 },
          });
        return next(args);
      },
      { step: 'initialize' },
    );
    const store = new S3Store({ bucket: s3.bucket, prefix }, client);
    await store.put('a', '1');
    await store.put('b', '2');
    const mark = (await s3.requests()).length;
    await store.delete(['a', 'b', 'never']);
    expect((await s3.requests()).slice(mark).filter((r) => r.startsWith('DELETE '))).toHaveLength(3);
    expect(await store.get('a')).toBeUndefined();
    expect(await store.get('b')).toBeUndefined();
  });

  it('names a missing bucket as a config error', async () => {
    const store = new S3Store({
      bucket: 'no-such-bucket',
      prefix: 'p',
      endpoint: s3.endpoint,
      pathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    const err = await store.put('a', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ failureType: 'config_error', code: 'STORAGE_NO_BUCKET' });
    expect((err as Error).message).toContain('s3://no-such-bucket/p/a');
  });

  it('reports a refused key as access denied without the secret', async () => {
    const secret = `wJalrXUtnFEMI-${randomBytes(8).toString('hex')}`;
    const store = new S3Store({
      bucket: s3.bucket,
      prefix: 'p',
      endpoint: s3.endpoint,
      pathStyle: true,
      credentials: { accessKeyId: 'AKIAUNKNOWNKEY', secretAccessKey: secret, sessionToken: `tok-${secret}` },
    });
    const err = (await store.put('a', 'x').catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ failureType: 'config_error', code: 'STORAGE_ACCESS_DENIED' });
    expect(`${err.message}${err.stack}${JSON.stringify(err)}${String(err.cause)}`).not.toContain(secret);
  });

  it('reports an endpoint that refuses connections as transient', async () => {
    const other = await startS3();
    const store = other.store('p', { maxAttempts: 2 });
    await other.cleanup();
    const err = (await store.get('a').catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ failureType: 'transient_error', code: 'STORAGE_UNAVAILABLE' });
    expect(err.message).toMatch(/cannot be reached/);
  });

  it('gives up on an endpoint that accepts connections and never answers, after its timeout per attempt', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const store = new S3Store({
        bucket: 'b',
        prefix: 'p',
        endpoint: `http://127.0.0.1:${port}`,
        pathStyle: true,
        credentials: { accessKeyId: 'K', secretAccessKey: 'S' },
        maxAttempts: 2,
        requestTimeoutMs: 500,
      });
      // Without throwOnRequestTimeout the SDK only warns, and this call never settles (the test times out).
      const err = (await store.get('a').catch((e: unknown) => e)) as ConnectorError;
      expect(err).toMatchObject({ failureType: 'transient_error', code: 'STORAGE_UNAVAILABLE' });
      expect(sockets).toHaveLength(2);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
