import { configError } from '../errors.js';

type Part = { kind: 'text'; text: string } | { kind: 'field'; path: string[]; source: string };

/** A parsed prompt template. Placeholders are field paths only: nothing in a template is ever evaluated. */
export interface Template {
  readonly source: string;
  readonly parts: readonly Part[];
  readonly fields: readonly string[];
}

export interface Rendered {
  text: string;
  missing: string[];
}

const PATH = /^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$/;

/**
 * Parses `{{ path }}` placeholders; `where` names the config field in error messages.
 * @example parseTemplate('Title: {{ title }} by {{ author.name }}', 'prompt_template')
 */
export function parseTemplate(source: string, where: string): Template {
  const parts: Part[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      parts.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: source.slice(i, open) });
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw configError('TEMPLATE_SYNTAX', `${where}: "{{" at offset ${open} is never closed with "}}"`);
    const expr = source.slice(open + 2, close).trim();
    if (!PATH.test(expr)) {
      throw configError(
        'TEMPLATE_SYNTAX',
        `${where}: "{{${source.slice(open + 2, close)}}}" is not a field path (use letters, digits, _ and dots, e.g. {{ customer.name }})`,
      );
    }
    parts.push({ kind: 'field', path: expr.split('.'), source: expr });
    i = close + 2;
  }
  const fields = parts.flatMap((p) => (p.kind === 'field' ? [p.source] : []));
  if (fields.length === 0) throw configError('TEMPLATE_NO_FIELDS', `${where}: the template references no record field; add at least one {{ field }}`);
  return { source, parts, fields };
}

/** Renders a template against a record's data; objects and arrays render as JSON, missing values as ''. */
export function renderTemplate(template: Template, data: Record<string, unknown>): Rendered {
  let text = '';
  const missing: string[] = [];
  for (const part of template.parts) {
    if (part.kind === 'text') {
      text += part.text;
      continue;
    }
    const value = lookup(data, part.path);
    if (value === undefined || value === null) {
      missing.push(part.source);
      continue;
    }
    text += typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return { text, missing };
}

function lookup(data: unknown, path: readonly string[]): unknown {
  let current: unknown = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    // Own properties only: a path like "__proto__.x" must not walk into the prototype chain.
    if (!Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
