import { streamKey } from '../protocol/messages.js';
import { textLines } from '../common/lines.js';
import { Journal, type JournalEntry } from '../journal/journal.js';
import { batchDir, recordsFile, type SpooledRecord } from '../journal/spool.js';
import { recordFingerprint } from '../resume/record-ledger.js';
import { ResendMatcher } from '../resume/resend.js';
import type { SentRequests } from './record-admission.js';
import { journalPath } from './run-registry.js';
import type { RunSession } from './run-session.js';

/**
 * Where the STATEs a run echoed stood in each stream: journaled with each (see ResendMatcher). Entries from
 * before positions were journaled count per-stream STATEs up, as those runs did.
 */
function echoedPositions(): (e: Extract<JournalEntry, { type: 'state_emitted' }>) => Record<string, number> {
  const counted = new Map<string, number>();
  return (e) => {
    if (e.positions) return e.positions;
    if (e.stream === null) return {};
    counted.set(e.stream, (counted.get(e.stream) ?? 0) + e.records);
    return { [e.stream]: counted.get(e.stream)! };
  };
}

/**
 * Picks up an interrupted run's records: removes what its killed attempt left half-done, files every request
 * its sealed seqs really sent (so later duplicates are answered from there), and returns a matcher that
 * recognises the records the platform sends again, and what the run has committed to spend.
 */
export async function recoverRecords(
  session: RunSession,
  destination: string,
  sent: SentRequests,
): Promise<{ matcher: ResendMatcher; committedUsd: number }> {
  const view = session.view;
  session.cleanLeftovers(destination);
  const matcher = new ResendMatcher();
  matcher.addEchoed(Journal.read(journalPath(session.runDir)), echoedPositions());
  for (const seq of view.seqs.values()) {
    for await (const chunk of textLines(recordsFile(batchDir(session.runDir, seq.seq))))
      for (const line of chunk) {
        const r = JSON.parse(line) as SpooledRecord;
        // Only requests this seq really sent can answer later duplicates (not skipped, cached or borrowed ones).
        if (r.answer_from === undefined && !r.skip && !r.cached) sent.add(r.custom_id, seq.seq);
        matcher.addSpooled(
          streamKey({ name: r.stream, namespace: r.namespace }),
          recordFingerprint(r.stream, r.namespace, r.data),
        );
      }
  }
  const committedUsd = [...view.seqs.values()].reduce((n, s) => n + (s.estimateUsd ?? 0), 0);
  return { matcher, committedUsd };
}
