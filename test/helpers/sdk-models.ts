import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The model ids the installed SDK names in its `Model` type, read from its declaration file: the price
 * table and the emulator are checked against the SDK itself, so an upgrade that adds a model fails a test
 * instead of going unpriced.
 */
export function sdkModelIds(): string[] {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@anthropic-ai/sdk'));
  const dts = readFileSync(join(root, 'resources/messages/messages.d.ts'), 'utf8');
  const union = /export type Model = ([^;]+);/.exec(dts);
  if (!union) throw new Error('no `export type Model` in the SDK declarations');
  return [...union[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}
