// Control state of an object-store destination, with a local folder standing in for the bucket: what one
// process journals and spools is there for another process with an empty working folder (a new pod).
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ObjectControl } from '../../connector/journal/object-control.js';
import { BatchSpool, batchDir, recordsFile, requestsFile } from '../../connector/journal/spool.js';
import { controlFor, loadRuns } from '../../connector/pipeline/run-registry.js';
import { RunSession } from '../../connector/pipeline/run-session.js';
import { LocalStore } from '../../connector/storage/local-store.js';
import type { Store } from '../../connector/storage/store.js';
import { tempDir } from '../helpers/cli.js';

const CONTROL = '_claude_batch';
const fingerprints = { config: 'c', request: 'q' };
const AT = '2026-01-01T00:00:00.000Z';

async function keys(store: Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** A bucket (a folder here) and a pod's working folder. */
function pod(bucket: LocalStore): ObjectControl {
  return new ObjectControl(bucket, tempDir('claude-batch-pod-'), CONTROL);
}

async function sealBatch(session: RunSession, seq: number, ids: string[]): Promise<void> {
  const spool = await BatchSpool.open(session.runDir, seq, session.save);
  ids.forEach((id, line) => {
    spool.addRecord({
      line,
      stream: 'notes',
      namespace: null,
      data: { id },
      emitted_at: 0,
      raw_id: `raw-${id}`,
      custom_id: `cid-${id}`,
    });
    spool.addRequest(JSON.stringify({ custom_id: `cid-${id}`, params: { model: 'm', max_tokens: 1, messages: [] } }));
  });
  await spool.seal();
  await session.journal.append({ type: 'batch_sealed', seq, records: ids.length, requests: ids.length, bytes: 1 });
}

describe('ObjectControl', () => {
  it('a local destination keeps its control state in place, as before: journal.jsonl in the destination', async () => {
    const destination = tempDir('claude-batch-local-');
    const control = controlFor(new LocalStore(destination));
    expect(control.remote).toBe(false);
    expect(control.workRoot).toBe(destination);
    const session = await RunSession.create(control, 'r1', fingerprints, 'until_done', AT);
    session.close();
    expect(existsSync(join(destination, CONTROL, 'runs', 'r1', 'journal.jsonl'))).toBe(true);
  });

  it('a new pod finds the run, its journal and its sealed spool on the Store, and fetches only what it lacks', async () => {
    const bucket = new LocalStore(tempDir('claude-batch-bucket-'));
    const first = pod(bucket);
    const session = await RunSession.create(first, 'r1', fingerprints, 'submit_only', AT);
    await session.journal.append({ type: 'attempt_started', attempt: 1, at: '2026-01-01T00:00:00Z' });
    await sealBatch(session, 0, ['a', 'b']);
    await sealBatch(session, 1, ['c']);
    // Batch 2 was being spooled when the pod died: on its disk only, never sealed, never journaled.
    const unsealed = await BatchSpool.open(session.runDir, 2, session.save);
    unsealed.addRecord({
      line: 9,
      stream: 'notes',
      namespace: null,
      data: { id: 'z' },
      emitted_at: 0,
      raw_id: 'raw-z',
      custom_id: 'cid-z',
    });
    session.close();

    expect(await keys(bucket, `${CONTROL}/runs/r1/spool/`)).toEqual([
      `${CONTROL}/runs/r1/spool/batch-00000/records.jsonl`,
      `${CONTROL}/runs/r1/spool/batch-00000/round-0/requests.jsonl`,
      `${CONTROL}/runs/r1/spool/batch-00001/records.jsonl`,
      `${CONTROL}/runs/r1/spool/batch-00001/round-0/requests.jsonl`,
    ]);
    // Nothing of the journal is in the first pod's working folder: it lives on the Store only.
    expect(existsSync(join(session.runDir, 'journal.jsonl'))).toBe(false);

    const second = pod(bucket);
    const runs = await loadRuns(second);
    expect(runs.map((r) => [r.view.runId, r.view.wait, [...r.view.seqs.keys()]])).toEqual([
      ['r1', 'submit_only', [0, 1]],
    ]);
    const resumed = await RunSession.reopen(second, runs[0]!.dir, runs[0]!.view);
    expect(resumed.runDir.startsWith(second.workRoot)).toBe(true);
    for (const seq of [0, 1]) {
      expect(readFileSync(recordsFile(batchDir(resumed.runDir, seq)), 'utf8')).toBe(
        readFileSync(recordsFile(batchDir(session.runDir, seq)), 'utf8'),
      );
      expect(readFileSync(requestsFile(batchDir(resumed.runDir, seq), 0), 'utf8')).toBe(
        readFileSync(requestsFile(batchDir(session.runDir, seq), 0), 'utf8'),
      );
    }
    // It appends after the first pod's entries.
    await resumed.journal.append({ type: 'attempt_started', attempt: 2, at: '2026-01-01T01:00:00Z' });
    expect((await second.readJournal(resumed.runDir)).map((e) => e.type)).toEqual([
      'run_started',
      'attempt_started',
      'batch_sealed',
      'batch_sealed',
      'attempt_started',
    ]);

    // A file a killed process left short in the working folder is fetched again; a whole one is kept as it is.
    const records = recordsFile(batchDir(resumed.runDir, 0));
    const whole = statSync(records).size;
    truncateSync(records, 5);
    const kept = recordsFile(batchDir(resumed.runDir, 1));
    const keptAt = statSync(kept).mtimeMs;
    await second.fetchSpool(resumed.runDir, [0, 1]);
    expect(statSync(records).size).toBe(whole);
    expect(statSync(kept).mtimeMs).toBe(keptAt);
    resumed.close();
  });

  it('saves a downloaded results file before it is journaled, and a completed run leaves a compact journal and no spool', async () => {
    const bucket = new LocalStore(tempDir('claude-batch-bucket-'));
    const control = pod(bucket);
    const session = await RunSession.create(control, 'r2', fingerprints, 'until_done', AT);
    await sealBatch(session, 0, ['a']);
    const results = join(batchDir(session.runDir, 0), 'round-0', 'results.jsonl');
    writeFileSync(results, '{"custom_id":"cid-a"}\n');
    await session.save(results);
    expect((await bucket.get(`${CONTROL}/runs/r2/spool/batch-00000/round-0/results.jsonl`))?.toString()).toBe(
      '{"custom_id":"cid-a"}\n',
    );
    expect(existsSync(results)).toBe(true);

    await session.complete('claude-haiku-4-5', AT);
    session.close();
    expect(await keys(bucket, `${CONTROL}/runs/r2/`)).toEqual([
      `${CONTROL}/runs/r2/journal.jsonl`,
      `${CONTROL}/runs/r2/manifest.json`,
    ]);
    const [run] = await loadRuns(pod(bucket));
    expect(run!.view.completed).toBe(true);
    expect(run!.view.seqs.get(0)?.records).toBe(1);
  });
});
