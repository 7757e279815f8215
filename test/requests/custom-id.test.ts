// Guards the stable custom_id: the same record under the same settings must map to the same, valid id
// in every run (or a restart would pay twice), and any change to what is sent must change it.
import { describe, expect, it } from 'vitest';
import { CUSTOM_ID_PATTERN, customIdFor, RequestBuilder } from '../../connector/requests/build.js';
import { parseConfig } from '../../connector/config/config.js';

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig(
    { base_url: 'emulator', destination_path: '/tmp/x', prompt_template: 'Summarise: {{ body }}', ...extra },
    {},
  );
const record = (body: string) => ({ stream: 's', data: { body }, emitted_at: 1 });

describe('custom_id', () => {
  it('is stable across builders (runs) and valid for the API', () => {
    const a = new RequestBuilder(config()).build(record('hello'));
    const b = new RequestBuilder(config()).build(record('hello'));
    expect(a.customId).toBe(b.customId);
    expect(a.customId).toMatch(CUSTOM_ID_PATTERN);
    expect(a.customId.length).toBeLessThanOrEqual(64);
  });

  it('changes when the input or any request setting changes', () => {
    const base = new RequestBuilder(config()).build(record('hello')).customId;
    expect(new RequestBuilder(config()).build(record('hello!')).customId).not.toBe(base);
    expect(new RequestBuilder(config({ model: 'claude-sonnet-4-6' })).build(record('hello')).customId).not.toBe(base);
    expect(new RequestBuilder(config({ max_tokens: 100 })).build(record('hello')).customId).not.toBe(base);
    expect(new RequestBuilder(config({ system_prompt: 'x' })).build(record('hello')).customId).not.toBe(base);
    expect(new RequestBuilder(config({ temperature: 0 })).build(record('hello')).customId).not.toBe(base);
  });

  it('builds a Messages request with the configured settings', () => {
    const built = new RequestBuilder(config({ system_prompt: 'Be brief', temperature: 0.2, max_tokens: 64 })).build(
      record('doc'),
    );
    expect(built.params).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief', cache_control: { type: 'ephemeral' } }],
      temperature: 0.2,
      messages: [{ role: 'user', content: 'Summarise: doc' }],
    });
    const uncached = new RequestBuilder(config({ system_prompt: 'Be brief', prompt_caching: false })).build(
      record('doc'),
    );
    expect(uncached.params.system).toBe('Be brief');
  });

  it('puts the label instruction in the cached shared prefix, and asks for structured output in json mode', () => {
    const label = new RequestBuilder(config({ output_mode: 'label', labels: ['invoice', 'letter'] })).build(
      record('doc'),
    );
    expect(label.params.system).toEqual([
      {
        type: 'text',
        text: 'Answer with exactly one of these labels and nothing else: invoice, letter.',
        cache_control: { type: 'ephemeral' },
      },
    ]);
    const schema = { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] };
    const json = new RequestBuilder(config({ output_mode: 'json', output_schema: schema })).build(record('doc'));
    // Sent in the API's strict form: every object closed.
    expect(json.params.output_config).toEqual({
      format: { type: 'json_schema', schema: { ...schema, additionalProperties: false } },
    });
    expect(() => new RequestBuilder(config({ output_mode: 'label', labels: ['only'] }))).toThrow(/at least two/);
    expect(() => new RequestBuilder(config({ output_mode: 'json' }))).toThrow(/output_schema/);
  });

  it('uses the per-stream template when one is configured', () => {
    const b = new RequestBuilder(
      config({ stream_prompt_templates: { s: 'Label: {{ body }}', 'ns.t': 'NS: {{ body }}' } }),
    );
    expect(b.build(record('x')).params.messages[0]!.content).toBe('Label: x');
    expect(
      b.build({ stream: 't', namespace: 'ns', data: { body: 'y' }, emitted_at: 1 }).params.messages[0]!.content,
    ).toBe('NS: y');
    expect(b.build({ stream: 'other', data: { body: 'z' }, emitted_at: 1 }).params.messages[0]!.content).toBe(
      'Summarise: z',
    );
  });
});

// The ids below were computed by the connector as released: a resumed run's spool and the cross-run result
// cache look requests up by these ids, so any change to how a request is serialised or hashed breaks them.
describe('custom_id across versions', () => {
  const long = 'word '.repeat(400) + '😀'.repeat(50);
  const cases: Array<[string, Record<string, unknown>, string, string, number]> = [
    ['defaults', {}, 'hello', 'rYoBi7bt5EGactT5q9a4oruouatiIuKMNfiSrtdGvk8w', 173],
    [
      'system, temperature, max_tokens, escapes',
      { system_prompt: 'Be brief', temperature: 0.2, max_tokens: 64 },
      'doc "quoted"\n\u2028 é 😀',
      'rqYZXrF10rpZSjeqNwMzHpWhIiW5kLj2We1XHZPwOkIA',
      294,
    ],
    [
      'uncached system prompt',
      { system_prompt: 'Be brief', prompt_caching: false },
      'doc',
      'rGJtaQDrtM-jU9vHr2mKQ-2f5mhIr-zNRXxMeJ58gkxo',
      191,
    ],
    [
      'label mode',
      { output_mode: 'label', labels: ['invoice', 'letter'] },
      'x',
      'rcPLtQWb9GKysGpsOn6wsVsJIPBEjg75NnleJaX-kDhc',
      317,
    ],
    // Changed on 2026-11-26 (was rg_Do6DG…, 308 bytes): the schema now goes out in the API's strict form
    // (additionalProperties: false), which the earlier form lacked; the real API refused those requests.
    [
      'json mode',
      {
        output_mode: 'json',
        output_schema: { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] },
      },
      'y',
      'rwWUofrGcb3ouL96SAzHo-3Hsd5FBmfqLPJy7ri66MVM',
      337,
    ],
    [
      'other model, temperature 0, empty prompt',
      { model: 'claude-sonnet-4-6', temperature: 0 },
      '',
      'r8ojNn6fzsBrqBfWCXoN9_09OGSjCVGKV7NAI1var9cQ',
      185,
    ],
    ['token budget cut', { max_input_tokens: 50 }, long, 'rC9pi4t8LZXx0Rhc86vgAa45non4kIZTSuJlxmX2RCxo', 352],
  ];
  for (const [name, extra, body, id, bytes] of cases) {
    it(`is unchanged: ${name}`, () => {
      const built = new RequestBuilder(config(extra)).build(record(body));
      expect(built.customId).toBe(id);
      expect(built.bytes).toBe(bytes);
      // The id is the hash of the params as JSON; the spooled line is exactly {custom_id, params}.
      expect(customIdFor(built.params)).toBe(id);
      expect(built.serialized).toBe(JSON.stringify({ custom_id: id, params: built.params }));
      expect(built.bytes).toBe(Buffer.byteLength(built.serialized));
    });
  }

  it('is unchanged when the request is cut to fit max_batch_bytes', () => {
    const built = new RequestBuilder(config()).build(record(long), { maxBytes: 700 });
    expect(built.customId).toBe('rfim6MvyfSN19vR-4v3bK9QfqB1M7dg7v6L6OdG8YaPE');
    expect(built.bytes).toBe(645);
    expect(built.truncated).toEqual({ fromChars: 2111, toChars: 473 });
    expect(built.serialized).toBe(JSON.stringify({ custom_id: built.customId, params: built.params }));
  });
});
