// Crash safety on a bucket, where each attempt is a new pod: the built CLI writes to s3:// on a real S3 API
// server (s3rver on loopback) and every write starts with an empty working folder of its own, so all it can
// resume from is what the bucket holds. Killed at each step (a failpoint SIGKILLs it) and restarted as a
// platform restarts a sync, it pays for nothing twice (the emulator's submission log) and writes each record
// once (DuckDB over the downloaded Parquet); submit_only hands its batches over across three pods; and a
// second writer is kept out by the lease while the first is alive.
import { describe, expect, it } from 'vitest';
import { paidTwice, startEmulator } from '../../emulator/index.js';
import { traceErrors } from '../helpers/cli.js';
import {
  KILL_STAGES,
  destinationSetup,
  expectEachIdOnce,
  freshInputs,
  journalsOf,
  resendAfterLastState,
  submittedSince,
} from '../helpers/resume.js';
import { emulatorAndS3 } from '../helpers/s3.js';

const servers = emulatorAndS3();

const fresh = freshInputs('s3r');
const allOnce = (sent: Map<string, number>) => [...sent.values()].every((n) => n === 1);
const types = (journal: Array<Record<string, any>>) => journal.map((e) => e.type as string);

describe('on a bucket, resumed by a new pod', { timeout: 120_000 }, () => {
  it.each(KILL_STAGES)(
    'killed at %s (%s): the next pod submits nothing twice and writes each record once',
    async (failpoint) => {
      const setup = destinationSetup(servers.emu, {}, { bucket: servers.s3 });
      const { input, ids } = fresh();
      const before = new Map(servers.emu.submissions());
      const batchesBefore = (await servers.emu.batches()).length;

      const first = await setup.write(input, { env: { CLAUDE_BATCH_FAILPOINT: failpoint } });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      const second = await setup.write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      // Two pods, two working folders: the second started with nothing on its disk.
      expect(setup.workDirs).toHaveLength(2);

      const rows = await expectEachIdOnce(await setup.local(), ids);
      const sent = submittedSince(
        servers.emu,
        before,
        rows.map((r) => String(r.custom_id)),
      );
      expect(allOnce(sent), JSON.stringify([...sent])).toBe(true);
      expect((await servers.emu.batches()).length - batchesBefore).toBe(3);
      expect(
        [...paidTwice(servers.emu.submissionLog()).keys()].filter((id) => rows.some((r) => r.custom_id === id)),
      ).toEqual([]);

      // One run, resumed: its journal is in the bucket, compacted once complete, and its spool is gone.
      const [journal, ...others] = await journalsOf(setup.store!());
      expect(others).toEqual([]);
      expect(types(journal!).filter((t) => t === 'run_started')).toHaveLength(1);
      expect(types(journal!).filter((t) => t === 'attempt_started')).toHaveLength(2);
      expect(types(journal!).at(-1)).toBe('run_completed');
      const left: string[] = [];
      for await (const o of setup.store!().list('_claude_batch/runs/'))
        left.push(o.key.replace(/^_claude_batch\/runs\/[^/]+\//, ''));
      // written-records.bin: the run's catalog has a sync_id (see s3-resend-completed.test.ts).
      expect(left.sort()).toEqual(['journal.jsonl', 'manifest.json', 'written-records.bin']);
    },
  );

  it("submit_only across three pods: each hands its batches to the next, which writes them under the first run's id", async () => {
    const slow = await startEmulator({ apiKeys: ['test-key'], processingMs: 60_000 });
    try {
      const setup = destinationSetup(slow, { wait: 'submit_only' }, { bucket: servers.s3 });
      const a = fresh();
      const b = fresh(5);
      const first = await setup.write(a.input);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const [run1] = await journalsOf(setup.store!());
      expect(types(run1!)).toContain('run_detached');
      expect(types(run1!).filter((t) => t === 'batch_submitted')).toHaveLength(3);

      slow.advance(61_000);
      const second = await setup.write(b.input);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      const runId1 = run1![0]!.run_id as string;
      expect(second.messages.some((m) => m.type === 'LOG' && m.log.message.includes(`collected run ${runId1}`))).toBe(
        true,
      );

      slow.advance(61_000);
      const third = await setup.write([], { config: { wait: 'until_done' } });
      expect(third.code, third.stdout + third.stderr).toBe(0);
      expect(traceErrors(third.messages)).toEqual([]);
      expect(setup.workDirs).toHaveLength(3);

      const journals = await journalsOf(setup.store!());
      expect(journals.slice(0, 2).map((j) => types(j).at(-1))).toEqual(['run_completed', 'run_completed']);
      const rows = await expectEachIdOnce(await setup.local(), [...a.ids, ...b.ids]);
      expect(rows).toHaveLength(30);
      expect(paidTwice(slow.submissionLog()).size).toBe(0);
      expect([...slow.submissionLog().values()].every((batches) => batches.length === 1)).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('keeps a second writer out while the first is alive, whatever working folder it has', async () => {
    const slow = await startEmulator({ apiKeys: ['test-key'], processingMs: 60_000 });
    try {
      const setup = destinationSetup(slow, {}, { bucket: servers.s3 });
      const { input } = fresh();
      let submitted!: () => void;
      const onceSubmitted = new Promise<void>((resolve) => (submitted = resolve));
      const live = setup.write(input, {
        onMessage: (m) => m.type === 'LOG' && / submitted as msgbatch_/.test(m.log.message) && submitted(),
      });
      await onceSubmitted;
      const second = await setup.write([]);
      expect(second.code).not.toBe(0);
      expect(traceErrors(second.messages).map((t) => [t.trace.error.failure_type, t.trace.error.message])).toEqual([
        ['config_error', expect.stringMatching(/another write \(pid \d+\) is using this destination/)],
      ]);
      slow.advance(61_000);
      const done = await live;
      expect(done.code, done.stdout + done.stderr).toBe(0);
    } finally {
      await slow.close();
    }
  });
});
