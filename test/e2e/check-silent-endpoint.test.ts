// `check` against endpoints that accept a connection and never answer (a wrong port on a proxy, a firewall
// that swallows packets): a platform's check is bounded, so check must answer FAILED naming the endpoint
// well within a minute, not retry 120 s timeouts for minutes (measured: no answer after 200 s, for the API
// and for the bucket alike).
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, emulatorConfig, tempDir, writeJson } from '../helpers/cli.js';

let silent: Server;
let url: string;
const sockets: Socket[] = [];
beforeAll(async () => {
  silent = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  silent.close();
});

describe('check against an endpoint that never answers', { timeout: 90_000 }, () => {
  it.each([
    ['the API', (dir: string) => emulatorConfig(url, join(dir, 'out'))],
    [
      'the bucket',
      () =>
        emulatorConfig('emulator', 's3://bucket/x', {
          s3: { endpoint: url, region: 'us-east-1', access_key_id: 'K', secret_access_key: 'S', path_style: true },
        }),
    ],
  ])('%s: FAILED within 60 s', async (_what, config) => {
    const dir = tempDir('claude-batch-check-silent-');
    const path = writeJson(dir, 'config.json', config(dir));
    // The process is stopped after 60 s (spawn's timeout): what it printed by then is its answer.
    const child = spawn(process.execPath, [CLI, 'check', '--config', path], {
      env: { PATH: process.env.PATH, CLAUDE_BATCH_WORK_DIR: join(dir, 'work') },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((resolve) => child.on('close', resolve));
    const status = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; connectionStatus?: { status: string } })
      .find((m) => m.type === 'CONNECTION_STATUS');
    expect(status?.connectionStatus?.status, out).toBe('FAILED');
  });
});
