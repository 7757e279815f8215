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

export interface Answer {
  text: string;
  stopReason: 'end_turn' | 'max_tokens';
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** The TTL the cache write (if any) was made with: it decides `ephemeral_5m/1h_input_tokens`. */
  cacheTtl: CacheTtl;
}

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
const blocksOf = (content: string | Block[] | undefined): Block[] =>
  content === undefined ? [] : typeof content === 'string' ? [{ type: 'text', text: content }] : content;

const ttlOf = (cacheControl: unknown): CacheTtl =>
  typeof cacheControl === 'object' && cacheControl !== null && (cacheControl as { ttl?: unknown }).ttl === '1h' ? '1h' : '5m';

export const CACHE_TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };

/**
 * Input tokens split into the cached prefix (up to the last cache_control mark, or all of it for a top-level
 * `cache_control`) and the rest. `prefixKey` identifies that prefix (and the model: caches are per model), so
 * requests that share a cached system prompt but differ after it hit the same cache entry.
 */
export function promptTokens(params: Pick<ResponderParams, 'system' | 'messages' | 'cache_control'> & { model?: string }): {
  total: number;
  cachedPrefix: number;
  prefixKey: string;
  ttl: CacheTtl;
} {
  const blocks = [...blocksOf(params.system), ...params.messages.flatMap((m) => blocksOf(m.content))];
  let total = 3;
  let cachedPrefix = 0;
  let ttl: CacheTtl = '5m';
  let prefixKey = '';
  const prefix = createHash('sha256').update(`${params.model ?? ''}\u0000`);
  const mark = (cacheControl: unknown) => {
    cachedPrefix = total;
    ttl = ttlOf(cacheControl);
    prefixKey = prefix.copy().digest('hex');
  };
  for (const block of blocks) {
    const text = block.text ?? JSON.stringify(block);
    total += estimateTokens(text);
    prefix.update(`${text}\u0000`);
    if (block.cache_control) mark(block.cache_control);
  }
  if (params.cache_control) mark(params.cache_control);
  return { total, cachedPrefix, prefixKey, ttl };
}

export function answer(params: ResponderParams, cache: CacheBook, minCacheableTokens: number, invalid = false): Answer {
  const system = blocksOf(params.system).map((b) => b.text ?? '').join('\n');
  const user = params.messages
    .filter((m) => m.role === 'user')
    .flatMap((m) => blocksOf(m.content).map((b) => b.text ?? ''))
    .join('\n');
  const schema = params.output_config?.format?.type === 'json_schema' ? params.output_config.format.schema : undefined;
  let text: string;
  if (invalid) text = schema ? '{"unfinished": ' : `${EMULATOR_PREFIX} I cannot tell.`;
  else if (schema) text = JSON.stringify(valueFor(schema, user, 'root'));
  else {
    const labels = labelList(`${system}\n${user}`);
    text = labels ? chooseLabel(labels, user) : summarise(user);
  }

  let stopReason: Answer['stopReason'] = 'end_turn';
  let outputTokens = estimateTokens(text);
  if (outputTokens > params.max_tokens) {
    text = text.slice(0, params.max_tokens * 4);
    outputTokens = params.max_tokens;
    stopReason = 'max_tokens';
  }

  const tokens = promptTokens(params);
  let cacheReadTokens = 0;
  let cacheWriteTokens = 0;
  if (tokens.cachedPrefix >= minCacheableTokens) {
    if (cache.touch(tokens.prefixKey, CACHE_TTL_MS[tokens.ttl])) cacheReadTokens = tokens.cachedPrefix;
    else cacheWriteTokens = tokens.cachedPrefix;
  }
  return {
    text,
    stopReason,
    inputTokens: tokens.total - cacheReadTokens - cacheWriteTokens,
    outputTokens,
    cacheReadTokens,
    cacheWriteTokens,
    cacheTtl: tokens.ttl,
  };
}

/** "Labels: a, b, c" / "one of: a | b | c" in the prompt. */
export function labelList(prompt: string): string[] | undefined {
  const match = /(?:labels?|categories|one of)\s*:\s*([^\n]+)/i.exec(prompt);
  if (!match) return undefined;
  const labels = match[1]!
    .split(/,|\||\bor\b/)
    .map((l) => l.trim().replace(/[.;"'`]+$/g, '').replace(/^["'`]+/, ''))
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
  let best = labels[0]!;
  let bestScore = -1;
  for (const label of labels) {
    const key = label.toLowerCase();
    const words = [key, ...(HINTS[key] ?? [])];
    const score = words.reduce((sum, w) => sum + occurrences(body, w), 0) + unitHash(label, body) * 0.5;
    if (score > bestScore) [best, bestScore] = [label, score];
  }
  return best;
}

export function summarise(document: string): string {
  const words = document.split(/\s+/).filter(Boolean);
  const head = words.slice(0, 20).join(' ');
  return `${EMULATOR_PREFIX} Summary: ${head}${words.length > 20 ? ' …' : ''} (${words.length} words)`;
}

/** A value that conforms to `schema`, drawn from the document where it can be. */
export function valueFor(schema: JsonSchema, document: string, path: string): unknown {
  if (schema.enum && schema.enum.length > 0) {
    const strings = schema.enum.filter((v): v is string => typeof v === 'string');
    return strings.length === schema.enum.length ? chooseLabel(strings, document) : schema.enum[0];
  }
  if (schema.anyOf && schema.anyOf.length > 0) return valueFor(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, document, path);
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? 'null') : (schema.type ?? 'string');
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = valueFor(sub, document, `${path}.${key}`);
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
