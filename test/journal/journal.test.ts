// Guards the run journal, the record of what was paid for: an entry acknowledged by append() is read back
// whatever happened to the line before it, and a journal damaged in the middle is refused, never half-read.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../connector/journal/journal.js';
import { foldJournal } from '../../connector/journal/run-view.js';
import { tempDir } from '../helpers/cli.js';

const started = {
  type: 'run_started',
  run_id: 'r',
  config_fingerprint: 'c',
  request_fingerprint: 'q',
  wait: 'until_done',
  at: '2026-01-01T00:00:00Z',
} as const;

describe('Journal', () => {
  it('cuts off a torn last line when it is opened again, so the entries appended after it are read back', async () => {
    const path = join(tempDir('claude-batch-journal-'), 'journal.jsonl');
    const first = new Journal(path);
    await first.append(started);
    await first.append({ type: 'batch_sealed', seq: 0, records: 1, requests: 1, bytes: 10 });
    first.close();
    appendFileSync(path, '{"type":"batch_submitting","seq":0,"ro'); // power lost mid-append
    const resumed = new Journal(path);
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
    await resumed.append({ type: 'batch_submitting', seq: 0, round: 0, at: '2026-01-01T00:01:00Z' });
    await resumed.append({
      type: 'batch_submitted',
      seq: 0,
      round: 0,
      batch_id: 'msgbatch_paid',
      at: '2026-01-01T00:01:01Z',
    });
    resumed.close();
    expect(Journal.read(path).map((e) => e.type)).toEqual([
      'run_started',
      'batch_sealed',
      'batch_submitting',
      'batch_submitted',
    ]);
    expect(foldJournal(Journal.read(path))!.seqs.get(0)!.rounds[0]!.batchId).toBe('msgbatch_paid');
  });

  it('ignores a torn last line when reading, and refuses a damaged line that entries follow', () => {
    const path = join(tempDir('claude-batch-journal-'), 'journal.jsonl');
    const line = JSON.stringify(started);
    writeFileSync(path, `${line}\n{"type":"batch_sea`);
    expect(Journal.read(path)).toHaveLength(1);
    writeFileSync(path, `${line}\n{"type":"batch_sea\n${line}\n`);
    expect(() => Journal.read(path)).toThrow(/line 2 is damaged and entries follow it/);
  });
});
