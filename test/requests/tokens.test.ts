// Guards the local token estimate and truncation: a truncated prompt must fit its budget (or the request is
// refused or billed for more than planned), must never split a surrogate pair (invalid UTF-16 becomes U+FFFD
// on the wire), and an estimate that shrank as text grew would let an over-long prompt through.
import { describe, expect, it } from 'vitest';
import { estimateTokens, TRUNCATION_MARKER, truncateToBudget } from '../../connector/requests/tokens.js';
import { seededRandom as prng } from '../../emulator/random.js';

const POOLS: Array<(r: () => number) => string> = [
  (r) => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[Math.floor(r() * 62)]!,
  (r) => [' ', '  ', '\n', '\t', '\u00a0', '\u3000', '\r\n'][Math.floor(r() * 7)]!,
  (r) => '{}[]":,.;!?-_()/\\@#'[Math.floor(r() * 19)]!,
  (r) => String.fromCharCode(0x0400 + Math.floor(r() * 0x100)), // Cyrillic
  (r) => String.fromCharCode(0x4e00 + Math.floor(r() * 0x5000)), // CJK
  (r) => String.fromCharCode(0xac00 + Math.floor(r() * 0x2000)), // Hangul
  (r) => String.fromCodePoint(0x1f300 + Math.floor(r() * 0x300)), // emoji: surrogate pairs
  (r) => String.fromCharCode(0x0300 + Math.floor(r() * 0x70)), // combining marks
  (r) => String.fromCharCode(0x2000 + Math.floor(r() * 0xc00)), // punctuation, arrows, math
  (r) => String.fromCodePoint(Math.floor(r() * 0x110000)).replace(/[\ud800-\udfff]/g, 'x'), // anything but lone surrogates
];

function randomText(r: () => number, maxLen: number, loneSurrogates = false): string {
  const len = Math.floor(r() * maxLen);
  let s = '';
  while (s.length < len) {
    s += POOLS[Math.floor(r() * POOLS.length)]!(r);
    if (loneSurrogates && r() < 0.05) s += String.fromCharCode(0xd800 + Math.floor(r() * 0x800));
  }
  return s;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
/** True if `s` has no surrogate that lacks its partner. */
function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHigh(c)) {
      if (!isLow(s.charCodeAt(i + 1))) return false;
      i++;
    } else if (isLow(c)) return false;
  }
  return true;
}

describe('estimateTokens', () => {
  it('gives the documented figures for simple text', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('a')).toBe(1);
    expect(estimateTokens('Summarise this invoice.')).toBe(6);
    expect(estimateTokens('abcd'.repeat(100))).toBe(100); // 4 ASCII letters per token
    expect(estimateTokens(' '.repeat(81))).toBe(11); // a run of spaces: 2 + 80 × 1 eighths
    expect(estimateTokens('{"a":1}')).toBe(3); // 5 symbols × 4 + 2 alnum × 2 = 24 eighths
    expect(estimateTokens('日本語のテキスト')).toBe(10); // 8 CJK × 10 eighths
    expect(estimateTokens('😀')).toBe(2);
  });

  it('is a non-negative integer, monotone in prefixes and subadditive, on random unicode', () => {
    const r = prng(1);
    const failures: string[] = [];
    for (let n = 0; n < 400; n++) {
      const s = randomText(r, 300, true);
      const e = estimateTokens(s);
      if (!Number.isInteger(e) || e < 0 || (e === 0) !== (s.length === 0))
        failures.push(`estimate ${e} of ${JSON.stringify(s)}`);
      let previous = 0;
      for (let cut = 0; cut <= s.length + 1; cut += 1 + Math.floor(r() * 7)) {
        const p = estimateTokens(s.slice(0, cut));
        if (p < previous) failures.push(`prefix ${cut} of ${JSON.stringify(s)}: ${p} < ${previous}`);
        previous = p;
      }
      const t = randomText(r, 100, true);
      if (estimateTokens(s + t) > e + estimateTokens(t))
        failures.push(`not subadditive: ${JSON.stringify(s)} + ${JSON.stringify(t)}`);
    }
    expect(failures).toEqual([]);
  });

  it('counts dense scripts as more tokens per character than English', () => {
    const n = 400;
    const english = estimateTokens('word '.repeat(n / 5));
    expect(estimateTokens('слово'.repeat(n / 5))).toBeGreaterThan(english);
    expect(estimateTokens('字'.repeat(n))).toBeGreaterThan(estimateTokens('слово'.repeat(n / 5)));
  });
});

describe('truncateToBudget', () => {
  it('returns text that fits unchanged', () => {
    expect(truncateToBudget('short text', 100)).toEqual({
      text: 'short text',
      truncated: false,
      originalTokens: 3,
      keptTokens: 3,
    });
    expect(truncateToBudget('', 0)).toEqual({ text: '', truncated: false, originalTokens: 0, keptTokens: 0 });
  });

  it('cuts at a word boundary and appends the marker', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    const out = truncateToBudget(text, 20);
    expect(out.truncated).toBe(true);
    expect(out.text.endsWith(TRUNCATION_MARKER)).toBe(true);
    const kept = out.text.slice(0, -TRUNCATION_MARKER.length);
    expect(text.startsWith(kept)).toBe(true);
    expect(text[kept.length]).toMatch(/\s/); // the next original character is whitespace: whole words only
    expect(out.keptTokens).toBeLessThanOrEqual(20);
    expect(out.keptTokens).toBeGreaterThanOrEqual(17); // the word boundary costs little
    expect(out.originalTokens).toBe(estimateTokens(text));
  });

  it('cuts mid-word when no whitespace is near, never splitting an emoji', () => {
    const text = '😀'.repeat(100);
    const out = truncateToBudget(text, 30);
    expect(wellFormed(out.text)).toBe(true);
    expect(estimateTokens(out.text)).toBeLessThanOrEqual(30);
    expect(out.text.startsWith('😀'.repeat(10))).toBe(true);
  });

  it('drops the marker when even the marker does not fit, and keeps nothing for a zero budget', () => {
    const tiny = truncateToBudget('abcdefghijklmnop', 2);
    expect(tiny).toMatchObject({ text: 'abcdefgh', truncated: true, keptTokens: 2 });
    expect(truncateToBudget('abc', 0)).toMatchObject({ text: '', truncated: true, keptTokens: 0 });
    expect(() => truncateToBudget('abc', -1)).toThrow(RangeError);
    expect(() => truncateToBudget('abc', Number.NaN)).toThrow(RangeError);
  });

  it('always fits the budget, keeps a prefix and never splits a surrogate pair, on random unicode', () => {
    const r = prng(2);
    const failures: string[] = [];
    for (let n = 0; n < 1500; n++) {
      const text = randomText(r, 400);
      const max = Math.floor(r() * (estimateTokens(text) + 5));
      const out = truncateToBudget(text, max);
      const why = (what: string) =>
        failures.push(`${what}: max ${max}, ${JSON.stringify(text)} → ${JSON.stringify(out.text)}`);
      if (estimateTokens(out.text) > max) why('over budget');
      if (out.keptTokens !== estimateTokens(out.text) || out.originalTokens !== estimateTokens(text))
        why('token counts');
      if (out.truncated !== estimateTokens(text) > max) why('truncated flag');
      if (!out.truncated) {
        if (out.text !== text) why('changed text that fit');
        continue;
      }
      const kept = out.text.endsWith(TRUNCATION_MARKER)
        ? out.text.slice(0, -TRUNCATION_MARKER.length)
        : out.text.replace(TRUNCATION_MARKER.trimStart(), '');
      if (!text.startsWith(kept)) why('not a prefix');
      if (!wellFormed(out.text)) why('split a surrogate pair');
    }
    expect(failures).toEqual([]);
  });

  it('keeps a budget on text with lone surrogates too (it never makes them worse)', () => {
    const r = prng(3);
    for (let n = 0; n < 300; n++) {
      const text = randomText(r, 200, true);
      const max = Math.floor(r() * (estimateTokens(text) + 2));
      const out = truncateToBudget(text, max);
      expect(estimateTokens(out.text)).toBeLessThanOrEqual(max);
      const kept = out.text.endsWith(TRUNCATION_MARKER) ? out.text.slice(0, -TRUNCATION_MARKER.length) : out.text;
      if (kept.length > 0 && kept.length < text.length) {
        // a pair that was whole in the input is whole in the output
        const last = kept.charCodeAt(kept.length - 1);
        expect(isHigh(last) && isLow(text.charCodeAt(kept.length))).toBe(false);
      }
    }
  });
});
