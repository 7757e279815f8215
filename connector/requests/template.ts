import { configError } from '../common/errors.js';
import { valueTextAt } from '../protocol/json-text.js';

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

/** A bare path segment: letters of any script (with their marks), digits, `_`, `$`, `@`, `-`. */
const BARE = /[\p{L}\p{M}\p{N}_$@-]+/uy;
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * A quoted key starting at `at`: `"…"` with JSON escapes, or `'…'` where `\'` and `\\` stand for `'` and `\`.
 * Returns the key and the index after the closing quote, or undefined.
 */
function quotedKey(src: string, at: number): { key: string; end: number } | undefined {
  const quote = src[at];
  let key = '';
  for (let i = at + 1; i < src.length; i++) {
    const c = src[i]!;
    if (c === quote) {
      if (quote === "'") return { key, end: i + 1 };
      try {
        return { key: JSON.parse(src.slice(at, i + 1)) as string, end: i + 1 };
      } catch {
        return undefined;
      }
    }
    if (c === '\\') {
      const next = src[i + 1];
      if (quote === "'" && (next === "'" || next === '\\')) {
        key += next;
        i++;
      } else if (quote === '"') {
        key += c + (next ?? '');
        i++;
      } else key += c;
    } else key += c;
  }
  return undefined;
}

/** A bare or quoted segment at `at`. */
function segment(src: string, at: number): { key: string; end: number } | undefined {
  if (src[at] === '"' || src[at] === "'") return quotedKey(src, at);
  BARE.lastIndex = at;
  const m = BARE.exec(src);
  return m ? { key: m[0], end: at + m[0].length } : undefined;
}

/** `[ 'key' ]`, `[ "key" ]` or `[ 0 ]` at `at` (the `[`). */
function bracket(src: string, at: number): { key: string; end: number } | undefined {
  let i = at + 1;
  while (isSpace(src[i])) i++;
  const digits = /^\d+/.exec(src.slice(i, i + 20))?.[0];
  const inner =
    src[i] === '"' || src[i] === "'" ? quotedKey(src, i) : digits ? { key: digits, end: i + digits.length } : undefined;
  if (!inner) return undefined;
  i = inner.end;
  while (isSpace(src[i])) i++;
  return src[i] === ']' ? { key: inner.key, end: i + 1 } : undefined;
}

/**
 * The field path of the placeholder whose `{{` ends at `at`, up to and including its `}}`:
 * segments joined by `.` or written as `[…]`, each bare or quoted. Undefined when it is not a path.
 */
function placeholder(src: string, at: number): { path: string[]; end: number; source: string } | undefined {
  let i = at;
  while (isSpace(src[i])) i++;
  const start = i;
  const path: string[] = [];
  for (let expectSegment = true; ;) {
    const next = expectSegment
      ? src[i] === '['
        ? bracket(src, i)
        : segment(src, i)
      : src[i] === '['
        ? bracket(src, i)
        : undefined;
    if (next) {
      path.push(next.key);
      i = next.end;
      expectSegment = false;
      continue;
    }
    if (expectSegment) return undefined;
    if (src[i] === '.') {
      i++;
      expectSegment = true;
      continue;
    }
    break;
  }
  const source = src.slice(start, i);
  while (isSpace(src[i])) i++;
  return src.startsWith('}}', i) ? { path, end: i + 2, source } : undefined;
}

/**
 * Parses `{{ path }}` placeholders; `where` names the config field in error messages. A path is segments
 * joined by dots; a segment is a bare name (letters of any script, digits, `_`, `$`, `@`, `-`), a quoted key
 * (`"a.b"`, `'a b'`, for any other character: dots, spaces, braces), or a bracket (`['a b']`, `[0]`).
 * @example parseTemplate('Title: {{ title }} by {{ author.name }} in {{ "shop.city" }}', 'prompt_template')
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
    const field = placeholder(source, open + 2);
    if (!field) {
      const close = source.indexOf('}}', open + 2);
      if (close === -1)
        throw configError('TEMPLATE_SYNTAX', `${where}: "{{" at offset ${open} is never closed with "}}"`);
      throw configError(
        'TEMPLATE_SYNTAX',
        `${where}: "{{${source.slice(open + 2, close)}}}" is not a field path (names joined by dots, e.g. {{ customer.name }}; quote a name with other characters: {{ "a.b" }}, {{ ['a b'].c }})`,
      );
    }
    parts.push({ kind: 'field', path: field.path, source: field.source });
    i = field.end;
  }
  const fields = parts.flatMap((p) => (p.kind === 'field' ? [p.source] : []));
  if (fields.length === 0)
    throw configError(
      'TEMPLATE_NO_FIELDS',
      `${where}: the template references no record field; add at least one {{ field }}`,
    );
  return { source, parts, fields };
}

/**
 * Renders a template against a record's data; objects and arrays render as JSON, missing values as ''.
 * With `dataText` (the record's data as the source wrote it), numbers, objects and arrays render as their
 * own text: 12345678901234567890 stays that, never 12345678901234567000.
 */
export function renderTemplate(template: Template, data: Record<string, unknown>, dataText?: string): Rendered {
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
    if (typeof value === 'string') text += value;
    else if (typeof value === 'boolean') text += String(value);
    else
      text +=
        (dataText !== undefined ? valueTextAt(dataText, part.path) : undefined) ??
        (typeof value === 'object' ? JSON.stringify(value) : String(value));
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
