// The max_cost_usd gate: what it counts, when it refuses, and that it costs nothing when no cap is set.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../connector/config/config.js';
import { DEFAULT_PRICES } from '../../connector/cost/prices.js';
import { CostGate } from '../../connector/pipeline/cost-gate.js';

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig(
    { base_url: 'emulator', destination_path: '/tmp/x', prompt_template: 'Say: {{ body }}', max_tokens: 100, ...extra },
    {},
  );

describe('CostGate', () => {
  it('never asks for input tokens without a cap (estimating them walks every prompt)', () => {
    const gate = new CostGate(config(), DEFAULT_PRICES);
    let asked = 0;
    for (let i = 0; i < 3; i++) gate.requestAdded(() => ++asked);
    expect(asked).toBe(0);
    expect(gate.seal(1, 3)).toBe(0);
  });

  it('counts each request at its input plus max_tokens, and refuses the batch that would pass the cap', () => {
    // Haiku 4.5 in a batch: $0.50/M input, $2.50/M output; 1,000 input + 100 output tokens = $0.00075.
    const gate = new CostGate(config({ model: 'claude-haiku-4-5', max_cost_usd: 0.002 }), DEFAULT_PRICES);
    let asked = 0;
    gate.requestAdded(() => (asked++, 1000));
    gate.requestAdded(() => (asked++, 1000));
    expect(asked).toBe(2);
    expect(gate.seal(1, 2)).toBeCloseTo(0.0015, 10);
    gate.requestAdded(() => 1000);
    expect(() => gate.seal(2, 1)).toThrow(/submitting batch #2 \(1 requests.*over max_cost_usd \$0\.0020/);
  });
});
