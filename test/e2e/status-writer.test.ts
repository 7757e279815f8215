// `status` on a local destination tells a run being written from one whose writer is gone by the owner of
// write.lock (`<pid>@<host>`): a live process there makes the newest unfinished run `running (pid …)`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { statusCommand } from '../../connector/commands/status.js';
import type { BatchesApi, MessageBatch } from '../../connector/ports/batches-api.js';
import { emulatorConfig, runCli, tempDir, writeJson } from '../helpers/cli.js';
import { catalogFor } from '../helpers/records.js';
import { freshInputs } from '../helpers/resume.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(async () => {
  await emu?.close();
});

const api = {
  retrieve: async (id: string) =>
    ({ id, processing_status: 'in_progress', request_counts: { processing: 1 } }) as unknown as MessageBatch,
} as unknown as BatchesApi;
const sink = () => new Writable({ write: (_c, _e, done) => done() });

describe('status on a local destination', { timeout: 60_000 }, () => {
  it('shows the run of a live write.lock owner as running, and as interrupted once that owner is gone', async () => {
    const dir = tempDir('claude-batch-status-');
    const destination = join(dir, 'out');
    const config = writeJson(dir, 'config.json', emulatorConfig(emu.url, destination, { max_requests_per_batch: 10 }));
    const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
    const killed = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: freshInputs('stw')().input.join('\n') + '\n',
      env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' },
    });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const [gone] = await statusCommand({ config, json: true }, sink(), { api });
    expect(gone!.phase).toBe('interrupted');

    // A live process on this host owns the lock, written as a write writes it.
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(destination, '_claude_batch', 'write.lock'), `${owner.pid}@${hostname()}`);
      const [live] = await statusCommand({ config, json: true }, sink(), { api });
      expect(live).toMatchObject({ run_id: gone!.run_id, phase: `running (pid ${owner.pid})` });
    } finally {
      const exited = once(owner, 'exit');
      owner.kill('SIGKILL');
      await exited;
    }
    const [after] = await statusCommand({ config, json: true }, sink(), { api });
    expect(after!.phase).toBe('interrupted');
  });
});
