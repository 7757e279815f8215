import { createHash } from 'node:crypto';
import { unitHash } from './random.js';

/**
 * The emulator's stand-in for the model. Deterministic: the same request always gets the same answer.
 * It answers from the prompt alone — a label when the prompt lists labels, a JSON object when the request
 * asks for a JSON schema, else a short summary prefixed "[emulator]" so nobody mistakes it for Claude.
 */

export interface ResponderParams {
  model: string;
  max_tokens: number;
  system?: string | Array<{ type: string; text?: string; cache_control?: unknown }>;
  messages: Array<{ role: string; content: string | Array<{ type: string; text?: string; cache_control?: unknown }> }>;
  output_config?: { format?: { type?: string; schema?: JsonSchema } };
  /** Top-level cache control: marks the last cacheable block (the whole prompt here). */
  cache_control?: unknown;
}

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  format?: string;
  anyOf?: JsonSchema[];
};

export type CacheTtl = '5m' | '1h';

export interface CacheBook {
  /** Whether a prompt prefix is already cached; (re)records it as cached for `ttlMs` from now either way. */
  touch(prefixKey: string, ttlMs: number): boolean;
}

export const EMULATOR_PREFIX = '[emulator]';

/** The emulator's token estimate: one token per 4 characters, as a rough stand-in for a tokenizer. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

type Block = { type: string; text?: string; cache_control?: unknown };
type Content = string | Block[] | undefined;

const ttlOf = (cacheControl: unknown): CacheTtl =>
  typeof cacheControl === 'object' && cacheControl !== null && (cacheControl as { ttl?: unknown }).ttl === '1h'
    ? '1h'
    : '5m';

export const CACHE_TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };

/**
 * Calls `visit` with each block of the prompt in order (system, then every message; a string content is one
 * text block) and the text that block counts as; stops early when `visit` returns false. No per-call arrays:
 * this runs once or twice per request.
 */
function eachBlock(
  params: Pick<ResponderParams, 'system' | 'messages'>,
  visit: (text: unknown, cacheControl: unknown) => boolean | void,
): void {
  const content = (c: Content): boolean => {
    if (c === undefined) return true;
    if (typeof c === 'string') return visit(c, undefined) !== false;
    for (const block of c) if (visit(block.text ?? JSON.stringify(block), block.cache_control) === false) return false;
    return true;
  };
  if (!content(params.system)) return;
  for (const m of params.messages) if (!content(m.content)) return;
}

/**
 * Input tokens split into the cached prefix (up to the last cache_control mark, or all of it for a top-level
 * `cache_control`) and the rest. `prefixKey` identifies that prefix (and the model: caches are per model), so
 * requests that share a cached system prompt but differ after it hit the same cache entry. The prefix is only
 * hashed when there is a mark (else `prefixKey` is '').
 */
export function promptTokens(
  params: Pick<ResponderParams, 'system' | 'messages' | 'cache_control'> & { model?: string },
): {
  total: number;
  cachedPrefix: number;
  prefixKey: string;
  ttl: CacheTtl;
} {
  let total = 3;
  let cachedPrefix = 0;
  let ttl: CacheTtl = '5m';
  let blocks = 0;
  let markedBlocks = 0;
  eachBlock(params, (text, cacheControl) => {
    total += estimateTokens(text as string);
    blocks++;
    if (cacheControl) {
      cachedPrefix = total;
      ttl = ttlOf(cacheControl);
      markedBlocks = blocks;
    }
  });
  if (params.cache_control) {
    cachedPrefix = total;
    ttl = ttlOf(params.cache_control);
    markedBlocks = blocks;
  }
  let prefixKey = '';
  if (markedBlocks > 0 || params.cache_control) {
    const prefix = createHash('sha256').update(`${params.model ?? ''}\u0000`);
    let hashed = 0;
    eachBlock(params, (text) => {
      if (hashed++ >= markedBlocks) return false;
      prefix.update(`${text}\u0000`);
    });
    prefixKey = prefix.digest('hex');
  }
  return { total, cachedPrefix, prefixKey, ttl };
}

/** The text part of an answer: what the "model" says, cut at max_tokens. */
export interface AnswerText {
  text: string;
  stopReason: 'end_turn' | 'max_tokens';
  outputTokens: number;
}

/** The token accounting of an answer; touches the prompt cache, so get it in request order. */
export interface AnswerUsage {
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** The TTL the cache write (if any) was made with: it decides `ephemeral_5m/1h_input_tokens`. */
  cacheTtl: CacheTtl;
}

/** The texts of a content's blocks joined by newlines (a missing text counts as ''), added to `joined`. */
function appendTexts(joined: string | undefined, c: Content): string | undefined {
  if (c === undefined) return joined;
  if (typeof c === 'string') return joined === undefined ? c : `${joined}\n${c}`;
  for (const block of c) {
    const text = block.text ?? '';
    joined = joined === undefined ? `${text}` : `${joined}\n${text}`;
  }
  return joined;
}

export function answerText(params: ResponderParams, invalid = false): AnswerText {
  const system = appendTexts(undefined, params.system) ?? '';
  let user: string | undefined;
  for (const m of params.messages) if (m.role === 'user') user = appendTexts(user, m.content);
  user ??= '';
  const schema = params.output_config?.format?.type === 'json_schema' ? params.output_config.format.schema : undefined;
  let text: string;
  if (invalid) text = schema ? '{"unfinished": ' : `${EMULATOR_PREFIX} I cannot tell.`;
  else if (schema) text = JSON.stringify(valueFor(schema, user, 'root'));
  else {
    // A label list needs a colon: most prompts have none, and then the regex need not scan them.
    const labels = system.includes(':') || user.includes(':') ? labelList(`${system}\n${user}`) : undefined;
    text = labels ? chooseLabel(labels, user) : summarise(user);
  }

  let stopReason: AnswerText['stopReason'] = 'end_turn';
  let outputTokens = estimateTokens(text);
  if (outputTokens > params.max_tokens) {
    text = text.slice(0, params.max_tokens * 4);
    outputTokens = params.max_tokens;
    stopReason = 'max_tokens';
  }
  return { text, stopReason, outputTokens };
}

export function answerUsage(params: ResponderParams, cache: CacheBook, minCacheableTokens: number): AnswerUsage {
  const tokens = promptTokens(params);
  let cacheReadTokens = 0;
  let cacheWriteTokens = 0;
  if (tokens.cachedPrefix >= minCacheableTokens) {
    if (cache.touch(tokens.prefixKey, CACHE_TTL_MS[tokens.ttl])) cacheReadTokens = tokens.cachedPrefix;
    else cacheWriteTokens = tokens.cachedPrefix;
  }
  return {
    inputTokens: tokens.total - cacheReadTokens - cacheWriteTokens,
    cacheReadTokens,
    cacheWriteTokens,
    cacheTtl: tokens.ttl,
  };
}

/** "Labels: a, b, c" / "one of: a | b | c" in the prompt. */
export function labelList(prompt: string): string[] | undefined {
  // A few words may sit between the keyword and the colon ("one of these labels and nothing else: a, b").
  const match = /(?:labels?|categories|one of)(?:[^:\n]{0,40})?:\s*([^\n]+)/i.exec(prompt);
  if (!match) return undefined;
  const labels = match[1]!
    .split(/,|\||\bor\b/)
    .map((l) =>
      l
        .trim()
        .replace(/[.;"'`]+$/g, '')
        .replace(/^["'`]+/, ''),
    )
    .filter((l) => l.length > 0 && l.length <= 60);
  return labels.length > 1 ? labels : undefined;
}

const HINTS: Record<string, string[]> = {
  invoice: ['invoice', 'amount due', 'payment', 'vat', 'subtotal', 'bill to', 'iban'],
  contract: ['agreement', 'contract', 'parties', 'term', 'clause', 'hereby', 'governing law', 'signature'],
  report: ['report', 'findings', 'quarter', 'summary', 'analysis', 'results', 'recommendation'],
  letter: ['dear', 'sincerely', 'regards', 'yours', 'writing to'],
  positive: ['great', 'excellent', 'love', 'happy', 'thank'],
  negative: ['bad', 'terrible', 'broken', 'angry', 'refund', 'complaint'],
  neutral: [],
};

function occurrences(haystack: string, needle: string): number {
  if (!needle) return 0;
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** The label whose name and hint words occur most in the document; ties broken by a stable hash. */
export function chooseLabel(labels: string[], document: string): string {
  const body = document.toLowerCase().replace(/(?:labels?|categories|one of)\s*:[^\n]*/gi, '');
  const counts = labels.map((label) => {
    const key = label.toLowerCase();
    let count = occurrences(body, key);
    if (Object.hasOwn(HINTS, key)) for (const word of HINTS[key]!) count += occurrences(body, word);
    return count;
  });
  // The hash adds less than 0.5, so only the labels with the top count can win: only they need one.
  const top = Math.max(...counts);
  let best = labels[0]!;
  let bestScore = -1;
  for (let i = 0; i < labels.length; i++) {
    if (counts[i] !== top) continue;
    const score = top + unitHash(labels[i]!, body) * 0.5;
    if (score > bestScore) [best, bestScore] = [labels[i]!, score];
  }
  return best;
}

/** 1 for each UTF-16 code unit that the regex `\s` matches (ECMAScript WhiteSpace and LineTerminator). */
const SPACE = (() => {
  const table = new Uint8Array(65536);
  for (const c of [9, 10, 11, 12, 13, 32, 160, 5760, 8232, 8233, 8239, 8287, 12288, 65279]) table[c] = 1;
  for (let c = 8192; c <= 8202; c++) table[c] = 1;
  return table;
})();
/** The document's code units are counted from here: a loop over a typed array is several times faster than charCodeAt. */
const WINDOW = 32 * 1024;
const scratch = Buffer.alloc(WINDOW * 2);
const units = new Uint16Array(scratch.buffer, scratch.byteOffset, WINDOW);

/** Where the first 20 words start and end: [start 0, end 0, start 1, ...]. */
const bounds = new Int32Array(41);

/** An ASCII document's bytes, and the same memory read two bytes at a time. */
const bytes = new Uint8Array(scratch.buffer, scratch.byteOffset, scratch.length);
const pairs = units;
/**
 * For two ASCII bytes (a, b) read as one little-endian unit: bit 0, a word starts at b (a space, b not); bit 1,
 * a is no space (a word starts at a if the unit before was a space); bit 2, b is a space.
 */
const PAIR = (() => {
  const table = new Uint8Array(65536);
  for (let v = 0; v < 65536; v++) {
    const a = SPACE[v & 0xff]!;
    const b = SPACE[v >> 8]!;
    table[v] = ((b ^ 1) & a) | ((a ^ 1) << 1) | (b << 2);
  }
  return table;
})();

/** `document.split(/\s+/).filter(Boolean)`'s first 20 words and length, without an array of every word. */
export function summarise(document: string): string {
  const n = document.length;
  let words = 0;
  let previousSpace = 1;
  // An ASCII document (its UTF-8 is one byte per unit; a longer one might not fit the buffer to tell) is counted
  // from its bytes, past the 20th word two bytes at a time; any other one unit by unit, a window at a time.
  const ascii = n * 3 <= scratch.length && scratch.write(document, 0, 'utf8') === n;
  if (ascii) {
    let j = 0;
    for (; j < n && words <= 20; j++) {
      const space = SPACE[bytes[j]!]!;
      if (space !== previousSpace) bounds[words * 2 - space] = j;
      words += (space ^ 1) & previousSpace;
      previousSpace = space;
    }
    if (j < n && (j & 1) === 1) {
      const space = SPACE[bytes[j++]!]!;
      words += (space ^ 1) & previousSpace;
      previousSpace = space;
    }
    for (let p = j >> 1, end = n >> 1; p < end; p++) {
      const pair = PAIR[pairs[p]!]!;
      words += (pair & 1) + ((pair >> 1) & previousSpace);
      previousSpace = pair >> 2;
    }
    if ((n & 1) === 1 && j < n) {
      const space = SPACE[bytes[n - 1]!]!;
      words += (space ^ 1) & previousSpace;
      previousSpace = space;
    }
  }
  for (let from = 0; !ascii && from < n; from += WINDOW) {
    const length = Math.min(WINDOW, n - from);
    scratch.write(length === n ? document : document.slice(from, from + length), 0, length * 2, 'utf16le');
    let j = 0;
    // A word starts at each non-space unit after a space unit (or at the start), and ends at the next space unit.
    for (; j < length && words <= 20; j++) {
      const space = SPACE[units[j]!]!;
      if (space !== previousSpace) bounds[words * 2 - space] = from + j;
      words += (space ^ 1) & previousSpace;
      previousSpace = space;
    }
    // Past the 20th word, only counted.
    for (; j < length; j++) {
      const space = SPACE[units[j]!]!;
      words += (space ^ 1) & previousSpace;
      previousSpace = space;
    }
  }
  const inHead = Math.min(words, 20);
  if (words <= 20 && previousSpace === 0) bounds[inHead * 2 - 1] = n;
  let head = '';
  for (let w = 0; w < inHead; w++) {
    const word = document.slice(bounds[w * 2]!, bounds[w * 2 + 1]!);
    head = w === 0 ? word : `${head} ${word}`;
  }
  return `${EMULATOR_PREFIX} Summary: ${head}${words > 20 ? ' …' : ''} (${words} words)`;
}

/** A value that conforms to `schema`, drawn from the document where it can be. */
export function valueFor(schema: JsonSchema, document: string, path: string): unknown {
  if (schema.enum && schema.enum.length > 0) {
    const strings = schema.enum.filter((v): v is string => typeof v === 'string');
    return strings.length === schema.enum.length ? chooseLabel(strings, document) : schema.enum[0];
  }
  if (schema.anyOf && schema.anyOf.length > 0)
    return valueFor(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, document, path);
  const type = Array.isArray(schema.type)
    ? (schema.type.find((t) => t !== 'null') ?? 'null')
    : (schema.type ?? 'string');
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {}))
        out[key] = valueFor(sub, document, `${path}.${key}`);
      return out;
    }
    case 'array':
      return schema.items ? [valueFor(schema.items, document, `${path}[0]`)] : [];
    case 'integer': {
      const n = /\b\d{1,9}\b/.exec(document);
      return n ? Number(n[0]) : Math.floor(unitHash(path, document) * 100);
    }
    case 'number': {
      const n = /\b\d+\.\d+\b/.exec(document) ?? /\b\d{1,9}\b/.exec(document);
      return n ? Number(n[0]) : Math.round(unitHash(path, document) * 10_000) / 100;
    }
    case 'boolean':
      return unitHash(path, document) < 0.5;
    case 'null':
      return null;
    default: {
      if (schema.format === 'date') return /\b\d{4}-\d{2}-\d{2}\b/.exec(document)?.[0] ?? '2025-01-01';
      if (schema.format === 'date-time') {
        const d = /\b\d{4}-\d{2}-\d{2}\b/.exec(document)?.[0] ?? '2025-01-01';
        return `${d}T00:00:00Z`;
      }
      const words = document.split(/\s+/).filter(Boolean).slice(0, 8).join(' ');
      return `${EMULATOR_PREFIX} ${words}`.trim();
    }
  }
}
