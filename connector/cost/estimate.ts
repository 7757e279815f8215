import { configError } from '../common/errors.js';
import { DEFAULT_PRICES, normalizeModel, priceFor, type ModelPrice, type PriceTable } from './prices.js';
import type { Outcome } from '../types/shared.js';

/**
 * Token usage of one request, as the API reports it. `input` excludes cached tokens (the API's
 * `input_tokens`); `cacheWrite` is `cache_creation_input_tokens`, of which `cacheWrite1h` (optional) were
 * written with the 1-hour TTL; `cacheRead` is `cache_read_input_tokens`.
 */
export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h?: number;
}

/** Usage of a succeeded outcome (other outcomes were not billed). */
export function usageOf(outcome: Outcome): TokenUsage | undefined {
  if (outcome.status !== 'succeeded') return undefined;
  return {
    input: outcome.inputTokens,
    output: outcome.outputTokens,
    cacheRead: outcome.cacheReadTokens,
    cacheWrite: outcome.cacheWriteTokens,
  };
}

/** The price of `model`, or a config error saying how to add one. */
export function requirePrice(model: string, prices: PriceTable = DEFAULT_PRICES): ModelPrice {
  const price = priceFor(model, prices);
  if (!price) {
    throw configError(
      'PRICE_UNKNOWN',
      `no price is known for model ${model}; add price_overrides: { "${normalizeModel(model)}": { "input": <USD per M tokens>, "output": <USD per M tokens> } } to the config`,
    );
  }
  return price;
}

/**
 * USD for one request's usage: standard prices, times (1 − batchDiscount) when it ran in a batch. The
 * long-context card applies when the whole prompt (input + cache read + cache write) passes its threshold.
 * Throws PRICE_UNKNOWN for a model without a price. An estimate from list prices, not an invoice.
 * @example costOf({ input: 1000, output: 200, cacheRead: 0, cacheWrite: 0 }, 'claude-haiku-4-5', { batch: true }) // 0.001
 */
export function costOf(
  usage: TokenUsage,
  model: string,
  opts: { batch: boolean },
  prices: PriceTable = DEFAULT_PRICES,
): number {
  const price = requirePrice(model, prices);
  const prompt = usage.input + usage.cacheRead + usage.cacheWrite;
  const p = price.longContext && prompt > price.longContext.thresholdTokens ? price.longContext.price : price;
  const write1h = Math.min(usage.cacheWrite1h ?? 0, usage.cacheWrite);
  const perMillion =
    usage.input * p.input +
    usage.output * p.output +
    (usage.cacheWrite - write1h) * p.cacheWrite +
    write1h * p.cacheWrite1h +
    usage.cacheRead * p.cacheRead;
  return (perMillion / 1e6) * (opts.batch ? 1 - prices.batchDiscount : 1);
}

export interface CostTotals {
  requests: number;
  usage: Required<TokenUsage>;
  /** What the work cost through the Batches API. */
  batchUsd: number;
  /** The same work at synchronous prices. */
  syncUsd: number;
}

export interface RunCost extends CostTotals {
  savedUsd: number;
  byModel: Record<string, CostTotals>;
  /** Requests (per model) left out of the USD figures because no price is known; their tokens are counted. */
  unpriced: Record<string, number>;
}

const emptyTotals = (): CostTotals => ({
  requests: 0,
  usage: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0 },
  batchUsd: 0,
  syncUsd: 0,
});

function add(t: CostTotals, u: TokenUsage, batchUsd: number, syncUsd: number): void {
  t.requests++;
  t.usage.input += u.input;
  t.usage.output += u.output;
  t.usage.cacheRead += u.cacheRead;
  t.usage.cacheWrite += u.cacheWrite;
  t.usage.cacheWrite1h += u.cacheWrite1h ?? 0;
  t.batchUsd += batchUsd;
  t.syncUsd += syncUsd;
}

/**
 * Totals for a run: one item per request that was billed (one per custom_id answered by the API, not one per
 * record: fanned-out duplicates and result-cache hits cost nothing). `model` is the model that answered
 * (the response's `model`, dated ids are fine). Never throws for an unknown model: it is listed in `unpriced`.
 * @example runCost(results.map((r) => ({ model: r.model, usage: usageOf(r)! })))
 */
export function runCost(
  items: Iterable<{ model: string; usage: TokenUsage }>,
  prices: PriceTable = DEFAULT_PRICES,
): RunCost {
  const total = emptyTotals();
  const byModel: Record<string, CostTotals> = {};
  const unpriced: Record<string, number> = {};
  for (const { model, usage } of items) {
    const key = normalizeModel(model);
    let batchUsd = 0;
    let syncUsd = 0;
    if (priceFor(model, prices)) {
      batchUsd = costOf(usage, model, { batch: true }, prices);
      syncUsd = costOf(usage, model, { batch: false }, prices);
    } else {
      unpriced[key] = (unpriced[key] ?? 0) + 1;
    }
    add(total, usage, batchUsd, syncUsd);
    add((byModel[key] ??= emptyTotals()), usage, batchUsd, syncUsd);
  }
  return { ...total, savedUsd: total.syncUsd - total.batchUsd, byModel, unpriced };
}

export interface RequestEstimate {
  /** Input plus max_tokens of output: what the request can cost at most (given the input estimate). */
  upperUsd: number;
  /** Input plus the expected output; undefined when no expectation was given. */
  expectedUsd: number | undefined;
}

/**
 * Pre-submission estimate for one request (multiply by the request count for a batch). Offers both an upper
 * bound (output = maxTokens, which the API never exceeds) and an expected figure (output =
 * expectedOutputTokens, e.g. the mean output of results so far, capped at maxTokens). Input tokens come from
 * estimateTokens() or count_tokens; optional cache figures split them like the API's usage does.
 * Throws PRICE_UNKNOWN for a model without a price.
 * @example estimateRequestCost({ inputTokens: 2000, maxTokens: 512, expectedOutputTokens: 120 }, 'claude-haiku-4-5')
 */
export function estimateRequestCost(
  req: {
    inputTokens: number;
    maxTokens: number;
    expectedOutputTokens?: number;
    cacheReadTokens?: number;
    cacheWriteTokens?: number;
  },
  model: string,
  prices: PriceTable = DEFAULT_PRICES,
  opts: { batch: boolean } = { batch: true },
): RequestEstimate {
  const usage = (output: number): TokenUsage => ({
    input: req.inputTokens,
    output,
    cacheRead: req.cacheReadTokens ?? 0,
    cacheWrite: req.cacheWriteTokens ?? 0,
  });
  const upperUsd = costOf(usage(req.maxTokens), model, opts, prices);
  const expected = req.expectedOutputTokens;
  return {
    upperUsd,
    expectedUsd:
      expected === undefined ? undefined : costOf(usage(Math.min(expected, req.maxTokens)), model, opts, prices),
  };
}
