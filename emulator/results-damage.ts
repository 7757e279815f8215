import type { StoredBatch } from './batch-record.js';
import type { Faults } from './faults.js';
import { opaqueId, rfc3339, seededRandom, unitHash } from './random.js';

const HOUR = 3_600_000;

/** Each results line in file order → what is written for it (itself, junk, nothing, plus strays); then the tail. */
export interface Damage {
  line: (customId: string, text: string) => Array<string | Buffer>;
  end: () => Array<string | Buffer>;
}
export const UNDAMAGED: Damage = { line: (_customId, text) => [`${text}\n`], end: () => [] };

export interface DamageContext {
  seed: number;
  now: () => number;
  /** How many times each fault has failed each custom_id (so a resubmitted request can get through). */
  failedTimes: Map<string, number>;
}

/**
 * The results-file faults for one batch, as a filter over its lines in file order: each line comes out as
 * itself, as junk, or not at all; stray lines for custom_ids never sent are spread through the file. Counts
 * (request_counts) are not changed: the file disagrees with them, as a damaged download would. Undefined when
 * no such fault is set (every line comes out as itself).
 */
export function resultsDamage(
  batch: Pick<StoredBatch, 'seq' | 'total'>,
  f: Faults,
  context: DamageContext,
): Damage | undefined {
  let strays = Math.max(0, Math.floor(f.resultsStrayLines));
  const damaging =
    f.resultsTruncateAfterLines !== undefined ||
    f.resultsMissingShare > 0 ||
    f.resultsMalformedLines > 0 ||
    f.resultsUnknownTypeShare > 0 ||
    strays !== 0;
  if (!damaging) return undefined;
  const random = seededRandom(context.seed * 31 + batch.seq);
  let written = 0;
  let malformed = 0;
  // Spread the stray lines: each of the batch's lines is followed by one with this chance.
  const strayChance = batch.total > 0 ? strays / batch.total : 1;
  const hit = (customId: string): boolean => {
    const key = `results:${customId}`;
    const times = context.failedTimes.get(key) ?? 0;
    if (times >= f.resultsFaultAttempts) return false;
    context.failedTimes.set(key, times + 1);
    return true;
  };
  const stray = (): string => {
    const customId = `stray_${opaqueId('', 12)}`;
    const message = {
      id: opaqueId('msg_emulator_'),
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5',
      content: [{ type: 'text', text: '[emulator] an answer to a request nobody sent', citations: null }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return JSON.stringify({ custom_id: customId, result: { type: 'succeeded', message } }) + '\n';
  };
  const straysAfter = (): string[] => {
    const out: string[] = [];
    if (strays > 0 && random() < strayChance) {
      strays--;
      out.push(stray());
    }
    return out;
  };
  return {
    line: (customId, text) => {
      const truncated = f.resultsTruncateAfterLines !== undefined && written >= f.resultsTruncateAfterLines;
      if (truncated && hit(customId)) return [];
      if (f.resultsMissingShare > 0 && unitHash('results-missing', customId) < f.resultsMissingShare && hit(customId))
        return straysAfter();
      if (malformed < f.resultsMalformedLines && hit(customId)) {
        written++;
        return [malformedLine(customId, text, malformed++), ...straysAfter()];
      }
      if (f.resultsUnknownTypeShare > 0 && unitHash('results-unknown', customId) < f.resultsUnknownTypeShare) {
        text = JSON.stringify({
          custom_id: customId,
          result: { type: 'deferred', deferred_until: rfc3339(context.now() + HOUR) },
        });
      }
      written++;
      return [text + '\n', ...straysAfter()];
    },
    end: () => {
      const out: string[] = [];
      // Strays not placed yet go last (unless the file was cut short: it ends where it was cut).
      if (f.resultsTruncateAfterLines === undefined) while (strays-- > 0) out.push(stray());
      return out;
    },
  };
}

/** The n-th junk line that stands in for a real one: what a damaged results file can hold. */
function malformedLine(customId: string, text: string, n: number): string | Buffer {
  switch (n % 6) {
    case 0:
      return text.slice(0, Math.max(1, Math.floor(text.length / 2))) + '\n'; // cut off mid-object
    case 1:
      return '<html><body>502 Bad Gateway</body></html>\n'; // not JSON at all
    case 2:
      return Buffer.concat([
        Buffer.from(`{"custom_id":"${customId}","result":{"type":"succeeded","note":"`),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}}\n'),
      ]);
    case 3:
      return JSON.stringify({ custom_id: customId }) + '\n'; // JSON, but no result
    case 4:
      return JSON.stringify([customId, 'succeeded']) + '\n'; // JSON, not an object
    default:
      return '\n'; // a blank line (the SDK's JSONL decoder throws on it)
  }
}
