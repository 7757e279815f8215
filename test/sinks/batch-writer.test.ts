// Guards the join in-process: spooled records meet their answers by custom_id whatever the results order,
// fan-out and skipped records each get their row, the answers the cache gets are the lines' exact bytes, and
// the outcomes the index pass kept (parsedAnswers) are used once and then let go: a second join of the same
// files, parsing every line itself, writes the same rows.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../connector/config/config.js';
import { parseCatalog } from '../../connector/config/catalog.js';
import { RequestBuilder } from '../../connector/requests/build.js';
import { writeBatchOutput, writeContextBase } from '../../connector/sinks/batch-writer.js';
import { indexRound, mergeRound, parsedAnswers } from '../../connector/batches/results-file.js';
import { recordsOf } from '../../connector/cache/record-format.js';
import { emulatorConfig, tempDir } from '../helpers/cli.js';
import { catalogFor, docs } from '../helpers/records.js';
import { duck } from '../helpers/duckdb.js';
import type { ResultIndex } from '../../connector/types/shared.js';

const idOf = (i: number) => 'r' + createHash('sha256').update(`request ${i}`).digest('base64url');

const succeeded = (customId: string, text: string) =>
  JSON.stringify({
    custom_id: customId,
    result: {
      type: 'succeeded',
      message: {
        id: `msg_${customId.slice(1, 9)}`,
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        stop_reason: 'end_turn',
        stop_sequence: null,
        content: [{ type: 'text', text }],
        usage: { input_tokens: 30, output_tokens: 7, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
      },
    },
  });
const errored = (customId: string) =>
  JSON.stringify({
    custom_id: customId,
    result: {
      type: 'errored',
      error: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } },
    },
  });

describe('writeBatchOutput', () => {
  it('joins records and answers by custom_id, fans out, keeps skipped rows, hands the cache exact lines, and lets kept outcomes go', async () => {
    const dir = tempDir('batch-writer-');
    const config = parseConfig(emulatorConfig('http://127.0.0.1:9', join(dir, 'dest')));
    const catalog = parseCatalog(catalogFor(['docs']));
    const base = writeContextBase(config, catalog, new RequestBuilder(config));
    const batch = join(dir, 'spool');
    mkdirSync(join(batch, 'round-0'), { recursive: true });

    // 40 records: #39 asks what #38 asks (fan-out), #5's answer is an error, #7 was never sent (skipped).
    const all = docs(40);
    const customIdOf = (i: number) => idOf(i === 39 ? 38 : i);
    const records = all.map((data, i) => ({
      line: i + 1,
      stream: 'docs',
      namespace: null,
      data,
      emitted_at: 1764000000000 + i,
      raw_id: randomUUID(),
      custom_id: customIdOf(i),
      ...(i === 7 ? { skip: { type: 'missing_field', message: 'the template needs body' } } : {}),
    }));
    writeFileSync(join(batch, 'records.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const answerText = (i: number) => `summary of ${all[i]!.id} ✓`;
    const sent = [...new Set(records.filter((r) => !r.skip).map((r) => r.custom_id))];
    const lines = new Map(
      sent.map((id) => {
        const i = records.findIndex((r) => r.custom_id === id);
        return [id, i === 5 ? errored(id) : succeeded(id, answerText(i))];
      }),
    );
    // Results come back in any order.
    const shuffled = [...lines.values()].sort((a, b) =>
      createHash('md5').update(a).digest('hex') < createHash('md5').update(b).digest('hex') ? -1 : 1,
    );
    const resultsPath = join(batch, 'round-0', 'results.jsonl');
    writeFileSync(resultsPath, shuffled.join('\n') + '\n');

    const index: ResultIndex = new Map();
    mergeRound(index, await indexRound(resultsPath, 0, new Set(sent)), () => undefined);
    const heldBefore = parsedAnswers.heldBytes;
    expect(heldBefore).toBeGreaterThanOrEqual(readFileSync(resultsPath).length - shuffled.length);

    const results = { files: [resultsPath], batchIds: ['msgbatch_test'], index };
    const first = await writeBatchOutput(
      { ...base, runId: 'run-a', keepAnswers: true },
      0,
      join(batch, 'records.jsonl'),
      results,
    );
    expect(parsedAnswers.heldBytes).toBe(heldBefore - (readFileSync(resultsPath).length - shuffled.length));

    expect(first.tallies[0]!.rows).toBe(40);
    expect(first.tallies[0]!.byStatus).toEqual({ succeeded: 38, errored: 1, skipped: 1 });
    // The cache gets each succeeded request once (#38 and #39 share one), as the exact line.
    const cached = [...recordsOf(first.cacheable.records)].map(({ key, record }) => [
      key,
      record.subarray(16 + Buffer.byteLength(key)).toString('utf8'),
    ]);
    expect(new Map(cached as Array<[string, string]>)).toEqual(
      new Map([...lines].filter(([id]) => id !== customIdOf(5))),
    );
    expect(cached).toHaveLength(37);

    const got = await duck(
      `SELECT id, _claude_status s, _claude_output o, _claude_error_type e FROM read_parquet('${first.tallies[0]!.path}') ORDER BY id`,
    );
    expect(got).toHaveLength(40);
    for (const [i, row] of got.entries()) {
      if (i === 5) expect(row).toMatchObject({ s: 'errored', o: null, e: 'invalid_request_error' });
      else if (i === 7) expect(row).toMatchObject({ s: 'skipped', o: null, e: 'missing_field' });
      else expect(row).toMatchObject({ s: 'succeeded', o: answerText(i === 39 ? 38 : i) });
    }

    // Joined again with nothing kept: every line parsed by the join itself, the same rows.
    const second = await writeBatchOutput(
      { ...base, runId: 'run-b', keepAnswers: true },
      0,
      join(batch, 'records.jsonl'),
      results,
    );
    const again = await duck(
      `SELECT id, _claude_status s, _claude_output o, _claude_error_type e FROM read_parquet('${second.tallies[0]!.path}') ORDER BY id`,
    );
    expect(again).toEqual(got);
    expect(Buffer.from(second.cacheable.records).equals(Buffer.from(first.cacheable.records))).toBe(true);
  });
});
