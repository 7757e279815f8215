import { seededRandom } from './random.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * How long batches take, in API time: a fixed start-up delay drawn per batch (log-normal), plus a processing
 * time per request; a few batches are slow (a multiple of that), and a chosen share never finish inside the
 * 24 h window (their unprocessed requests expire). Defaults give what the docs describe: most batches end
 * within an hour, some take longer. Draws are seeded by the batch's creation index, so runs repeat.
 */
export interface LatencyModel {
  /** Median start-up delay of a batch (default 15 min). */
  medianStartMs?: number;
  /** Spread of the start-up delay: sigma of its logarithm (default 0.5: p95 ≈ 2.3 × the median). */
  sigma?: number;
  /** Processing time per request, spread over the batch (default 60 ms: 10,000 requests take 10 min more). */
  perRequestMs?: number;
  /** Share of batches that are slow (default 0.02), and how many times slower (default 4). */
  slowShare?: number;
  slowFactor?: number;
  /** Share of batches that would take 48 h: they hit the 24 h limit with half their requests unprocessed. */
  expireShare?: number;
}

export function latencyFor(model: LatencyModel, seed: number): (batchIndex: number, requests: number) => number {
  const median = model.medianStartMs ?? 15 * MINUTE;
  const sigma = model.sigma ?? 0.5;
  const perRequest = model.perRequestMs ?? 60;
  const slowShare = model.slowShare ?? 0.02;
  const slowFactor = model.slowFactor ?? 4;
  const expireShare = model.expireShare ?? 0;
  return (batchIndex, requests) => {
    const random = seededRandom(seed * 7919 + batchIndex * 104_729 + 1);
    if (random() < expireShare) return 48 * HOUR;
    // Box–Muller: one standard normal draw from two uniforms.
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const base = median * Math.exp(sigma * normal) + requests * perRequest;
    return Math.round(random() < slowShare ? base * slowFactor : base);
  };
}

/** The mean duration the model gives a batch of `requests` (without expiring ones), for benchmark baselines. */
export function expectedLatencyMs(model: LatencyModel, requests: number): number {
  const median = model.medianStartMs ?? 15 * MINUTE;
  const sigma = model.sigma ?? 0.5;
  const slow = 1 + (model.slowShare ?? 0.02) * ((model.slowFactor ?? 4) - 1);
  return (median * Math.exp((sigma * sigma) / 2) + requests * (model.perRequestMs ?? 60)) * slow;
}
