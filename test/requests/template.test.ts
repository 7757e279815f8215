// Guards the prompt template: placeholders are field paths only, and rendering never evaluates anything.
import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate } from '../../connector/requests/template.js';

describe('prompt template', () => {
  it('renders top-level and nested fields, objects as JSON', () => {
    const t = parseTemplate('T: {{ title }} / {{customer.name}} / {{ lines.0.sku }} / {{ tags }}', 'prompt_template');
    const out = renderTemplate(t, {
      title: 'Inv',
      customer: { name: 'Ada' },
      lines: [{ sku: 'A1' }],
      tags: ['x', 'y'],
    });
    expect(out.text).toBe('T: Inv / Ada / A1 / ["x","y"]');
    expect(out.missing).toEqual([]);
  });

  it('reports missing fields and renders them empty', () => {
    const out = renderTemplate(parseTemplate('{{ a }}-{{ b.c }}', 'p'), { a: 1, b: null });
    expect(out).toEqual({ text: '1-', missing: ['b.c'] });
  });

  it('does not walk the prototype chain', () => {
    const out = renderTemplate(parseTemplate('{{ constructor.name }}{{ __proto__ }}', 'p'), {});
    expect(out.text).toBe('');
  });

  it('names keys of any script bare, and any other key quoted or in brackets', () => {
    const data = {
      field_with_spécial_character: 'é',
      名前: 'n',
      'a.b': 'dot',
      'a b': { c: 'space' },
      'x}}y': 'braces',
      "it's": 'q',
      list: [{ '': 'empty' }],
    };
    const t = parseTemplate(
      `{{ field_with_spécial_character }}|{{名前}}|{{ "a.b" }}|{{ ['a b'].c }}|{{ "a b"["c"] }}|{{ 'x}}y' }}|{{ 'it\\'s' }}|{{ list[0][""] }}|{{ list.0[''] }}`,
      'p',
    );
    expect(t.fields).toEqual([
      'field_with_spécial_character',
      '名前',
      '"a.b"',
      "['a b'].c",
      '"a b"["c"]',
      "'x}}y'",
      "'it\\'s'",
      'list[0][""]',
      "list.0['']",
    ]);
    expect(renderTemplate(t, data)).toEqual({ text: 'é|n|dot|space|space|braces|q|empty|empty', missing: [] });
  });

  it('renders numbers and objects as the record text has them', () => {
    const text =
      '{"n": 12345678901234567890, "e": 1e400, "d": 10000000000000000000000.1234, "o": {"x": 1.0}, "l": [1E2], "s": "a\u00e9", "b": true}';
    const t = parseTemplate('{{ n }} {{ e }} {{ d }} {{ o }} {{ o.x }} {{ l.0 }} {{ s }} {{ b }}', 'p');
    const data = JSON.parse(text) as Record<string, unknown>;
    expect(renderTemplate(t, data, text).text).toBe(
      '12345678901234567890 1e400 10000000000000000000000.1234 {"x": 1.0} 1.0 1E2 aé true',
    );
    // Without the text, as before: what JSON.parse made of it.
    expect(renderTemplate(t, data).text).toBe('12345678901234567000 Infinity 1e+22 {"x":1} 1 100 aé true');
  });

  it.each([
    ['unclosed', 'Hello {{ title', /never closed/],
    ['expression', 'Hello {{ title + 1 }}', /not a field path/],
    ['call', 'Hello {{ title() }}', /not a field path/],
    ['unclosed quote', 'Hello {{ "title }}', /not a field path/],
    ['empty bracket', 'Hello {{ a[] }}', /not a field path/],
    ['trailing dot', 'Hello {{ a. }}', /not a field path/],
    ['no fields', 'Hello world', /references no record field/],
  ])('rejects a template with %s, naming the config field', (_name, source, pattern) => {
    expect(() => parseTemplate(source, 'stream_prompt_templates.docs')).toThrow(pattern);
    expect(() => parseTemplate(source, 'stream_prompt_templates.docs')).toThrow(/stream_prompt_templates\.docs/);
  });
});
