import { rfc3339 } from './random.js';

/** Models the emulator answers for: the SDK's known model names (resources/messages/messages.d.ts `Model`). */
export const KNOWN_MODELS: readonly string[] = [
  'claude-fable-5-2',
  'claude-mythos-5-2',
  'claude-haiku-5-5',
  'claude-sonnet-5-5',
  'claude-fable-5-1',
  'claude-opus-5-5',
  'claude-mythos-5-1',
  'claude-sonnet-5',
  'claude-fable-5',
  'claude-mythos-5',
  'claude-opus-5',
  'claude-opus-4-8',
  'claude-opus-4-7',
  'claude-mythos-preview',
  'claude-opus-4-6',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
  'claude-haiku-4-5-20251001',
  'claude-opus-4-5',
  'claude-opus-4-5-20251101',
  'claude-sonnet-4-5',
  'claude-sonnet-4-5-20250929',
];

/** Output token ceiling per model, for max_tokens validation: 64k for the 4.5 models, 128k for the later ones. */
export function maxOutputTokens(model: string): number {
  if (/^claude-(haiku-4-5|sonnet-4-5|opus-4-5)/.test(model)) return 64_000;
  return 128_000;
}

const RELEASED = Date.parse('2025-10-01T00:00:00Z');

/**
 * The shortest prompt prefix a model caches (tokens), as the prompt caching docs list it: 4,096 for Opus 4.5
 * and 4.6 and Haiku 4.5, 2,048 for Opus 4.7, 1,024 for the rest (newer models that cache from 512 are held to
 * 1,024: a prefix the API would cache may go uncached here, never the other way round).
 */
export function minCacheableTokens(model: string): number {
  if (/^claude-(opus-4-5|opus-4-6|haiku-4-5)/.test(model)) return 4096;
  if (model.startsWith('claude-opus-4-7')) return 2048;
  return 1024;
}

/** The context window the emulator gives every model: a longer prompt is refused, as the API refuses it. */
export const MAX_INPUT_TOKENS = 200_000;

export function modelInfo(id: string): Record<string, unknown> {
  return {
    type: 'model',
    id,
    display_name: `${id} (emulated)`,
    created_at: rfc3339(RELEASED),
    capabilities: null,
    deprecated_at: null,
    lifecycle: 'active',
    line: null,
    max_input_tokens: MAX_INPUT_TOKENS,
    max_tokens: maxOutputTokens(id),
    retires_at: null,
  };
}
