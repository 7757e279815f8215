import type { JournalEntry, WaitMode } from './journal.js';
import type { StreamTally } from '../types/shared.js';

export interface RoundView {
  round: number;
  requests: number;
  submittingAt?: string;
  batchId?: string;
  submittedAt?: string;
  /** Adopted by listing after a create whose answer was lost; checked against its results. */
  reconciled?: boolean;
  /** Other unclaimed batches listing matched for this round: adopted in turn if this one is not ours. */
  alternates?: string[];
  /** This round resent answers cut off by max_tokens with a larger budget (done at most once per seq). */
  bumped?: boolean;
  counts?: Record<string, number>;
  downloaded: boolean;
  lost?: string;
}

export interface SeqView {
  seq: number;
  records: number;
  requests: number;
  rounds: RoundView[];
  tallies: StreamTally[];
  finalised: boolean;
  /** Estimated upper cost when sealed (only with a budget). */
  estimateUsd?: number;
}

export type RunPhase = 'running' | 'detached' | 'interrupted' | 'completed';

/** A run as its journal tells it: what is sealed, submitted, downloaded and written. */
export interface RunView {
  runId: string;
  configFingerprint: string;
  requestFingerprint: string;
  wait: WaitMode;
  startedAt: string;
  attempts: number;
  seqs: Map<number, SeqView>;
  detached: boolean;
  interrupted: boolean;
  completed: boolean;
  cancelRequested: boolean;
  records: number;
}

/** Folds journal entries into a RunView. Entries for unknown seqs are ignored (never acknowledged). */
export function foldJournal(entries: JournalEntry[]): RunView | undefined {
  const first = entries[0];
  if (!first || first.type !== 'run_started') return undefined;
  const view: RunView = {
    runId: first.run_id,
    configFingerprint: first.config_fingerprint,
    requestFingerprint: first.request_fingerprint,
    wait: first.wait,
    startedAt: first.at,
    attempts: 0,
    seqs: new Map(),
    detached: false,
    interrupted: false,
    completed: false,
    cancelRequested: false,
    records: 0,
  };
  const round = (seq: number, r: number) => view.seqs.get(seq)?.rounds[r];
  for (const e of entries) {
    switch (e.type) {
      case 'attempt_started':
        view.attempts = Math.max(view.attempts, e.attempt);
        view.detached = false;
        view.interrupted = false;
        break;
      case 'batch_sealed':
        view.seqs.set(e.seq, {
          seq: e.seq,
          records: e.records,
          requests: e.requests,
          rounds: [{ round: 0, requests: e.requests, downloaded: false }],
          tallies: [],
          finalised: false,
          estimateUsd: e.estimate_usd,
        });
        view.records += e.records;
        break;
      case 'round_sealed': {
        const seq = view.seqs.get(e.seq);
        if (seq && seq.rounds.length === e.round)
          seq.rounds.push({
            round: e.round,
            requests: e.requests,
            downloaded: false,
            ...(e.reasons.max_tokens ? { bumped: true } : {}),
          });
        break;
      }
      case 'batch_submitting': {
        const r = round(e.seq, e.round);
        if (r) r.submittingAt = e.at;
        break;
      }
      case 'batch_submitted': {
        const r = round(e.seq, e.round);
        if (r)
          Object.assign(r, {
            batchId: e.batch_id,
            submittedAt: e.at,
            reconciled: e.reconciled === true,
            ...(e.alternates ? { alternates: e.alternates } : {}),
          });
        break;
      }
      case 'batch_lost': {
        const r = round(e.seq, e.round);
        if (r) r.lost = e.reason;
        break;
      }
      case 'batch_ended': {
        const r = round(e.seq, e.round);
        if (r) r.counts = e.counts;
        break;
      }
      case 'results_downloaded': {
        const r = round(e.seq, e.round);
        if (r) r.downloaded = true;
        break;
      }
      case 'file_written':
        view.seqs.get(e.seq)?.tallies.push(e.tally);
        break;
      case 'batch_finalised': {
        const seq = view.seqs.get(e.seq);
        if (seq) seq.finalised = true;
        break;
      }
      case 'cancel_requested':
        view.cancelRequested = true;
        break;
      case 'run_detached':
        view.detached = true;
        break;
      case 'run_interrupted':
        view.interrupted = true;
        break;
      case 'run_completed':
        view.completed = true;
        break;
    }
  }
  return view;
}

export function phaseOf(view: RunView): RunPhase {
  if (view.completed) return 'completed';
  if (view.detached) return 'detached';
  return 'interrupted';
}

/** Batch ids this run has submitted and not yet downloaded (the ones still worth polling or cancelling). */
export function pendingBatchIds(
  view: RunView,
): Array<{ seq: number; round: number; batchId: string; submittedAt?: string }> {
  const out = [];
  for (const seq of view.seqs.values()) {
    if (seq.finalised) continue;
    for (const r of seq.rounds)
      if (r.batchId && !r.downloaded && !r.lost)
        out.push({ seq: seq.seq, round: r.round, batchId: r.batchId, submittedAt: r.submittedAt });
  }
  return out;
}
