import type { Catalog, ConfiguredStream } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { configError } from '../common/errors.js';
import type { AirbyteRecord } from '../protocol/messages.js';
import type { BuiltRequest, RequestBuilder } from '../requests/build.js';
import type { BatchShape } from './open-batch.js';
import { batchLimitsFor, buildLimits, skipFor } from './record-policy.js';
import type { SpooledRecord } from '../types/shared.js';

/** The configured stream a RECORD belongs to; a record of a stream outside the catalog ends the run. */
export function streamOf(catalog: Catalog, record: AirbyteRecord, lineNumber: number): ConfiguredStream {
  const stream = catalog.find({ name: record.stream, namespace: record.namespace });
  if (stream) return stream;
  const ns = record.namespace ? `${record.namespace}.` : '';
  throw configError(
    'STREAM_NOT_IN_CATALOG',
    `stdin line ${lineNumber}: RECORD for stream "${ns}${record.stream}", which is not in the configured catalog`,
  );
}

/** The requests this run has already put in a sealed or open batch: custom_id → its seq (RequestIndex). */
export interface SentRequests {
  get(customId: string): number | undefined;
  add(customId: string, seq: number): void;
}

/** The batches being packed: `write` spools real ones, `estimate` counts imaginary ones. */
export interface Packing {
  /** The batch being filled, if any. */
  readonly open: BatchShape | null;
  /** The open batch's seq, else the next one's: the batch a record would join. */
  readonly seq: number;
  /** Seals the open batch (if any); the next record starts a new one. */
  seal(): Promise<void>;
}

export interface AdmissionDeps {
  config: ConnectorConfig;
  builder: RequestBuilder;
  sent: SentRequests;
  cachedAnswer: (customId: string) => string | undefined;
}

/** What is to become of one record: how its request is built, and where its answer comes from. */
export interface Admitted {
  request: BuiltRequest;
  /** Not sent, under the missing-field or oversize policy (its row says why). */
  skip?: SpooledRecord['skip'];
  /** The seq of an earlier batch of this run that sends the identical request: answered from there. */
  answerFrom?: number;
  /** The answer, from the result cache of earlier runs. */
  cached?: string;
  /** Whether the record's request goes out in the batch it joins (once per batch, however many records ask it). */
  sends: boolean;
  /** The request's bytes in the create body, if it sends. */
  bytes: number;
}

/**
 * Record admission, the one rule `write` and `estimate` both pack by: builds the record's request, decides
 * whether it is skipped, answered by an identical request already in an earlier batch of this run, answered
 * from the result cache, or sent; and seals the open batch first when the record (or its request) does not
 * fit. The caller then adds the record to `packing.open` (or starts a batch) and files a new request in
 * `sent`.
 */
export async function admitRecord(
  deps: AdmissionDeps,
  packing: Packing,
  record: AirbyteRecord,
  lineNumber: number,
  dataText: string | undefined,
): Promise<Admitted> {
  const { config, builder } = deps;
  // The caps of the batch this record would join (the open one, else the next).
  const limits = batchLimitsFor(config, packing.seq);
  const request = builder.build(record, buildLimits(config), dataText);
  const skip = skipFor(request, config, lineNumber);
  // A full batch is sealed first, so "already in this batch" below means the batch the record joins.
  if (packing.open && !packing.open.hasRoomForRecord(limits.maxRequests)) await packing.seal();
  // An identical request already in an earlier batch of this run: answered from there, not sent.
  const sentIn = skip ? undefined : deps.sent.get(request.customId);
  const answerFrom = sentIn !== undefined && !(packing.open && sentIn === packing.seq) ? sentIn : undefined;
  const cached = skip || answerFrom !== undefined ? undefined : deps.cachedAnswer(request.customId);
  const sends = !skip && answerFrom === undefined && !cached;
  const bytes = sends ? request.bytes : 0;
  if (packing.open && sends && !packing.open.fits(request.customId, bytes, limits)) await packing.seal();
  return {
    request,
    sends,
    bytes,
    ...(skip ? { skip } : {}),
    ...(answerFrom !== undefined ? { answerFrom } : {}),
    ...(cached ? { cached } : {}),
  };
}
