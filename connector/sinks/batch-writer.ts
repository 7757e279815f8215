import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Schema } from 'apache-arrow';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { outcomeOf, putEnrichmentColumns } from '../batches/outcome.js';
import { IN_MEMORY_RESULTS_BYTES, ResultLines } from '../batches/results-file.js';
import type { Catalog } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import type { RequestBuilder } from '../requests/build.js';
import { streamKey } from '../protocol/messages.js';
import { coerceRecord, coerceValue, objectText } from './coerce.js';
import { interpretAnswer, type OutputSpec } from '../requests/output-spec.js';
import { memberText, objectMembers, type Member } from '../protocol/json-text.js';
import { parquetOptionsFrom, RollingParquetWriter, type ParquetOptions, type Publisher } from './parquet-file.js';
import { objectOutputFor, objectTarget, type ObjectOutput } from './store-output.js';
import { ADDITIONAL_PROPERTIES, streamArrowSchema } from './arrow-schema.js';
import { partFileName, partitionDir } from './layout.js';
import { failpoint } from '../common/failpoints.js';
import { EncodedRecords } from '../cache/record-format.js';
import { textLines } from '../common/lines.js';
import type { Outcome, OutcomeStatus, ResultIndex, SpooledRecord, StreamTally, Usage } from '../types/shared.js';

const addUsage = (
  to: Usage & { requests: number },
  o: { inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number },
) => {
  to.requests++;
  to.input += o.inputTokens;
  to.output += o.outputTokens;
  to.cacheRead += o.cacheReadTokens;
  to.cacheWrite += o.cacheWriteTokens;
};
const noUsage = () => ({ requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0 });

export interface BatchWriteContext {
  destination: string;
  /** Set when the destination is an object store: files are staged locally, then published to it. */
  objectOutput?: ObjectOutput;
  runId: string;
  catalog: Catalog;
  schemas: Map<string, Schema>;
  parquet: ParquetOptions;
  output: OutputSpec;
  promptVersion: (stream: string, namespace: string | null) => string;
  /** false in transform mode (sink "records"): rows go only to onRecord. */
  writeFiles: boolean;
  /** Transform mode: each enriched record as a RECORD message line (no newline), in input order within the batch. */
  onRecord?: (line: string) => Promise<void>;
  /** Collect this batch's good answers for the cross-run cache (see BatchOutput.cacheable). */
  keepAnswers: boolean;
}

/** What writing a batch produced. */
export interface BatchOutput {
  tallies: StreamTally[];
  /**
   * Each request this batch had answered successfully (with keepAnswers), as result cache records keyed by
   * custom_id holding the raw results line: each line parsed here and seen to be a succeeded result for that
   * custom_id, as the cache wants (ResultCache.putEncoded).
   */
  cacheable: { records: Uint8Array; tooLarge: number };
}

/** The parts of the write context that follow from config and catalog alone (the same on every thread). */
export function writeContextBase(
  config: ConnectorConfig,
  catalog: Catalog,
  builder: RequestBuilder,
): Omit<BatchWriteContext, 'runId' | 'onRecord' | 'keepAnswers'> {
  return {
    destination: config.destination_path,
    objectOutput: objectOutputFor(config),
    catalog,
    // Each configured stream's Arrow schema (its data columns plus ours), by stream key.
    schemas: new Map(
      catalog.streams.map((s) => [streamKey(s), streamArrowSchema(s.jsonSchema, builder.output.columns)]),
    ),
    parquet: parquetOptionsFrom(config),
    output: builder.output,
    promptVersion: (stream, namespace) => builder.promptVersionFor(stream, namespace),
    writeFiles: config.sink !== 'records',
  };
}

/** An answer in the configured output shape: a label, validated JSON with its fields, or why it does not fit. */
export function shapeOutcome(
  outcome: Outcome,
  spec: OutputSpec,
): { outcome: Outcome; extracted?: Record<string, unknown> } {
  if (outcome.status !== 'succeeded' || spec.mode === 'text') return { outcome };
  const shaped = interpretAnswer(spec, outcome.output, outcome.stopReason);
  if (!shaped.ok) return { outcome: { ...outcome, status: 'invalid_output', reason: shaped.reason } };
  return { outcome: { ...outcome, output: shaped.value }, extracted: shaped.extracted };
}

/** Per stream: what every row of it shares. */
interface RowContext {
  schema: Schema;
  generationId: number;
  syncId: number | null;
  promptVersion: string;
  output: OutputSpec;
  /** `_airbyte_meta` of a row without changes (most rows): built once. */
  cleanMeta: string;
}

/**
 * Builds one output row: the record's fields coerced to their column types, Airbyte metadata, enrichment,
 * lineage. `dataText`: the record's data as the source wrote it (its numbers exactly).
 */
function buildRow(
  ctx: RowContext,
  record: SpooledRecord,
  dataText: string | undefined,
  shaped: { outcome: Outcome; extracted?: Record<string, unknown> },
  lineage: { batchId: string | undefined; attempt: number },
): Record<string, unknown> {
  const { row, changes: ours } = coerceRecord(ctx.schema, record.data, dataText);
  // The source's own changes (e.g. fields it truncated) travel with the record, ahead of ours.
  const changes: unknown[] = record.changes?.length ? [...record.changes, ...ours] : ours;
  for (const c of ctx.output.columns) {
    delete row[c.column];
    const raw = shaped.extracted?.[c.property];
    if (raw === undefined || raw === null) continue;
    const value = coerceValue(c.kind, raw);
    if (value.ok) row[c.column] = value.value;
    else changes.push({ field: c.column, change: 'NULLED', reason: value.reason });
  }
  row._airbyte_raw_id = record.raw_id;
  const ms = Math.trunc(record.emitted_at);
  // Microseconds as a plain number while exact (until the year 2255); a bigint beyond.
  row._airbyte_extracted_at = Math.abs(ms) < 9_007_199_254_740 ? ms * 1000 : BigInt(ms) * 1000n;
  row._airbyte_generation_id = ctx.generationId;
  row._airbyte_meta = changes.length === 0 ? ctx.cleanMeta : metaJson(changes, ctx.syncId);
  putEnrichmentColumns(row, shaped.outcome, lineage.batchId, record.custom_id);
  row._claude_prompt_version = ctx.promptVersion;
  row._claude_input_truncated = record.truncated === true;
  row._claude_attempt = lineage.attempt;
  return row;
}

const metaJson = (changes: unknown[], syncId: number | null) =>
  JSON.stringify({ changes, ...(syncId !== null ? { sync_id: syncId } : {}) });

/**
 * The RECORD line a transform emits: the source's data as it came (its text, numbers and all) with the
 * enrichment and extracted fields added. A source field named like one of those is moved, under its own name,
 * into `_airbyte_additional_properties` (the rule of the Parquet columns, arrow-schema.ts), so no value is
 * overwritten; a source field of that name itself moves there too in that case.
 */
function enrichedLine(
  record: SpooledRecord,
  dataText: string | undefined,
  row: Record<string, unknown>,
  output: OutputSpec,
): string {
  const added: Member[] = [];
  for (const [key, value] of Object.entries(row)) {
    if (value === undefined || (!key.startsWith('_claude_') && !output.columns.some((c) => c.column === key))) continue;
    added.push({ key, text: typeof value === 'bigint' ? value.toString() : JSON.stringify(value) });
  }
  const data = record.data;
  const collides = added.some((a) => Object.hasOwn(data, a.key));
  let body: string;
  if (!collides && dataText !== undefined) {
    // The source's text up to its closing brace, then our fields.
    const open = dataText.slice(0, dataText.lastIndexOf('}')).trimEnd();
    body = `${open}${open.endsWith('{') ? '' : ','}${objectText(added).slice(1)}`;
  } else {
    const members =
      (dataText !== undefined ? objectMembers(dataText) : undefined) ??
      Object.keys(data).map((key) => ({ key, text: JSON.stringify(data[key]) }));
    const ours = new Set(added.map((a) => a.key));
    if (collides) ours.add(ADDITIONAL_PROPERTIES);
    const moved = members.filter((m) => ours.has(m.key));
    const kept = members.filter((m) => !ours.has(m.key));
    body = objectText([
      ...kept,
      ...added,
      ...(moved.length ? [{ key: ADDITIONAL_PROPERTIES, text: objectText(moved) }] : []),
    ]);
  }
  const namespace = record.namespace ? `,"namespace":${JSON.stringify(record.namespace)}` : '';
  return `{"type":"RECORD","record":{"stream":${JSON.stringify(record.stream)}${namespace},"data":${body},"emitted_at":${JSON.stringify(record.emitted_at)}}}`;
}

/**
 * A seq's answers across its rounds: one results file and batch id per round (a round without one, e.g. lost,
 * keeps its place as a hole), and where each answer is.
 */
export interface BatchResults {
  files: Array<string | undefined>;
  batchIds: Array<string | undefined>;
  index: ResultIndex;
  /** The outcome of a record whose request got no answer at all (default: missing). */
  unanswered?: Outcome;
  /** How many times such a request was sent (default: one per round). */
  attempts?: number;
  /** Answers from earlier seqs of the run, for records whose identical request was sent there. */
  foreign?: Map<number, { files: Array<string | undefined>; batchIds: Array<string | undefined>; index: ResultIndex }>;
}

type StreamOutput = { file: RollingParquetWriter | undefined; tally: StreamTally; row: RowContext };

/** The output of a record's stream in this batch, opened on its first record. */
async function outputFor(
  ctx: BatchWriteContext,
  files: Map<string, StreamOutput>,
  seq: number,
  record: SpooledRecord,
): Promise<StreamOutput> {
  const descriptor = { name: record.stream, namespace: record.namespace };
  const key = streamKey(descriptor);
  const known = files.get(key);
  if (known) return known;
  // A stream collected from an older run may have left the catalog since: keep its data as JSON.
  const stream = ctx.catalog.find(descriptor);
  const schema = ctx.schemas.get(key) ?? streamArrowSchema({});
  let path: string;
  let publisher: Publisher | undefined;
  if (ctx.objectOutput) {
    ({ path, publisher } = await objectTarget(ctx.objectOutput, record.namespace, record.stream, ctx.runId, seq));
  } else {
    const dir = partitionDir(ctx.destination, record.namespace, record.stream, ctx.runId);
    if (ctx.writeFiles) await mkdir(dir, { recursive: true, mode: 0o755 });
    path = join(dir, partFileName(seq));
  }
  const syncId = stream?.syncId ?? null;
  const output: StreamOutput = {
    file: ctx.writeFiles ? await RollingParquetWriter.create(path, schema, ctx.parquet, publisher) : undefined,
    tally: {
      stream: record.stream,
      namespace: record.namespace,
      path,
      paths: [path],
      rows: 0,
      generationId: stream?.generationId ?? 0,
      byStatus: {},
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      billed: noUsage(),
      cachedUsage: noUsage(),
    },
    row: {
      schema,
      generationId: stream?.generationId ?? 0,
      syncId,
      promptVersion: ctx.promptVersion(record.stream, record.namespace),
      output: ctx.output,
      cleanMeta: metaJson([], syncId),
    },
  };
  files.set(key, output);
  return output;
}

/**
 * Joins a batch's spooled records with its downloaded results (by custom_id, so result order does not
 * matter) and writes one Parquet file per stream: `<stream partition>/part-<seq>.parquet`. Files are
 * committed only after every row is written, so a crash leaves no partial file visible.
 */
export async function writeBatchOutput(
  ctx: BatchWriteContext,
  seq: number,
  recordsPath: string,
  results: BatchResults,
): Promise<BatchOutput> {
  const files = new Map<string, StreamOutput>();
  const budget = { bytes: IN_MEMORY_RESULTS_BYTES };
  const own = await ResultLines.open(results.files, budget);
  const lastBatchId = results.batchIds.filter(Boolean).at(-1);
  const foreignLines = new Map<number, ResultLines>();
  const billedIds = new Set<string>();
  const cacheable = new EncodedRecords();
  let done = false;
  try {
    for (const [seq, other] of results.foreign ?? [])
      foreignLines.set(seq, await ResultLines.open(other.files, budget));
    let target: StreamOutput | undefined;
    let targetOf: { stream: string; namespace: string | null } | undefined;
    for await (const chunk of textLines(recordsPath))
      for (const text of chunk) {
        const record = JSON.parse(text) as SpooledRecord;
        const dataText = memberText(text, 'data');
        // Records of one stream usually come in runs: look the stream up only when it changes.
        if (!target || record.stream !== targetOf!.stream || record.namespace !== targetOf!.namespace) {
          target = await outputFor(ctx, files, seq, record);
          targetOf = { stream: record.stream, namespace: record.namespace };
        }
        const source = record.answer_from !== undefined ? results.foreign?.get(record.answer_from) : results;
        const sourceLines = record.answer_from !== undefined ? foreignLines.get(record.answer_from) : own;
        const at = source?.index.get(record.custom_id);
        const fromFile = !record.skip && record.cached === undefined && at !== undefined && sourceLines !== undefined;
        const answered: Outcome = record.skip
          ? { status: 'skipped', errorType: record.skip.type, errorMessage: record.skip.message }
          : record.cached !== undefined
            ? outcomeOf(JSON.parse(record.cached) as MessageBatchIndividualResponse)
            : fromFile
              ? sourceLines!.outcome(at!)
              : (results.unanswered ?? outcomeOf(undefined));
        const shaped = shapeOutcome(answered, ctx.output);
        const outcome = shaped.outcome;
        const batchId = (at && source!.batchIds[at.round]) || lastBatchId;
        const lineage = {
          batchId: record.cached ? undefined : batchId,
          attempt: record.cached ? 0 : at ? at.round + 1 : (results.attempts ?? results.files.length),
        };
        const row = buildRow(target.row, record, dataText, shaped, lineage);
        if (record.cached && row._claude_status === 'succeeded') row._claude_status = 'cached';
        const flushing = target.file?.append(row);
        if (flushing) await flushing;
        if (ctx.onRecord) await ctx.onRecord(enrichedLine(record, dataText, row, ctx.output));
        const t = target.tally;
        t.rows++;
        const status = row._claude_status as OutcomeStatus | 'cached';
        t.byStatus[status] = (t.byStatus[status] ?? 0) + 1;
        const ownAnswer = fromFile && record.answer_from === undefined && !billedIds.has(record.custom_id);
        if (outcome.status === 'succeeded' || outcome.status === 'invalid_output') {
          if (record.cached) addUsage(t.cachedUsage!, outcome);
          else if (ownAnswer) {
            billedIds.add(record.custom_id);
            addUsage(t.billed!, outcome);
            // The line exactly as the API sent it: the cache hands it back as this request's answer later. An
            // answer cut off by max_tokens is never kept: the cache serves it to whatever settings read it later
            // (a run collected under other output settings, say), and under label or json settings it is unusable.
            if (outcome.status === 'succeeded' && outcome.stopReason !== 'max_tokens' && ctx.keepAnswers)
              cacheable.add(record.custom_id, own.bytes(at!));
          }
          t.inputTokens += outcome.inputTokens;
          t.outputTokens += outcome.outputTokens;
          t.cacheReadTokens += outcome.cacheReadTokens;
          t.cacheWriteTokens += outcome.cacheWriteTokens;
        }
      }
    failpoint('mid_parquet');
    for (const { file, tally } of files.values()) {
      tally.paths = file ? await file.commit() : [];
      failpoint('after_file_commit');
    }
    done = true;
  } catch (err) {
    await Promise.all([...files.values()].map(({ file }) => file?.abort()));
    throw err;
  } finally {
    await Promise.all([own, ...foreignLines.values()].map((lines) => lines.close(done)));
  }
  return {
    tallies: [...files.values()].map((f) => f.tally),
    cacheable: { records: cacheable.take(), tooLarge: cacheable.tooLarge },
  };
}
