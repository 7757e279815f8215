// Guards the cost figures a run reports: every number below is worked out by hand from list prices
// (USD per million tokens), so a wrong multiplier, a missed batch discount or a mis-tiered prompt shows up.
import { describe, expect, it } from 'vitest';
import { costOf, estimateRequestCost, runCost, usageOf } from '../../connector/cost/estimate.js';
import { DEFAULT_PRICES, normalizeModel, priceFor, resolvePrices } from '../../connector/cost/prices.js';
import { sdkModelIds } from '../helpers/sdk-models.js';

const usage = (input: number, output: number, cacheRead = 0, cacheWrite = 0) => ({
  input,
  output,
  cacheRead,
  cacheWrite,
});

describe('costOf', () => {
  it('prices Haiku 4.5 at $1/$5 standard and half that in a batch', () => {
    // 1M in × $1 + 1M out × $5 = $6 standard, $3 batch
    expect(costOf(usage(1e6, 1e6), 'claude-haiku-4-5', { batch: false })).toBeCloseTo(6, 10);
    expect(costOf(usage(1e6, 1e6), 'claude-haiku-4-5', { batch: true })).toBeCloseTo(3, 10);
    // 1,000 in + 200 out: (1000 × 1 + 200 × 5) / 1e6 = $0.002; batch $0.001
    expect(costOf(usage(1000, 200), 'claude-haiku-4-5-20251001', { batch: true })).toBeCloseTo(0.001, 12);
  });

  it('prices Sonnet 4.6 at $3/$15 with cache write 1.25× and cache read 0.1× of input', () => {
    // 10k in × 3 + 2k out × 15 + 50k read × 0.30 + 20k write × 3.75 = 30,000 + 30,000 + 15,000 + 75,000 = 150,000 per M
    const u = usage(10_000, 2_000, 50_000, 20_000);
    expect(costOf(u, 'claude-sonnet-4-6', { batch: false })).toBeCloseTo(0.15, 12);
    expect(costOf(u, 'claude-sonnet-4-6', { batch: true })).toBeCloseTo(0.075, 12);
    // 1-hour writes at 2× input: 5k of the 20k → 15k × 3.75 + 5k × 6 = 56,250 + 30,000 (was 75,000) → +11,250
    expect(costOf({ ...u, cacheWrite1h: 5_000 }, 'claude-sonnet-4-6', { batch: false })).toBeCloseTo(0.16125, 12);
  });

  it('uses model-specific cache read multipliers and long-context rate cards', () => {
    // Opus 5.5: $4 in, cache read 0.05× = $0.20: 1M read → $0.20
    expect(costOf(usage(0, 0, 1e6), 'claude-opus-5-5', { batch: false })).toBeCloseTo(0.2, 12);
    // Haiku 5.5: 100k prompt tokens at $0.10/$0.50; 100,001 at $0.50/$2.50
    expect(costOf(usage(100_000, 1_000), 'claude-haiku-5-5', { batch: false })).toBeCloseTo(
      (100_000 * 0.1 + 1_000 * 0.5) / 1e6,
      12,
    );
    expect(costOf(usage(90_000, 1_000, 10_001), 'claude-haiku-5-5', { batch: false })).toBeCloseTo(
      (90_000 * 0.5 + 1_000 * 2.5 + 10_001 * 0.05) / 1e6,
      12,
    );
  });

  it('fails with a config error naming the fix for a model without a price', () => {
    expect(() => costOf(usage(1, 1), 'claude-unknown-9', { batch: true })).toThrow(
      expect.objectContaining({
        code: 'PRICE_UNKNOWN',
        failureType: 'config_error',
        message: expect.stringContaining('price_overrides'),
      }),
    );
  });
});

describe('price table', () => {
  it('has a price for every model id the SDK knows', () => {
    const sdkModels = sdkModelIds();
    expect(sdkModels.length).toBeGreaterThan(10);
    expect(sdkModels.filter((m) => !priceFor(m))).toEqual([]);
    expect(normalizeModel('claude-opus-4-20250514')).toBe('claude-opus-4-0');
    expect(priceFor('claude-3-5-haiku-latest')?.input).toBe(0.8);
  });

  it('applies config overrides (new models too) and a custom batch discount, validating them', () => {
    const prices = resolvePrices({
      price_overrides: {
        'claude-haiku-4-5': { input: 2, output: 10 },
        'my-model': { input: 1, output: 1, cache_read: 0.5 },
      },
      batch_discount: 0.25,
    });
    // 1M in × $2 + 1M cache write × $2.5 (1.25× the overridden input); batch: × 0.75
    expect(costOf(usage(1e6, 0, 0, 1e6), 'claude-haiku-4-5', { batch: true }, prices)).toBeCloseTo(4.5 * 0.75, 10);
    expect(costOf(usage(0, 0, 1e6), 'my-model', { batch: false }, prices)).toBeCloseTo(0.5, 10);
    expect(DEFAULT_PRICES.models['claude-haiku-4-5']?.input).toBe(1); // the defaults are untouched
    expect(() => resolvePrices({ batch_discount: 1.5 })).toThrow(
      expect.objectContaining({ code: 'PRICE_OVERRIDE_INVALID' }),
    );
    expect(() => resolvePrices({ price_overrides: { x: { input: -1, output: 1 } } })).toThrow(
      /price_overrides\.x\.input/,
    );
  });
});

describe('runCost', () => {
  it('totals batch and synchronous cost per model, and lists unpriced models without failing', () => {
    const run = runCost([
      { model: 'claude-haiku-4-5-20251001', usage: usage(1000, 200) }, // $0.002 sync
      { model: 'claude-haiku-4-5', usage: usage(3000, 400) }, // (3000 + 2000) / 1e6 = $0.005 sync
      { model: 'claude-sonnet-4-6', usage: { ...usage(1000, 100, 2000, 0) } }, // 3000 + 1500 + 600 = $0.0051 sync
      { model: 'claude-unknown-9', usage: usage(10, 10) },
    ]);
    expect(run.requests).toBe(4);
    expect(run.usage).toEqual({ input: 5010, output: 710, cacheRead: 2000, cacheWrite: 0, cacheWrite1h: 0 });
    expect(run.syncUsd).toBeCloseTo(0.0121, 12);
    expect(run.batchUsd).toBeCloseTo(0.00605, 12);
    expect(run.savedUsd).toBeCloseTo(0.00605, 12);
    expect(run.byModel['claude-haiku-4-5']).toMatchObject({ requests: 2, syncUsd: expect.closeTo(0.007, 12) });
    expect(run.unpriced).toEqual({ 'claude-unknown-9': 1 });
  });

  it('reads usage from succeeded outcomes only', () => {
    expect(
      usageOf({
        status: 'succeeded',
        output: 'x',
        model: 'm',
        stopReason: null,
        inputTokens: 5,
        outputTokens: 6,
        cacheReadTokens: 7,
        cacheWriteTokens: 8,
      }),
    ).toEqual({ input: 5, output: 6, cacheRead: 7, cacheWrite: 8 });
    expect(usageOf({ status: 'expired' })).toBeUndefined();
  });
});

describe('estimateRequestCost', () => {
  it('gives an upper bound at max_tokens and an expected figure at the expected output', () => {
    // Haiku 4.5 batch: 2000 in × $0.50 + 512 out × $2.50 = 1000 + 1280 = $0.00228; expected 120 out: 1000 + 300 = $0.0013
    const e = estimateRequestCost({ inputTokens: 2000, maxTokens: 512, expectedOutputTokens: 120 }, 'claude-haiku-4-5');
    expect(e.upperUsd).toBeCloseTo(0.00228, 12);
    expect(e.expectedUsd).toBeCloseTo(0.0013, 12);
    expect(estimateRequestCost({ inputTokens: 2000, maxTokens: 512 }, 'claude-haiku-4-5').expectedUsd).toBeUndefined();
    // expected output is capped at max_tokens; synchronous on request
    expect(
      estimateRequestCost(
        { inputTokens: 0, maxTokens: 100, expectedOutputTokens: 1e6 },
        'claude-sonnet-4-6',
        DEFAULT_PRICES,
        { batch: false },
      ).expectedUsd,
    ).toBeCloseTo(0.0015, 12);
  });
});
