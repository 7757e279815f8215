import { randomUUID } from 'node:crypto';
import type { ConfiguredStream } from '../config/catalog.js';
import { failpoint } from '../common/failpoints.js';
import type { SeqView } from '../journal/run-view.js';
import { BatchSpool } from '../journal/spool.js';
import type { AirbyteRecord } from '../protocol/messages.js';
import type { RequestBuilder } from '../requests/build.js';
import type { CostGate } from './cost-gate.js';
import { OpenBatch } from './open-batch.js';
import type { Admitted, Packing, SentRequests } from './record-admission.js';
import type { RunSession } from './run-session.js';
import type { SpooledRecord } from '../types/shared.js';

/**
 * Spools admitted records into the batch being filled, and seals it: the spool is made durable, the cost
 * gate admits it, `batch_sealed` is journaled and the seq is handed on (`onSealed`) to be submitted.
 */
export class BatchPacker implements Packing {
  open: OpenBatch | null = null;
  private nextSeq: number;
  /** The seq of the last batch holding a record read so far (-1: none): a STATE read now waits on it. */
  lastSeqWithRecords = -1;
  /** The last seq an earlier attempt sealed: records it owns that are sent again belong before it. */
  private readonly recoveredBoundary: number;

  constructor(
    private readonly session: RunSession,
    private readonly builder: RequestBuilder,
    private readonly costs: CostGate,
    private readonly sent: SentRequests,
    private readonly now: () => number,
    private readonly onSealed: (view: SeqView) => void,
  ) {
    this.nextSeq = session.nextSeq;
    this.recoveredBoundary = this.nextSeq - 1;
  }

  get seq(): number {
    return this.open?.spool.seq ?? this.nextSeq;
  }

  /** A record the platform sent again that an earlier attempt already owns. */
  reowned(): void {
    this.lastSeqWithRecords = Math.max(this.lastSeqWithRecords, this.recoveredBoundary);
  }

  /** Spools one admitted record; returns a promise to await before the next when the spool is over its buffers. */
  async add(
    record: AirbyteRecord,
    stream: ConfiguredStream,
    lineNumber: number,
    admitted: Admitted,
    dataText: string | undefined,
  ): Promise<unknown> {
    const { request, skip, answerFrom, cached, sends, bytes } = admitted;
    if (!this.open)
      this.open = new OpenBatch(await BatchSpool.open(this.session.runDir, this.nextSeq++, this.session.save));
    const requestsBefore = this.open.requests;
    // Keys in the spool's usual order; optional ones only when set.
    const spooled: SpooledRecord = {
      line: lineNumber,
      stream: record.stream,
      namespace: stream.namespace,
      data: record.data,
      emitted_at: typeof record.emitted_at === 'number' ? record.emitted_at : this.now(),
      raw_id: randomUUID(),
      custom_id: request.customId,
    };
    if (Array.isArray(record.meta?.changes) && record.meta.changes.length) spooled.changes = record.meta.changes;
    if (skip) spooled.skip = skip;
    if (request.truncated && !skip) spooled.truncated = true;
    if (answerFrom !== undefined) spooled.answer_from = answerFrom;
    if (cached) spooled.cached = cached;
    const backpressure = this.open.add(spooled, sends ? request.serialized : undefined, bytes, dataText);
    if (sends && this.open.requests > requestsBefore) {
      this.sent.add(request.customId, this.open.spool.seq);
      this.costs.requestAdded(() => this.builder.inputTokens(request));
    }
    this.lastSeqWithRecords = this.open.spool.seq;
    return backpressure;
  }

  async seal(): Promise<void> {
    const batch = this.open;
    if (!batch) return;
    const estimate = this.costs.seal(batch.spool.seq, batch.requests);
    this.open = null;
    await batch.spool.seal();
    const { seq } = batch.spool;
    await this.session.journal.append({
      type: 'batch_sealed',
      seq,
      records: batch.records,
      requests: batch.requests,
      bytes: batch.bytes,
      ...(estimate ? { estimate_usd: estimate } : {}),
    });
    const view: SeqView = {
      seq,
      records: batch.records,
      requests: batch.requests,
      rounds: [{ round: 0, requests: batch.requests, downloaded: false }],
      tallies: [],
      finalised: false,
    };
    this.session.view.seqs.set(seq, view);
    this.session.view.records += batch.records;
    failpoint('after_seal');
    this.onSealed(view);
  }

  /** A stopped run: the batch being filled is dropped (its records are sent again). */
  async discard(): Promise<void> {
    await this.open?.spool.discard();
    this.open = null;
  }
}
