// A real S3 API server on loopback for the tests: s3rver (filesystem-backed, speaks the S3 REST API over HTTP)
// in a child process (s3rver-main.mjs), on a free port with its own temp folder and one bucket.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { S3Store, type S3StoreOptions } from '../../connector/storage/s3-store.js';

/** s3rver's one account. s3rver checks the key id but not the V4 signature, so a wrong secret passes there. */
export const S3RVER_KEY = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3Server {
  endpoint: string;
  bucket: string;
  /** Every request served so far, as `METHOD path?query` (path-style: `/bucket/key`), in arrival order. */
  requests(): Promise<string[]>;
  /** An S3Store on this server's bucket under `prefix`. */
  store(prefix?: string, options?: Partial<S3StoreOptions>): S3Store;
  /** The connector's `s3` config block for this server. */
  config(): { endpoint: string; region: string; access_key_id: string; secret_access_key: string; path_style: boolean };
  /** Kills the server (its port then refuses connections); the folder stays until cleanup(). */
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startS3(bucket = 'test-bucket'): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const child: ChildProcess = fork(join(import.meta.dirname, 's3rver-main.mjs'), [directory, bucket], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [hello] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(() => Promise.reject(new Error('s3rver exited before listening'))),
  ])) as [{ port: number }];
  const endpoint = `http://127.0.0.1:${hello.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  return {
    endpoint,
    bucket,
    requests: async () => {
      const reply = once(child, 'message');
      child.send('log');
      return ((await reply)[0] as { log: string[] }).log;
    },
    store: (prefix = '', options = {}) =>
      new S3Store({
        bucket,
        prefix,
        endpoint,
        region: 'us-east-1',
        pathStyle: true,
        credentials: S3RVER_KEY,
        maxAttempts: 2,
        ...options,
      }),
    config: () => ({
      endpoint,
      region: 'us-east-1',
      access_key_id: S3RVER_KEY.accessKeyId,
      secret_access_key: S3RVER_KEY.secretAccessKey,
      path_style: true,
    }),
    stop,
    cleanup: async () => {
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * An emulator (key `test-key`) and an s3rver for one test file: started before its tests, stopped after.
 * Read `servers.emu` and `servers.s3` inside tests and hooks (they are set once the servers run).
 */
export function emulatorAndS3(): { emu: RunningEmulator; s3: S3Server } {
  const servers = {} as { emu: RunningEmulator; s3: S3Server };
  beforeAll(async () => {
    [servers.emu, servers.s3] = await Promise.all([startEmulator({ apiKeys: ['test-key'] }), startS3()]);
  });
  afterAll(async () => {
    await servers.emu?.close();
    await servers.s3?.cleanup();
  });
  return servers;
}
