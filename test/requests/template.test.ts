// Guards the prompt template: placeholders are field paths only, and rendering never evaluates anything.
import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate } from '../../connector/requests/template.js';

describe('prompt template', () => {
  it('renders top-level and nested fields, objects as JSON', () => {
    const t = parseTemplate('T: {{ title }} / {{customer.name}} / {{ lines.0.sku }} / {{ tags }}', 'prompt_template');
    const out = renderTemplate(t, { title: 'Inv', customer: { name: 'Ada' }, lines: [{ sku: 'A1' }], tags: ['x', 'y'] });
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

  it.each([
    ['unclosed', 'Hello {{ title', /never closed/],
    ['expression', 'Hello {{ title + 1 }}', /not a field path/],
    ['no fields', 'Hello world', /references no record field/],
  ])('rejects a template with %s, naming the config field', (_name, source, pattern) => {
    expect(() => parseTemplate(source, 'stream_prompt_templates.docs')).toThrow(pattern);
    expect(() => parseTemplate(source, 'stream_prompt_templates.docs')).toThrow(/stream_prompt_templates\.docs/);
  });
});
