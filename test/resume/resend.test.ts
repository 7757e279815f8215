// Guards how a resumed run recognises re-sent records (issue 14): from any STATE it echoed (the platform may
// not have received the last one), or from the start (everything re-sent), decided by the first record.
import { describe, expect, it } from 'vitest';
import { ResendMatcher } from '../../connector/resume/resend.js';
import type { JournalEntry } from '../../connector/journal/journal.js';

const f = (i: number) => BigInt(1000 + i);
const echoed = (at: number): JournalEntry => ({ type: 'state_emitted', stream: 's', records: 0, positions: { s: at } });

/** A run that spooled records 0..9 of stream s and echoed STATEs after 3 and 7. */
function matcher(): ResendMatcher {
  const m = new ResendMatcher();
  for (let i = 0; i < 10; i++) m.addSpooled('s', f(i));
  m.addEchoed([echoed(3), echoed(7)], (e) => e.positions!);
  return m;
}

/** Which of the records sent are taken as re-sent copies. */
const taken = (m: ResendMatcher, sent: number[]) => sent.filter((i) => m.take('s', () => f(i)));

describe('ResendMatcher', () => {
  it('re-sent after the last STATE: those records are copies, later ones new', () => {
    const m = matcher();
    expect(taken(m, [7, 8, 9, 10, 11])).toEqual([7, 8, 9]);
    expect(m.position('s')).toBe(12);
  });

  it('re-sent after an earlier STATE (the last one never reached the platform): every copy is recognised', () => {
    expect(taken(matcher(), [3, 4, 5, 6, 7, 8, 9, 10])).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('everything re-sent: every copy is recognised, and copies beyond the spool are new', () => {
    expect(taken(matcher(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('in another order after the STATE it restarted from: still recognised', () => {
    expect(taken(matcher(), [3, 9, 5, 4, 8, 7, 6])).toEqual([3, 9, 5, 4, 8, 7, 6]);
  });

  it('a first record that is no copy: the latest STATE is taken, so records it covers are new ones', () => {
    expect(taken(matcher(), [42, 1, 8])).toEqual([8]);
  });

  it('a stream the run never spooled is all new, and counted', () => {
    const m = matcher();
    expect(m.take('t', () => f(0))).toBe(false);
    expect(m.take('t', () => f(0))).toBe(false);
    expect(m.positions()).toEqual({ s: 7, t: 2 });
  });
});

describe('ResendMatcher with records completed runs wrote', () => {
  it('matches across what completed runs wrote and what this run spooled, counting each kind', () => {
    const m = new ResendMatcher();
    for (let i = 0; i < 4; i++) m.addWritten('s', f(i));
    for (let i = 4; i < 6; i++) m.addSpooled('s', f(i));
    expect(m.size).toBe(2);
    expect(taken(m, [0, 1, 2, 3, 4, 5, 6])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.alreadyWritten).toBe(4);
  });

  it('refuses written records after spooled ones (the list must stay in the sync order)', () => {
    const m = new ResendMatcher();
    m.addSpooled('s', f(0));
    expect(() => m.addWritten('s', f(1))).toThrow(/after its spooled ones/);
  });
});
