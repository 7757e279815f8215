// Guards the emulator's stand-in model: labels for label prompts, "[emulator] Summary" otherwise, schema-conforming JSON, max_tokens truncation, and prompt-cache accounting (writes, reads, TTLs, the minimum length).
import { Ajv } from 'ajv';
import type { BatchCreateParams } from '@anthropic-ai/sdk/resources/messages/batches';
import type { TextBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelInstruction } from '../../connector/requests/output-spec.js';
import { ask, HAIKU, resultsById, start, succeeded, textOf, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await start({ minCacheableTokens: 10 });
});
afterAll(() => h.emu.close());

/** Runs one batch to the end and returns its results by custom_id. */
async function run(requests: BatchCreateParams.Request[]) {
  const batch = await h.client.messages.batches.create({ requests });
  return resultsById(h.client, batch.id);
}

describe('answers', () => {
  it('picks the label a label prompt asks for', async () => {
    const labels = 'Labels: invoice, contract, report, letter';
    const results = await run([
      ask(
        'inv',
        `${labels}\n\nINVOICE #2024-117\nBill to: ACME GmbH\nSubtotal: 400.00 EUR\nVAT 19%\nAmount due: 476.00 EUR\nIBAN DE89 3704 0044`,
      ),
      ask(
        'ctr',
        `${labels}\n\nThis Agreement is made between the parties hereby; governing law: England. Clause 4: term of the contract.`,
      ),
      ask('let', `${labels}\n\nDear Ms Smith, I am writing to thank you. Yours sincerely, Tom`),
    ]);
    expect(textOf(succeeded(results.get('inv')))).toBe('invoice');
    expect(textOf(succeeded(results.get('ctr')))).toBe('contract');
    expect(textOf(succeeded(results.get('let')))).toBe('letter');
  });

  it('reads the labels from the instruction the connector itself puts in the shared prefix', async () => {
    const system = labelInstruction(['invoice', 'contract', 'letter']);
    const results = await run([
      ask('inv', 'Subtotal 400.00 EUR, VAT, amount due, IBAN', { system }),
      ask('let', 'Dear Tom, yours sincerely', { system }),
    ]);
    expect(textOf(succeeded(results.get('inv')))).toBe('invoice');
    expect(textOf(succeeded(results.get('let')))).toBe('letter');
  });

  it('summarises a plain prompt with an [emulator] marker and its first words', async () => {
    const text = 'The quarterly board meeting moved to Thursday because the auditors arrive late';
    const message = succeeded((await run([ask('plain', text)])).get('plain'));
    expect(textOf(message)).toMatch(/^\[emulator\] Summary: /);
    expect(textOf(message)).toContain('The quarterly board meeting moved to Thursday');
    expect(message.stop_reason).toBe('end_turn');
  });

  it('answers a json_schema output_config with JSON that conforms to the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string' },
        pages: { type: 'integer' },
        total: { type: 'number' },
        urgent: { type: 'boolean' },
        kind: { type: 'string', enum: ['invoice', 'contract', 'report'] },
        due: { type: 'string', format: 'date' },
        tags: { type: 'array', items: { type: 'string' } },
        party: {
          type: 'object',
          properties: { name: { type: 'string' }, vat: { type: ['string', 'null'] } },
          required: ['name', 'vat'],
          additionalProperties: false,
        },
      },
      required: ['title', 'pages', 'total', 'urgent', 'kind', 'due', 'tags', 'party'],
      additionalProperties: false,
    };
    const message = succeeded(
      (
        await run([
          ask('json', 'Invoice 17 for 12.50 EUR, due 2025-03-01, from ACME', {
            output_config: { format: { type: 'json_schema', schema } },
          }),
        ])
      ).get('json'),
    );
    const value = JSON.parse(textOf(message)) as Record<string, unknown>;
    expect(typeof value.title).toBe('string');
    expect(Number.isInteger(value.pages)).toBe(true);
    expect(typeof value.total).toBe('number');
    expect(typeof value.urgent).toBe('boolean');
    expect(['invoice', 'contract', 'report']).toContain(value.kind);
    expect(value.due).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Array.isArray(value.tags)).toBe(true);
    expect(typeof (value.party as { name: unknown }).name).toBe('string');
    const validate = new Ajv({ strict: false, logger: false }).compile(schema);
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(message.stop_reason).toBe('end_turn');
  });

  it('stops at max_tokens: stop_reason max_tokens and output_tokens == max_tokens', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const message = succeeded((await run([ask('short', long, { max_tokens: 5 })])).get('short'));
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(5);
    expect(textOf(message).length).toBeLessThanOrEqual(5 * 4);
  });
});

describe('prompt caching', () => {
  const system = (ttl?: '1h'): TextBlockParam[] => [
    {
      type: 'text',
      text: `You classify business documents for the finance team. ${'Follow the house rules carefully. '.repeat(8)}`,
      cache_control: ttl ? { type: 'ephemeral', ttl } : { type: 'ephemeral' },
    },
  ];

  it('writes the shared cached prefix once, then reads it', async () => {
    const requests = Array.from({ length: 6 }, (_, i) =>
      ask(`cache-${i}`, `Document number ${i} with its own text`, { system: system() }),
    );
    const results = await run(requests);
    const usages = requests.map((r) => succeeded(results.get(r.custom_id)).usage);
    const [firstUsage, ...rest] = usages;
    expect(firstUsage!.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(firstUsage!.cache_read_input_tokens).toBe(0);
    expect(firstUsage!.cache_creation).toEqual({
      ephemeral_5m_input_tokens: firstUsage!.cache_creation_input_tokens,
      ephemeral_1h_input_tokens: 0,
    });
    for (const usage of rest) {
      expect(usage.cache_read_input_tokens).toBe(firstUsage!.cache_creation_input_tokens);
      expect(usage.cache_creation_input_tokens).toBe(0);
      expect(usage.input_tokens).toBeGreaterThan(0); // the uncached user message
    }
    // The same prompt costs the same tokens in total, however they are split.
    const totals = usages.map(
      (u) => u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0),
    );
    expect(new Set(totals).size).toBe(1);
  });

  it('counts a 1-hour write as ephemeral_1h and keeps it past 5 minutes', async () => {
    const sys = system('1h').map((b) => ({ ...b, text: `${b.text} (one hour)` }));
    const first = succeeded((await run([ask('h1', 'first', { system: sys })])).get('h1')).usage;
    expect(first.cache_creation).toEqual({
      ephemeral_5m_input_tokens: 0,
      ephemeral_1h_input_tokens: first.cache_creation_input_tokens,
    });
    h.emu.advance(10 * 60_000);
    const later = succeeded((await run([ask('h2', 'second', { system: sys })])).get('h2')).usage;
    expect(later.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
  });

  it('lets a 5-minute entry lapse', async () => {
    const sys = system().map((b) => ({ ...b, text: `${b.text} (five minutes)` }));
    const first = succeeded((await run([ask('m1', 'first', { system: sys })])).get('m1')).usage;
    expect(first.cache_creation_input_tokens).toBeGreaterThan(0);
    h.emu.advance(6 * 60_000);
    const later = succeeded((await run([ask('m2', 'second', { system: sys })])).get('m2')).usage;
    expect(later.cache_read_input_tokens).toBe(0);
    expect(later.cache_creation_input_tokens).toBe(first.cache_creation_input_tokens);
  });

  it('caches the whole prompt for a top-level cache_control', async () => {
    const params = {
      system: 'A long shared instruction block. '.repeat(6),
      cache_control: { type: 'ephemeral' as const },
    };
    const results = await run([ask('t1', 'same question', params), ask('t2', 'same question', params)]);
    const [a, b] = ['t1', 't2'].map((id) => succeeded(results.get(id)).usage);
    expect(a!.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(b!.cache_read_input_tokens).toBe(a!.cache_creation_input_tokens);
    expect(b!.input_tokens).toBe(0);
  });

  it('does not cache a prefix shorter than the minimum, nor a prompt without cache_control', async () => {
    const short: TextBlockParam[] = [{ type: 'text', text: 'Tiny.', cache_control: { type: 'ephemeral' } }];
    const results = await run([
      ask('s1', 'x', { system: short }),
      ask('s2', 'y', { system: short }),
      ask('n1', 'z', { system: 'No caching here at all, none. '.repeat(5) }),
      ask('n2', 'w', { system: 'No caching here at all, none. '.repeat(5) }),
    ]);
    for (const id of ['s1', 's2', 'n1', 'n2']) {
      const usage = succeeded(results.get(id)).usage;
      expect(usage.cache_creation_input_tokens).toBe(0);
      expect(usage.cache_read_input_tokens).toBe(0);
    }
  });

  it('keeps caches per model', async () => {
    const sys = system().map((b) => ({ ...b, text: `${b.text} (per model)` }));
    const results = await run([
      ask('pm1', 'a', { system: sys, model: HAIKU }),
      ask('pm2', 'b', { system: sys, model: 'claude-opus-4-8' }),
    ]);
    expect(succeeded(results.get('pm2')).usage.cache_creation_input_tokens).toBeGreaterThan(0);
  });
});
