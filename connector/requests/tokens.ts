/**
 * A cheap, local token ESTIMATE for prompt budgeting and truncation, not a count: the real number depends on
 * the model's tokenizer (Claude 4.7+ and Haiku 5.5 produce ~30% more tokens than earlier models for the same
 * text) and is only known from `POST /v1/messages/count_tokens` or from a result's `usage`.
 *
 * Why this shape: "characters / 4" is right for English prose but badly under-counts text that tokenizes
 * densely (JSON punctuation, Cyrillic, CJK, emoji). So each character gets a weight, in eighths of a token:
 *
 * | character                                          | weight | ≈ chars per token |
 * | ---                                                | ---    | ---               |
 * | ASCII letter or digit                              | 2      | 4                 |
 * | whitespace after a non-space (a run's first)       | 2      | 4                 |
 * | whitespace after whitespace (indentation, padding) | 1      | 8                 |
 * | ASCII punctuation and symbols (JSON, code)          | 4      | 2                 |
 * | other Latin, Greek, Cyrillic, Hebrew, Arabic, Indic… | 4      | 2                 |
 * | general punctuation, arrows, math, dingbats, ASCII controls | 8 | 1             |
 * | CJK ideographs, kana, Hangul, fullwidth forms       | 10     | 0.8               |
 * | each UTF-16 surrogate (an emoji or other astral character is 2 tokens) | 8 | — |
 *
 * and the estimate is ceil(sum / 8). Every weight is positive and depends only on the character and the
 * one before it, so the estimate is never negative, is monotone (a prefix never estimates more than the
 * whole), and is subadditive (estimate(a + b) ≤ estimate(a) + estimate(b)). It errs on the high side for
 * dense text, which is the safe side for a budget.
 */

/** Appended to truncated text. */
export const TRUNCATION_MARKER = ' …[truncated]';

const UNITS_PER_TOKEN = 8;

function isWhitespace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Weight of UTF-16 code unit `c` (in eighths of a token), given whether the previous unit was whitespace. */
function weight(c: number, afterWhitespace: boolean): number {
  if (c < 0x80) {
    if (isWhitespace(c)) return afterWhitespace ? 1 : 2;
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return 2;
    return c < 32 || c === 127 ? 8 : 4;
  }
  if (isWhitespace(c)) return afterWhitespace ? 1 : 2;
  if (c >= 0xd800 && c <= 0xdfff) return 8;
  if (
    (c >= 0x2e80 && c <= 0x9fff) ||
    (c >= 0xac00 && c <= 0xd7af) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xff00 && c <= 0xffef)
  )
    return 10;
  if (c >= 0x2000 && c <= 0x2bff) return 8;
  if (c < 0x80 + 32) return 8; // C1 controls
  return 4;
}

function units(text: string, afterWhitespace = false): number {
  let sum = 0;
  let ws = afterWhitespace;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    sum += weight(c, ws);
    ws = isWhitespace(c);
  }
  return sum;
}

/**
 * Estimated tokens of `text` (see the table above): never negative, 0 only for '', monotone in prefixes.
 * @example estimateTokens('Summarise this invoice.') // 6: 20 letters × 2 + 2 spaces × 2 + '.' × 4 = 48 eighths
 */
export function estimateTokens(text: string): number {
  return Math.ceil(units(text) / UNITS_PER_TOKEN);
}

export interface Truncation {
  text: string;
  truncated: boolean;
  /** estimateTokens of the input. */
  originalTokens: number;
  /** estimateTokens of the returned text (marker included); always ≤ maxTokens. */
  keptTokens: number;
}

/** How far back (in UTF-16 units) a cut may move to land on whitespace: at most 1/4 of the kept text, 100 units. */
const WORD_BOUNDARY_WINDOW = 100;

/**
 * Cuts `text` so that estimateTokens(result.text) <= maxTokens. The cut never splits a surrogate pair, moves
 * back to a whitespace boundary when one is near, and is followed by `marker` (dropped when even the marker
 * does not fit). Text that already fits comes back unchanged.
 * @example truncateToBudget(longDocument, 50_000).text
 */
export function truncateToBudget(text: string, maxTokens: number, marker: string = TRUNCATION_MARKER): Truncation {
  if (!Number.isFinite(maxTokens) || maxTokens < 0)
    throw new RangeError(`maxTokens must be a finite number >= 0, got ${maxTokens}`);
  const budget = Math.floor(maxTokens) * UNITS_PER_TOKEN;
  const originalTokens = estimateTokens(text);
  if (originalTokens <= Math.floor(maxTokens))
    return { text, truncated: false, originalTokens, keptTokens: originalTokens };

  // The marker's weight is largest after a non-space, so reserve that; anything else only costs less.
  let markerText = units(marker) <= budget ? marker : '';
  const available = budget - units(markerText);
  let cut = 0;
  let sum = 0;
  let ws = false;
  while (cut < text.length) {
    const c = text.charCodeAt(cut);
    const pair = c >= 0xd800 && c <= 0xdbff && cut + 1 < text.length && (text.charCodeAt(cut + 1) & 0xfc00) === 0xdc00;
    const w = weight(c, ws) + (pair ? weight(text.charCodeAt(cut + 1), false) : 0);
    if (sum + w > available) break;
    sum += w;
    ws = isWhitespace(c);
    cut += pair ? 2 : 1;
  }

  // Prefer ending before a whitespace near the cut (a whole word), if there is one close enough.
  const window = Math.min(WORD_BOUNDARY_WINDOW, Math.floor(cut / 4));
  for (let j = cut; j >= cut - window && j > 0; j--) {
    if (isWhitespace(text.charCodeAt(j))) {
      cut = j;
      break;
    }
  }
  // Cutting earlier only lowers the estimate (monotone), so the budget still holds.
  const kept = text.slice(0, cut).trimEnd();
  if (kept.length === 0) markerText = markerText.trimStart();
  const out = kept + markerText;
  return { text: out, truncated: true, originalTokens, keptTokens: estimateTokens(out) };
}
