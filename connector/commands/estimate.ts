import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { loadCatalog } from '../config/catalog.js';
import { loadConfig } from '../config/config.js';
import { ResultCache } from '../cache/result-cache.js';
import { estimateRequestCost } from '../cost/estimate.js';
import { priceFor, resolvePrices } from '../cost/prices.js';
import { BatchShape } from '../pipeline/open-batch.js';
import { admitRecord, streamOf, type Packing } from '../pipeline/record-admission.js';
import { InputError, parseMessage, readLines } from '../protocol/reader.js';
import { recordDataText } from '../protocol/record-span.js';
import { RequestBuilder } from '../requests/build.js';
import { CONTROL_DIR, resultCacheDir } from '../sinks/layout.js';
import { localWorkRoot } from '../storage/open-store.js';
import { DestinationLock } from '../journal/lock.js';
import { REQUEST_INDEX_FILE, RequestIndex } from '../journal/request-index.js';

export interface Estimate {
  model: string;
  records: number;
  bad_lines: number;
  skipped: number;
  truncated: number;
  duplicates: number;
  cached: number;
  requests_to_send: number;
  batches: number;
  estimated_input_tokens: number;
  max_output_tokens: number;
  /** Upper bound: every request uses its whole max_tokens. */
  estimated_cost_usd: number | null;
  same_work_synchronous_usd: number | null;
  note: string;
}

/**
 * `estimate` (dry run): reads the input exactly as `write` would — templates, size and token limits,
 * the missing-field policy, identical requests sent once, answers already in the result cache — and
 * reports what would be sent and what it would cost, without submitting anything.
 */
export async function estimateCommand(
  options: { config: string; catalog: string },
  input: Readable,
  out: NodeJS.WritableStream = process.stdout,
): Promise<Estimate> {
  const config = await loadConfig(options.config);
  const builder = new RequestBuilder(config);
  const catalog = await loadCatalog(options.catalog);
  const prices = resolvePrices({ price_overrides: config.price_overrides, batch_discount: config.batch_discount });
  const cacheDir = resultCacheDir(localWorkRoot(config), config.base_url);
  let cache: ResultCache | undefined;
  let lock: DestinationLock | undefined;
  if (config.result_cache.enabled && existsSync(cacheDir)) {
    // The cache is this host's working folder's, and so is this lock: a write holds it (on a bucket, beside the
    // lease), so opening the cache never races a live writer's, and a writer on another host is no contender.
    lock = DestinationLock.acquire(join(localWorkRoot(config), CONTROL_DIR));
    cache = ResultCache.open(cacheDir, {
      maxEntries: config.result_cache.max_entries,
      maxBytes: config.result_cache.max_size_mb * 1024 * 1024,
    });
  }
  const e: Estimate = {
    model: config.model,
    records: 0,
    bad_lines: 0,
    skipped: 0,
    truncated: 0,
    duplicates: 0,
    cached: 0,
    requests_to_send: 0,
    batches: 0,
    estimated_input_tokens: 0,
    max_output_tokens: 0,
    estimated_cost_usd: null,
    same_work_synchronous_usd: null,
    note: 'token counts are a local estimate (about 4 characters per token); cost assumes every request uses all of max_tokens, at the price table in connector/cost/prices.ts plus price_overrides',
  };
  // Packing is write's own: the same admission (admitRecord: skips, identical requests answered by the batch
  // that sends them, cache hits), the same caps per batch number (ramp-up included), and the same on-disk
  // index of requests already sent. A batch seals on its request count, body size, or record count (records
  // that send nothing still fill it); only batches with requests are sent.
  const scratch = mkdtempSync(join(tmpdir(), 'claude-batch-estimate-'));
  const sent = new RequestIndex(join(scratch, REQUEST_INDEX_FILE));
  // Every request id read so far (sent or not): a repeat counts as a duplicate, the first as cached or sent.
  const seen = new RequestIndex(join(scratch, 'seen-index'));
  const packing = new ImaginaryBatches(e);
  const deps = { config, builder, sent, cachedAnswer: (id: string) => cache?.get(id) };
  try {
    for await (const line of readLines(input)) {
      let message;
      try {
        message = parseMessage(line);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        e.bad_lines++;
        continue;
      }
      if (message?.type !== 'RECORD') continue;
      const record = message.record;
      streamOf(catalog, record, line.lineNumber);
      e.records++;
      const admitted = await admitRecord(deps, packing, record, line.lineNumber, recordDataText(line.text));
      const { request, skip, sends } = admitted;
      const isNew = packing.open.count(sends ? request.customId : undefined, request.bytes);
      if (skip) e.skipped++;
      else if (request.truncated) e.truncated++;
      if (skip) continue;
      const repeat = seen.get(request.customId) !== undefined;
      if (!repeat) seen.add(request.customId, 0);
      if (isNew) {
        sent.add(request.customId, packing.seq);
        e.requests_to_send++;
        e.estimated_input_tokens += builder.inputTokens(request);
      } else if (admitted.cached && !repeat) e.cached++;
      else e.duplicates++;
    }
  } finally {
    sent.close();
    seen.close();
    rmSync(scratch, { recursive: true, force: true });
    cache?.close();
    lock?.release();
  }
  await packing.seal();
  e.max_output_tokens = e.requests_to_send * config.max_tokens;
  if (priceFor(config.model, prices)) {
    const total = { inputTokens: e.estimated_input_tokens, maxTokens: e.max_output_tokens };
    e.estimated_cost_usd = round(estimateRequestCost(total, config.model, prices, { batch: true }).upperUsd);
    e.same_work_synchronous_usd = round(estimateRequestCost(total, config.model, prices, { batch: false }).upperUsd);
  }
  out.write(JSON.stringify(e, null, 2) + '\n');
  return e;
}

const round = (usd: number) => Math.round(usd * 1e6) / 1e6;

/** The batches `write` would pack, counted, not spooled: the open one is always there (sealing an empty one is a no-op). */
class ImaginaryBatches implements Packing {
  open = new BatchShape();
  seq = 0;

  constructor(private readonly e: Estimate) {}

  async seal(): Promise<void> {
    if (this.open.records === 0) return;
    if (this.open.requests > 0) this.e.batches++;
    this.open = new BatchShape();
    this.seq++;
  }
}
