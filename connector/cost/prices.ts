import { configError } from '../common/errors.js';

/**
 * List prices in USD per million tokens at standard (synchronous) rates. Batch requests cost
 * (1 − batchDiscount) of these; prompt-caching multipliers stack with the discount.
 */
export interface ModelPrice {
  input: number;
  output: number;
  /** 5-minute cache write: 1.25 × input unless stated. */
  cacheWrite: number;
  /** 1-hour cache write: 2 × input unless stated. */
  cacheWrite1h: number;
  /** Cache hit: 0.1 × input unless stated (0.05× Opus/Sonnet 5.5, 0.025× Fable/Mythos 5.1). */
  cacheRead: number;
  /** A second rate card for long prompts: applies when input + cache read + cache write tokens exceed the threshold. */
  longContext?: { thresholdTokens: number; price: Omit<ModelPrice, 'longContext' | 'estimated'> };
  /** Our best-known list price, not found in the reference notes: check before trusting a bill to it. */
  estimated?: boolean;
}

export interface PriceTable {
  models: Readonly<Record<string, ModelPrice>>;
  /** Fraction taken off every token category for batch requests: 0.5 = half price. */
  batchDiscount: number;
}

/** Config fields (snake_case, as in spec.json) that adjust the table. */
export interface PriceConfig {
  price_overrides?: Record<
    string,
    { input: number; output: number; cache_write?: number; cache_read?: number; cache_write_1h?: number }
  >;
  batch_discount?: number;
}

/** Builds a price from input/output with the standard caching multipliers. */
export function modelPrice(
  input: number,
  output: number,
  opts: {
    cacheReadMultiplier?: number;
    estimated?: boolean;
    longContext?: { thresholdTokens: number; input: number; output: number };
  } = {},
): ModelPrice {
  const read = opts.cacheReadMultiplier ?? 0.1;
  const base = (i: number, o: number) => ({
    input: i,
    output: o,
    cacheWrite: i * 1.25,
    cacheWrite1h: i * 2,
    cacheRead: i * read,
  });
  return {
    ...base(input, output),
    ...(opts.longContext
      ? {
          longContext: {
            thresholdTokens: opts.longContext.thresholdTokens,
            price: base(opts.longContext.input, opts.longContext.output),
          },
        }
      : {}),
    ...(opts.estimated ? { estimated: true } : {}),
  };
}

/**
 * The default table. Figures from the team's reference notes (batches-api.md "Money", batches-api-research.md
 * §5.3, from Anthropic's pricing pages) unless marked `estimated: true`: those are our best-known list prices
 * for models the notes have no figure for. Prices change: config `price_overrides` wins over this table.
 */
export const DEFAULT_MODEL_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-fable-5-2': modelPrice(10, 50, { cacheReadMultiplier: 0.025, estimated: true }), // assumed = Fable 5.1
  'claude-mythos-5-2': modelPrice(10, 50, { cacheReadMultiplier: 0.025, estimated: true }), // assumed = Mythos 5.1
  'claude-fable-5-1': modelPrice(10, 50, { cacheReadMultiplier: 0.025 }),
  'claude-mythos-5-1': modelPrice(10, 50, { cacheReadMultiplier: 0.025 }),
  'claude-fable-5': modelPrice(10, 50),
  'claude-mythos-5': modelPrice(10, 50),
  'claude-mythos-preview': modelPrice(25, 125, { estimated: true }),
  'claude-opus-5-5': modelPrice(4, 20, { cacheReadMultiplier: 0.05 }),
  'claude-opus-5': modelPrice(5, 25),
  'claude-opus-4-8': modelPrice(5, 25),
  'claude-opus-4-7': modelPrice(5, 25),
  'claude-opus-4-6': modelPrice(5, 25),
  'claude-opus-4-5': modelPrice(5, 25),
  'claude-opus-4-1': modelPrice(15, 75),
  'claude-opus-4-0': modelPrice(15, 75),
  'claude-sonnet-5-5': modelPrice(2, 10, { cacheReadMultiplier: 0.05 }),
  'claude-sonnet-5': modelPrice(2, 10),
  'claude-sonnet-4-6': modelPrice(3, 15),
  // Sonnet 4 / 4.5 with the 1M-context beta: prompts over 200k tokens at $6 / $22.50.
  'claude-sonnet-4-5': modelPrice(3, 15, {
    longContext: { thresholdTokens: 200_000, input: 6, output: 22.5 },
    estimated: true,
  }),
  'claude-sonnet-4-0': modelPrice(3, 15, {
    longContext: { thresholdTokens: 200_000, input: 6, output: 22.5 },
    estimated: true,
  }),
  'claude-3-7-sonnet': modelPrice(3, 15, { estimated: true }),
  'claude-haiku-5-5': modelPrice(0.1, 0.5, { longContext: { thresholdTokens: 100_000, input: 0.5, output: 2.5 } }),
  'claude-haiku-4-5': modelPrice(1, 5),
  'claude-3-5-haiku': modelPrice(0.8, 4),
  'claude-3-haiku': modelPrice(0.25, 1.25, { estimated: true }),
  'claude-3-opus': modelPrice(15, 75, { estimated: true }),
};

export const DEFAULT_BATCH_DISCOUNT = 0.5;

export const DEFAULT_PRICES: PriceTable = { models: DEFAULT_MODEL_PRICES, batchDiscount: DEFAULT_BATCH_DISCOUNT };

/** Older ids whose family name differs from the table's key. */
const ALIASES: Readonly<Record<string, string>> = {
  'claude-opus-4': 'claude-opus-4-0',
  'claude-sonnet-4': 'claude-sonnet-4-0',
};

/**
 * The table key for a model id: dated snapshots (`claude-haiku-4-5-20251001`, `claude-opus-4-20250514`)
 * and `-latest` aliases map to their family.
 */
export function normalizeModel(model: string): string {
  const family = model.replace(/-(\d{8}|latest)$/, '');
  return ALIASES[family] ?? family;
}

/** The price of `model`, or undefined when neither the id nor its family is in the table. */
export function priceFor(model: string, prices: PriceTable = DEFAULT_PRICES): ModelPrice | undefined {
  return prices.models[model] ?? prices.models[normalizeModel(model)];
}

/**
 * The default table with config applied. An override replaces a model's whole price (its long-context
 * card too), may name a model the table lacks, and takes cache prices from the standard multipliers
 * when it leaves them out.
 * @example resolvePrices({ price_overrides: { 'claude-haiku-4-5': { input: 0.8, output: 4 } }, batch_discount: 0.5 })
 */
export function resolvePrices(config: PriceConfig = {}, base: PriceTable = DEFAULT_PRICES): PriceTable {
  const money = (where: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw configError(
        'PRICE_OVERRIDE_INVALID',
        `${where} must be a number >= 0 (USD per million tokens), got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const models: Record<string, ModelPrice> = { ...base.models };
  for (const [model, o] of Object.entries(config.price_overrides ?? {})) {
    const at = `price_overrides.${model}`;
    const input = money(`${at}.input`, o?.input);
    models[model] = {
      input,
      output: money(`${at}.output`, o?.output),
      cacheWrite: o.cache_write === undefined ? input * 1.25 : money(`${at}.cache_write`, o.cache_write),
      cacheWrite1h: o.cache_write_1h === undefined ? input * 2 : money(`${at}.cache_write_1h`, o.cache_write_1h),
      cacheRead: o.cache_read === undefined ? input * 0.1 : money(`${at}.cache_read`, o.cache_read),
    };
  }
  const discount = config.batch_discount ?? base.batchDiscount;
  if (typeof discount !== 'number' || !Number.isFinite(discount) || discount < 0 || discount > 1) {
    throw configError(
      'PRICE_OVERRIDE_INVALID',
      `batch_discount must be a fraction between 0 and 1 (0.5 = half price), got ${JSON.stringify(discount)}`,
    );
  }
  return { models, batchDiscount: discount };
}
