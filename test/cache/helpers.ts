import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A custom_id shaped like customIdFor's ('r' + base64url sha256), derived from `seed`. */
export const idFor = (seed: string | number) => 'r' + createHash('sha256').update(String(seed)).digest('base64url');

/** A custom_id whose hash (its first decoded bytes) is exactly `prefix` followed by `seed`-derived bytes. */
export function idWithHashPrefix(prefix: number[], seed: number): string {
  const bytes = createHash('sha256').update(String(seed)).digest();
  Buffer.from(prefix).copy(bytes, 0);
  return 'r' + bytes.toString('base64url');
}

/** A results line as the API writes it for a succeeded request. */
export function succeededLine(customId: string, text = `answer for ${customId}`): string {
  return JSON.stringify({
    custom_id: customId,
    result: {
      type: 'succeeded',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        stop_reason: 'end_turn',
        stop_sequence: null,
        content: [{ type: 'text', text }],
        usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
      },
    },
  });
}

export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `${name}-`));
