// Operating a bucket destination from another machine: `status` run from a new pod (an empty working folder,
// an empty current folder) reads the runs, their manifests and the live writer from the bucket alone, the
// writer being the holder of a live lease; `estimate` on the writer's own pod stays off the result cache that
// writer has open; and a write waiting out a lease another pod may have left stops at once on SIGTERM,
// taking nothing.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { statusCommand } from '../../connector/commands/status.js';
import { LEASE_MS } from '../../connector/journal/lock.js';
import type { BatchesApi, MessageBatch } from '../../connector/ports/batches-api.js';
import { emulatorConfig, runCli, runPlainCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { catalogFor } from '../helpers/records.js';
import { freshInputs, journalsOf } from '../helpers/resume.js';
import { emulatorAndS3 } from '../helpers/s3.js';

const servers = emulatorAndS3();

const fresh = freshInputs('s3op');
const LEASES = '_claude_batch/lease/';

/** A destination prefix in the bucket, with a config and catalog for it, and a new pod's environment per call. */
function bucketDestination() {
  const dir = tempDir('claude-batch-s3op-');
  const prefix = `op-${Math.random().toString(36).slice(2, 10)}`;
  const destination = `s3://${servers.s3.bucket}/${prefix}`;
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(servers.emu.url, destination, { max_requests_per_batch: 10, s3: servers.s3.config() }),
  );
  const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
  let pods = 0;
  /** A new pod: its own empty working folder and an empty current folder. */
  const pod = () => {
    const root = join(dir, `pod-${++pods}`);
    mkdirSync(join(root, 'cwd'), { recursive: true });
    return { cwd: join(root, 'cwd'), env: { CLAUDE_BATCH_WORK_DIR: join(root, 'work') } };
  };
  return { prefix, config, catalog, pod, store: () => servers.s3.store(prefix) };
}

/** A write whose stdin stays open until `finish`: it holds the destination while it waits for input. */
function heldWrite(d: ReturnType<typeof bucketDestination>, where: { cwd: string; env: NodeJS.ProcessEnv }) {
  let child!: ChildProcess;
  const messages: Array<Record<string, any>> = [];
  const waiters: Array<{ test: (m: Record<string, any>) => boolean; resolve: () => void }> = [];
  const result = runCli(['write', '--config', d.config, '--catalog', d.catalog], {
    ...where,
    stdin: null,
    onSpawn: (spawned) => (child = spawned),
    onMessage: (m) => {
      messages.push(m);
      for (const w of waiters.filter((w) => w.test(m))) w.resolve();
    },
  });
  return {
    child,
    messages,
    /** Resolves at the first message `test` accepts from now on (or fails if the process ends first). */
    until: (test: (m: Record<string, any>) => boolean) =>
      Promise.race([
        new Promise<void>((resolve) => waiters.push({ test, resolve })),
        result.then((r) => Promise.reject(new Error(`write ended (${r.code}) first: ${r.stderr}`))),
      ]),
    finish: async (lines: string[]) => {
      child.stdin!.end(lines.join('\n') + '\n');
      const { code, stderr } = await result;
      return { code, stderr };
    },
  };
}

/** A write on a new pod, SIGKILLed once its first batch is submitted and journaled. */
function killedWrite(d: ReturnType<typeof bucketDestination>, input: string[]) {
  const pod = d.pod();
  return runCli(['write', '--config', d.config, '--catalog', d.catalog], {
    stdin: input.join('\n') + '\n',
    cwd: pod.cwd,
    env: { ...pod.env, CLAUDE_BATCH_FAILPOINT: 'after_submitted' },
  });
}

const isLog = (pattern: RegExp) => (m: Record<string, any>) => m.type === 'LOG' && pattern.test(m.log.message);

async function keysUnder(d: ReturnType<typeof bucketDestination>, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of d.store().list(prefix)) keys.push(o.key);
  return keys.sort();
}

describe('operating a bucket destination', { timeout: 120_000 }, () => {
  it('status from a new pod: a killed writer is interrupted, a live one running (its lease), a completed run shows its manifest', async () => {
    const d = bucketDestination();
    const status = async () => {
      const r = await runPlainCli(['status', '--config', d.config, '--json'], d.pod());
      expect(r.code, r.stderr + r.stdout).toBe(0);
      return JSON.parse(r.stdout) as Array<Record<string, any>>;
    };
    const { input } = fresh();
    const killed = await killedWrite(d, input);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');

    const [interrupted, ...none] = await status();
    expect(none).toEqual([]);
    expect(interrupted).toMatchObject({ phase: 'interrupted', batches_written: 0 });
    expect(interrupted!.pending.length).toBeGreaterThan(0);
    for (const p of interrupted!.pending) {
      expect(p.batch_id).toMatch(/^msgbatch_/);
      expect(p.api).toMatchObject({ processing_status: expect.any(String) });
    }
    expect(interrupted!.manifest).toBeUndefined();

    // A new pod resumes the run and waits for its input: it holds the lease (and its working folder's lock).
    const writerPod = d.pod();
    const live = heldWrite(d, writerPod);
    await live.until(isLog(/^Parquet output is written/));
    const [running] = await status();
    expect(running).toMatchObject({
      run_id: interrupted!.run_id,
      phase: `running (host ${hostname()}, pid ${live.child.pid})`,
    });

    // estimate on the writer's pod would open the result cache the writer has open: it is refused instead.
    const estimate = await runPlainCli(['estimate', '--config', d.config, '--catalog', d.catalog], writerPod);
    expect(estimate.code, estimate.stdout + estimate.stderr).not.toBe(0);
    expect(estimate.stdout).toMatch(/DESTINATION_BUSY|another write \(pid \d+\) is using this destination/);

    const done = await live.finish(input);
    expect(done.code, done.stderr).toBe(0);
    expect(traceErrors(live.messages)).toEqual([]);

    const [completed] = await status();
    expect(completed).toMatchObject({
      run_id: interrupted!.run_id,
      phase: 'completed',
      pending: [],
      manifest: { run_id: interrupted!.run_id, rows_out: 25, records_in: 25 },
    });
    const text = await runPlainCli(['status', '--config', d.config], d.pod());
    expect(text.stdout).toMatch(/manifest: 25 rows, tokens \d+ in \/ \d+ out/);
    // And estimate, once nobody writes, reads that pod's cache without contention.
    const after = await runPlainCli(['estimate', '--config', d.config, '--catalog', d.catalog], writerPod);
    expect(after.code, after.stdout + after.stderr).toBe(0);
  });

  it("status tells another host's live lease from an expired one by the lease's time, and asks the API through its port", async () => {
    const d = bucketDestination();
    const killed = await killedWrite(d, fresh().input);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const [journal] = await journalsOf(d.store());
    const submitted = journal!.find((e) => e.type === 'batch_submitted')!;

    // Another pod's lease, a generation above the killed writer's, renewed at `renewed`.
    const renewed = Date.parse(submitted.at as string) + 5_000;
    const leases = await keysUnder(d, LEASES);
    const top = Number(/(\d+)\.json$/.exec(leases.at(-1)!)![1]);
    await d
      .store()
      .put(
        `${LEASES}${String(top + 1).padStart(10, '0')}.json`,
        JSON.stringify({ owner: 'x', pid: 4242, host: 'pod-elsewhere', renewed_at: new Date(renewed).toISOString() }),
      );

    const asked: string[] = [];
    const api = (answer: (id: string) => MessageBatch): BatchesApi =>
      ({
        retrieve: async (id: string) => {
          asked.push(id);
          return answer(id);
        },
      }) as unknown as BatchesApi;
    const sink = () => new Writable({ write: (_c, _e, done) => done() });

    const canceling = (id: string) =>
      ({
        id,
        processing_status: 'canceling',
        request_counts: { processing: 1, succeeded: 2, errored: 0, canceled: 3, expired: 0 },
      }) as MessageBatch;
    const at = renewed + LEASE_MS - 1_000;
    const [live] = await statusCommand({ config: d.config, json: true }, sink(), {
      api: api(canceling),
      now: () => at,
    });
    expect(live!.phase).toBe('running (host pod-elsewhere, pid 4242)');
    const pending = live!.pending.find((p) => p.batch_id === submitted.batch_id)!;
    expect(pending.age_seconds).toBe(Math.round((at - Date.parse(submitted.at as string)) / 1000));
    expect(pending.api).toEqual({ processing_status: 'canceling', request_counts: canceling('').request_counts });
    expect(asked).toContain(submitted.batch_id);

    const unreachable = (): MessageBatch => {
      throw new Anthropic.APIConnectionError({ message: 'Connection error.' });
    };
    const later = renewed + LEASE_MS + 1_000;
    const [expired] = await statusCommand({ config: d.config, json: true }, sink(), {
      api: api(unreachable),
      now: () => later,
    });
    expect(expired!.phase).toBe('interrupted');
    const failed = expired!.pending.find((p) => p.batch_id === submitted.batch_id)!;
    expect(failed.api).toEqual({ error: expect.stringContaining(`looking up batch ${submitted.batch_id}`) });
  });

  it('a write waiting out a lease another pod may have left stops at once on SIGTERM, taking nothing', async () => {
    const d = bucketDestination();
    const lease = `${LEASES}0000000001.json`;
    const body = JSON.stringify({
      owner: 'pod-b-owner',
      pid: 4242,
      host: 'pod-elsewhere',
      renewed_at: new Date().toISOString(),
    });
    await d.store().put(lease, body);

    let signalledAt = 0;
    const result = await runCli(['write', '--config', d.config, '--catalog', d.catalog], {
      stdin: fresh().input.join('\n') + '\n',
      ...d.pod(),
      onMessage: (m, child) => {
        if (isLog(/^waiting up to \d+ s for the write lease: pid 4242 on pod-elsewhere/)(m) && !signalledAt) {
          signalledAt = Date.now();
          child.kill('SIGTERM');
        }
      },
    });
    expect(signalledAt, result.stdout + result.stderr).toBeGreaterThan(0);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(traceErrors(result.messages).map((t) => [t.trace.error.failure_type, t.trace.error.message])).toEqual([
      [
        'transient_error',
        expect.stringMatching(/^stopped on request while waiting for the write lease .*took no lease/),
      ],
    ]);
    // Not held until the wait would have ended by itself (its first look again is 25 s away).
    expect(Date.now() - signalledAt).toBeLessThan(20_000);
    // The other pod's lease is as it was, and nothing else was written.
    expect(await keysUnder(d)).toEqual([lease]);
    expect((await d.store().get(lease))!.toString()).toBe(body);
  });
});
