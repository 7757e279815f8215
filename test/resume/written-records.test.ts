// Guards what a completed run keeps for a new attempt of the same sync, and when a later run may match
// re-sent records against it: same sync_id, same generation_id per stream, rows this run keeps, same requests.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../connector/config/catalog.js';
import type { RunView, SeqView } from '../../connector/journal/run-view.js';
import { BatchSpool } from '../../connector/journal/spool.js';
import { streamKey } from '../../connector/protocol/messages.js';
import { recordFingerprint } from '../../connector/resume/record-ledger.js';
import { ResendMatcher } from '../../connector/resume/resend.js';
import {
  keepWrittenRecords,
  loadWrittenRecords,
  WRITTEN_RECORDS_FILE,
} from '../../connector/resume/written-records.js';
import { tempDir } from '../helpers/cli.js';
import type { SpooledRecord } from '../../connector/types/shared.js';

interface StreamIdentity {
  name: string;
  sync_id?: number;
  generation_id?: number;
  minimum_generation_id?: number;
  destination_sync_mode?: 'append' | 'overwrite';
}

const catalog = (...streams: StreamIdentity[]) =>
  parseCatalog({
    streams: streams.map(({ name, ...rest }) => ({
      stream: { name, json_schema: { type: 'object' } },
      generation_id: 1,
      ...rest,
    })),
  });

const text = (stream: string, i: number) => `{"id":"${stream}-${i}","n":${i}}`;
const fp = (stream: string, i: number) => recordFingerprint(stream, null, text(stream, i));

/** A completed run whose spool holds `records` ([stream, i] in input order), in batches of 3, with the STATEs it echoed. */
async function completedRun(
  root: string,
  runId: string,
  records: Array<[string, number]>,
  cat: ReturnType<typeof catalog>,
  request = 'req-1',
) {
  const runDir = join(root, runId);
  mkdirSync(runDir, { recursive: true });
  const seqs = new Map<number, SeqView>();
  for (let seq = 0; seq * 3 < records.length; seq++) {
    const spool = await BatchSpool.open(runDir, seq);
    const part = records.slice(seq * 3, seq * 3 + 3);
    for (const [stream, i] of part) {
      const r: SpooledRecord = {
        line: i,
        stream,
        namespace: null,
        data: JSON.parse(text(stream, i)),
        emitted_at: 1,
        raw_id: `${runId}-${i}`,
        custom_id: `c-${stream}-${i}`,
      };
      spool.addRecord(r, text(stream, i));
    }
    await spool.seal();
    seqs.set(seq, { seq, records: part.length, requests: part.length, rounds: [], tallies: [], finalised: true });
  }
  const view: RunView = {
    runId,
    configFingerprint: 'cfg',
    requestFingerprint: request,
    wait: 'until_done',
    startedAt: runId,
    attempts: 1,
    seqs,
    detached: false,
    interrupted: false,
    completed: true,
    cancelRequested: false,
    records: records.length,
  };
  const note = await keepWrittenRecords(runDir, view, cat, new ResendMatcher());
  expect(note).toBeUndefined();
  return { dir: runDir, view };
}

const taken = (m: ResendMatcher, stream: string, sent: number[]) =>
  sent.filter((i) => m.take(streamKey({ name: stream, namespace: null }), () => fp(stream, i)));
const current = { runId: 'z-now', requestFingerprint: 'req-1' };

describe('written records of completed runs', () => {
  it('a new attempt of the same sync matches each re-sent record once, identical ones by their count', async () => {
    const root = tempDir('claude-batch-written-');
    const cat = catalog({ name: 's', sync_id: 7 });
    // Record 2 twice (identical content), then 0..4.
    const run = await completedRun(
      root,
      'a',
      [
        ['s', 0],
        ['s', 1],
        ['s', 2],
        ['s', 2],
        ['s', 3],
        ['s', 4],
      ],
      cat,
    );
    const load = loadWrittenRecords([run], cat, current);
    expect(load.runs).toEqual(['a']);
    expect(load.records).toBe(6);
    expect(load.note).toMatch(/completed run a of this sync .* wrote 6 records/);
    // Everything again, with a third copy of 2 and a new record 5: those two are new.
    expect(taken(load.matcher, 's', [0, 1, 2, 2, 2, 3, 4, 5])).toEqual([0, 1, 2, 2, 3, 4]);
    expect(load.matcher.alreadyWritten).toBe(6);
    expect(load.matcher.size).toBe(0);
  });

  it('is not matched under another sync_id, another generation_id, or other request settings', async () => {
    const root = tempDir('claude-batch-written-');
    const run = await completedRun(
      root,
      'a',
      [
        ['s', 0],
        ['s', 1],
      ],
      catalog({ name: 's', sync_id: 7, generation_id: 2 }),
    );
    for (const [cat, req] of [
      [catalog({ name: 's', sync_id: 8, generation_id: 2 }), 'req-1'],
      [catalog({ name: 's', sync_id: 7, generation_id: 3 }), 'req-1'],
      [catalog({ name: 's', sync_id: 7, generation_id: 2 }), 'req-2'],
    ] as const) {
      const load = loadWrittenRecords([run], cat, { runId: 'z', requestFingerprint: req });
      expect(load.runs).toEqual([]);
      expect(taken(load.matcher, 's', [0, 1])).toEqual([]);
    }
  });

  it('overwrite without generations (this run would remove the older rows) is never matched; with its generation kept, it is', async () => {
    const root = tempDir('claude-batch-written-');
    const pipe = { name: 's', sync_id: 7, destination_sync_mode: 'overwrite' as const, minimum_generation_id: 0 };
    const run = await completedRun(root, 'a', [['s', 0]], catalog(pipe));
    expect(loadWrittenRecords([run], catalog(pipe), current).runs).toEqual([]);
    const refresh = { ...pipe, generation_id: 4, minimum_generation_id: 4 };
    const kept = await completedRun(root, 'b', [['s', 0]], catalog(refresh));
    expect(loadWrittenRecords([kept], catalog(refresh), current).runs).toEqual(['b']);
  });

  it('only the streams whose identity matches; a stream without sync_id keeps nothing', async () => {
    const root = tempDir('claude-batch-written-');
    const before = catalog({ name: 's', sync_id: 7 }, { name: 't', sync_id: 7, generation_id: 1 }, { name: 'u' });
    const run = await completedRun(
      root,
      'a',
      [
        ['s', 0],
        ['t', 0],
        ['u', 0],
      ],
      before,
    );
    const after = catalog({ name: 's', sync_id: 7 }, { name: 't', sync_id: 7, generation_id: 2 }, { name: 'u' });
    const load = loadWrittenRecords([run], after, current);
    expect(load.records).toBe(1);
    expect([taken(load.matcher, 's', [0]), taken(load.matcher, 't', [0]), taken(load.matcher, 'u', [0])]).toEqual([
      [0],
      [],
      [],
    ]);
  });

  it('without sync_id nothing is kept', async () => {
    const root = tempDir('claude-batch-written-');
    const run = await completedRun(root, 'a', [['s', 0]], catalog({ name: 's' }));
    expect(existsSync(join(run.dir, WRITTEN_RECORDS_FILE))).toBe(false);
  });

  it('two completed runs, oldest first; STATEs they echoed are restart candidates, so a re-send after one is matched from there', async () => {
    const root = tempDir('claude-batch-written-');
    const cat = catalog({ name: 's', sync_id: 7 });
    const a = await completedRun(
      root,
      'a',
      [0, 1, 2, 3].map((i) => ['s', i] as [string, number]),
      cat,
    );
    const b = await completedRun(
      root,
      'b',
      [4, 5].map((i) => ['s', i] as [string, number]),
      cat,
    );
    // b's STATE after record 4 stood at 5 in the sync's records (a's 4, then its own first).
    writeFileSync(
      join(b.dir, 'journal.jsonl'),
      JSON.stringify({
        type: 'state_emitted',
        stream: 's',
        records: 0,
        positions: { [streamKey({ name: 's', namespace: null })]: 5 },
      }) + '\n',
    );
    const load = loadWrittenRecords([a, b], cat, current);
    expect(load.runs).toEqual(['a', 'b']);
    // The source restarts after that STATE: 5 is a copy, 6 is new, and 1 (before it) is a new record.
    expect(taken(load.matcher, 's', [5, 6, 1])).toEqual([5]);
    const whole = loadWrittenRecords([a, b], cat, current).matcher;
    expect(taken(whole, 's', [0, 1, 2, 3, 4, 5, 6])).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('files of older syncs are removed once a newer sync runs; the current run and unfinished runs are never read', async () => {
    const root = tempDir('claude-batch-written-');
    const old = await completedRun(root, 'a', [['s', 0]], catalog({ name: 's', sync_id: 6 }));
    const same = await completedRun(root, 'b', [['s', 0]], catalog({ name: 's', sync_id: 7 }));
    const load = loadWrittenRecords(
      [
        old,
        same,
        { ...same, view: { ...same.view, runId: 'z-now' } },
        { ...same, view: { ...same.view, runId: 'c', completed: false } },
      ],
      catalog({ name: 's', sync_id: 7 }),
      current,
    );
    expect(load.runs).toEqual(['b']);
    expect(load.removed).toBe(1);
    expect(existsSync(join(old.dir, WRITTEN_RECORDS_FILE))).toBe(false);
    expect(existsSync(join(same.dir, WRITTEN_RECORDS_FILE))).toBe(true);
  });
});

describe('a written-records file that is not whole', () => {
  it('is ignored: nothing matched, the run goes on', async () => {
    const root = tempDir('claude-batch-written-');
    const cat = catalog({ name: 's', sync_id: 7 });
    const run = await completedRun(
      root,
      'a',
      [
        ['s', 0],
        ['s', 1],
      ],
      cat,
    );
    const path = join(run.dir, WRITTEN_RECORDS_FILE);
    const whole = readFileSync(path);
    for (const broken of [
      whole.subarray(0, whole.length - 1),
      Buffer.concat([Buffer.from('x'), whole.subarray(1)]),
      Buffer.alloc(0),
    ]) {
      writeFileSync(path, broken);
      const load = loadWrittenRecords([run], cat, current);
      expect(load.runs).toEqual([]);
      expect(taken(load.matcher, 's', [0, 1])).toEqual([]);
    }
  });
});
