import type { LifecycleOptions } from '../batches/lifecycle.js';
import type { ResubmitPolicy } from '../batches/outcome.js';
import type { BatchPoller } from '../batches/poller.js';
import type { BatchResults } from '../sinks/batch-writer.js';
import type { RunJournal } from '../journal/journal.js';
import type { SeqView } from '../journal/run-view.js';
import type { SaveFile } from '../journal/spool.js';
import type { BatchesApi, MessageBatch } from '../ports/batches-api.js';
import type { QueueAdmission } from './admission.js';
import type { RoundIndex, StreamTally } from '../types/shared.js';

/** Everything a BatchTask uses from the run around it (see TaskRunner.context). */
export interface BatchTaskContext {
  api: BatchesApi;
  /** The clock's now (ms): journaled times. */
  now: () => number;
  journal: RunJournal;
  runDir: string;
  /** Makes a finished spool file (a round's requests, downloaded results) durable on the destination before it is journaled. */
  save: SaveFile;
  lifecycle: LifecycleOptions;
  resubmit: ResubmitPolicy;
  maxAttempts: number;
  /** Set for a run stopped with the cancel command: nothing new is submitted, unsent requests are rows marked canceled. */
  cancelled: boolean;
  /** Label/json modes: an answer cut off by max_tokens is sent once more with this many max_tokens. */
  truncatedRetryMaxTokens?: number;
  claimed: Set<string>;
  log: (message: string) => void;
  onSubmitted: (seq: number, round: number, batchId: string) => void;
  onPoll: (seq: number, batch: MessageBatch) => void;
  /** Resolves when an earlier seq of the same run is written ('pending' if it is left processing). */
  waitForSeq: (seq: number) => Promise<'finalised' | 'pending'>;
  journalView: (seq: number) => SeqView | undefined;
  /** Indexes one round's results file (see WriteRun: off the main thread when it can be). */
  indexRound: (path: string, round: number, expected: ReadonlySet<string>) => Promise<RoundIndex>;
  /** Joins a seq's records with its answers and commits its output; one seq at a time (see WriteRun). */
  writeOutput: (seq: number, recordsPath: string, results: BatchResults) => Promise<StreamTally[]>;
  /** The destination's create gate (see CreateGate): one create at a time, inherited doubts first. */
  submitting: <T>(seq: number, work: () => Promise<T>) => Promise<T>;
  /** Polls the process's batches together, one list call per interval (absent: each is retrieved on its own). */
  poller?: BatchPoller;
  /** Keeps the account's processing queue full but not overfull (see admission.ts). */
  admission?: QueueAdmission;
}
