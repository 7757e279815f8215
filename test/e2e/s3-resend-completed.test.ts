// A new attempt of the same sync on a bucket, in a new pod: the run before it completed (every STATE on
// stdout, journaled complete) and was killed before it exited, and the platform re-sends everything. On a
// local folder the completed run's record fingerprints (written-records.bin) are beside its journal; on a
// bucket the new pod starts with an empty working folder, so they must come from the bucket, or every
// record is written twice and, with the new pod's empty result cache, paid for twice.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { paidTwice } from '../../emulator/index.js';
import { emulatorConfig, runCli, tempDir, traceErrors, writeJson, type CliResult } from '../helpers/cli.js';
import { catalogFor } from '../helpers/records.js';
import { downloadPrefix, expectEachIdOnce, freshInputs } from '../helpers/resume.js';
import { emulatorAndS3 } from '../helpers/s3.js';

const servers = emulatorAndS3();

const fresh = freshInputs('s3rc');

describe('on a bucket, a new attempt of a sync whose run completed but never exited', { timeout: 120_000 }, () => {
  it('same sync_id and generation_id, everything re-sent from a new pod: each record one row, nothing sent', async () => {
    const dir = tempDir('claude-batch-s3-resend-completed-');
    const prefix = `rc-${Math.random().toString(36).slice(2, 10)}`;
    const config = writeJson(
      dir,
      'config.json',
      emulatorConfig(servers.emu.url, `s3://${servers.s3.bucket}/${prefix}`, {
        max_requests_per_batch: 10,
        progress_interval_seconds: 0.2,
        api_patience_seconds: 5,
        s3: servers.s3.config(),
      }),
    );
    const catalog = catalogFor(['notes']) as { streams: Array<Record<string, unknown>> };
    Object.assign(catalog.streams[0]!, { sync_id: 4242, generation_id: 3, minimum_generation_id: 0 });
    const catalogPath = writeJson(dir, 'catalog.json', catalog);
    let pods = 0;
    const write = (stdin: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
      runCli(['write', '--config', config, '--catalog', catalogPath], {
        stdin: stdin.join('\n') + '\n',
        env: { CLAUDE_BATCH_WORK_DIR: join(dir, `pod-${++pods}`), ...env },
      });
    const { input, ids } = fresh();

    const first = await write(input, { CLAUDE_BATCH_FAILPOINT: 'after_run_completed' });
    expect(first.signal, first.stderr).toBe('SIGKILL');
    const states = input.filter((l) => l.includes('"STATE"')).length;
    expect(
      first.messages.filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes'),
    ).toHaveLength(states);

    const creates = servers.emu.calls.create;
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    expect(traceErrors(second.messages)).toEqual([]);
    expect(servers.emu.calls.create - creates, 'creates by the new attempt').toBe(0);
    const rows = await expectEachIdOnce(await downloadPrefix(servers.s3.store(prefix)), ids);
    const twice = paidTwice(servers.emu.submissionLog());
    expect(rows.map((r) => String(r.custom_id)).filter((id) => twice.has(id))).toEqual([]);
  });
});
