import type { ConnectorConfig } from '../config/config.js';
import { configError } from '../common/errors.js';
import { estimateRequestCost, requirePrice } from '../cost/estimate.js';
import type { PriceTable } from '../cost/prices.js';

const usd = (n: number) => `$${n.toFixed(4)}`;

/**
 * max_cost_usd: the estimated upper cost (every request uses its whole max_tokens) of what this run has
 * sealed for submission, plus the batch being filled, may not pass the cap. A batch that would pass it is
 * never sealed: the run stops with a config error before paying for it.
 */
export class CostGate {
  private committedUsd = 0;
  private openUsd = 0;

  constructor(
    private readonly config: ConnectorConfig,
    private readonly prices: PriceTable,
  ) {
    if (config.max_cost_usd !== undefined) requirePrice(config.model, prices);
  }

  /** A resumed run: what its earlier attempts sealed counts against the cap. */
  restore(committedUsd: number): void {
    this.committedUsd = committedUsd;
  }

  /**
   * A new request joined the open batch. Its input tokens are asked for only under a cap: estimating them
   * walks the whole prompt, a sixth of the input thread's time when done for every request.
   */
  requestAdded(inputTokens: () => number): void {
    if (this.config.max_cost_usd === undefined) return;
    this.openUsd += estimateRequestCost(
      { inputTokens: inputTokens(), maxTokens: this.config.max_tokens },
      this.config.model,
      this.prices,
    ).upperUsd;
  }

  /** Admits the open batch for submission (or throws BUDGET_EXCEEDED); returns its estimate, now committed. */
  seal(seq: number, requests: number): number {
    const max = this.config.max_cost_usd;
    if (max !== undefined && requests > 0 && this.committedUsd + this.openUsd > max) {
      throw configError(
        'BUDGET_EXCEEDED',
        `submitting batch #${seq} (${requests} requests, estimated up to ${usd(this.openUsd)} with max_tokens as the output) would bring this run's estimated spend to ${usd(this.committedUsd + this.openUsd)}, over max_cost_usd ${usd(max)}; ` +
          `already submitted: ${usd(this.committedUsd)}, still collectable by the next write. Raise max_cost_usd, lower max_tokens, or send less input.`,
      );
    }
    const sealed = this.openUsd;
    this.committedUsd += sealed;
    this.openUsd = 0;
    return sealed;
  }
}
