// Guards the stable custom_id: the same record under the same settings must map to the same, valid id
// in every run (or a restart would pay twice), and any change to what is sent must change it.
import { describe, expect, it } from 'vitest';
import { CUSTOM_ID_PATTERN, RequestBuilder } from '../../connector/requests/build.js';
import { parseConfig } from '../../connector/config/config.js';

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig({ base_url: 'emulator', destination_path: '/tmp/x', prompt_template: 'Summarise: {{ body }}', ...extra }, {});
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
    const built = new RequestBuilder(config({ system_prompt: 'Be brief', temperature: 0.2, max_tokens: 64 })).build(record('doc'));
    expect(built.params).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief', cache_control: { type: 'ephemeral' } }],
      temperature: 0.2,
      messages: [{ role: 'user', content: 'Summarise: doc' }],
    });
    const uncached = new RequestBuilder(config({ system_prompt: 'Be brief', prompt_caching: false })).build(record('doc'));
    expect(uncached.params.system).toBe('Be brief');
  });

  it('puts the label instruction in the cached shared prefix, and asks for structured output in json mode', () => {
    const label = new RequestBuilder(config({ output_mode: 'label', labels: ['invoice', 'letter'] })).build(record('doc'));
    expect(label.params.system).toEqual([
      { type: 'text', text: 'Answer with exactly one of these labels and nothing else: invoice, letter.', cache_control: { type: 'ephemeral' } },
    ]);
    const schema = { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] };
    const json = new RequestBuilder(config({ output_mode: 'json', output_schema: schema })).build(record('doc'));
    expect(json.params.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(() => new RequestBuilder(config({ output_mode: 'label', labels: ['only'] }))).toThrow(/at least two/);
    expect(() => new RequestBuilder(config({ output_mode: 'json' }))).toThrow(/output_schema/);
  });

  it('uses the per-stream template when one is configured', () => {
    const b = new RequestBuilder(config({ stream_prompt_templates: { s: 'Label: {{ body }}', 'ns.t': 'NS: {{ body }}' } }));
    expect(b.build(record('x')).params.messages[0]!.content).toBe('Label: x');
    expect(b.build({ stream: 't', namespace: 'ns', data: { body: 'y' }, emitted_at: 1 }).params.messages[0]!.content).toBe('NS: y');
    expect(b.build({ stream: 'other', data: { body: 'z' }, emitted_at: 1 }).params.messages[0]!.content).toBe('Summarise: z');
  });
});
