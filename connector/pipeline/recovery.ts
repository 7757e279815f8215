import { streamKey } from '../protocol/messages.js';
import { textLines } from '../common/lines.js';
import { batchDir, recordsFile } from '../journal/spool.js';
import { spooledFingerprint } from '../resume/record-ledger.js';
import type { ResendMatcher } from '../resume/resend.js';
import { echoedPositions } from '../resume/written-records.js';
import type { SentRequests } from './record-admission.js';
import type { RunSession } from './run-session.js';
import type { SpooledRecord } from '../types/shared.js';

/**
 * Picks up an interrupted run's records: removes what its killed attempt left half-done, files every request
 * its sealed seqs really sent (so later duplicates are answered from there), and fills `matcher` so it
 * recognises the records the platform sends again, and what the run has committed to spend.
 */
export async function recoverRecords(
  session: RunSession,
  sent: SentRequests,
  matcher: ResendMatcher,
): Promise<{ committedUsd: number }> {
  const view = session.view;
  session.cleanLeftovers();
  matcher.addEchoed(await session.control.readJournal(session.runDir), echoedPositions());
  for (const seq of view.seqs.values()) {
    for await (const chunk of textLines(recordsFile(batchDir(session.runDir, seq.seq))))
      for (const line of chunk) {
        const r = JSON.parse(line) as SpooledRecord;
        // Only requests this seq really sent can answer later duplicates (not skipped, cached or borrowed ones).
        if (r.answer_from === undefined && !r.skip && !r.cached) sent.add(r.custom_id, seq.seq);
        matcher.addSpooled(streamKey({ name: r.stream, namespace: r.namespace }), spooledFingerprint(line, r));
      }
  }
  const committedUsd = [...view.seqs.values()].reduce((n, s) => n + (s.estimateUsd ?? 0), 0);
  return { committedUsd };
}
