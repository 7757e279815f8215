// The README's first command: `npm run demo` (here its built script, node dist/connector/demo.js), run twice
// as a new user does, following its own hint ("run the demo again: everything is cached and nothing is
// sent"). Each run is a sync of its own: the second writes every record again, answered from the result
// cache, and the summary counts the source's STATEs only.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

function demo(): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(REPO, 'dist/connector/demo.js')], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

const lines = readFileSync(join(REPO, 'samples/messages.jsonl'), 'utf8').split('\n').filter(Boolean);
const records = lines.filter((l) => JSON.parse(l).type === 'RECORD').length;
const states = lines.filter((l) => JSON.parse(l).type === 'STATE').length;

describe('npm run demo', { timeout: 120_000 }, () => {
  it('run twice: every record a row each time, the second answered from the cache, source STATEs counted', async () => {
    const first = await demo();
    expect(first.code, first.out).toBe(0);
    const second = await demo();
    expect(second.code, second.out).toBe(0);
    for (const run of [first, second]) {
      const summary = /Run \S+: (\d+) records in, (\d+) rows out, \d+ batches, (\d+) STATE messages echoed/.exec(
        run.out,
      );
      expect(summary, run.out).not.toBeNull();
      expect(summary!.slice(1).map(Number)).toEqual([records, records, states]);
    }
    const cached =
      /Estimated cost: \$[\d.]+ at batch prices for (\d+) requests .*; (\d+) rows answered from the result cache/.exec(
        second.out,
      );
    expect(cached, second.out).not.toBeNull();
    expect(cached!.slice(1).map(Number)).toEqual([0, records]);
  });
});
