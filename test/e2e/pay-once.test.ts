// Guards "pay once": identical requests anywhere in a run are sent once and answered for every record
// that made them (even across batches), checked with the emulator's submission counts and DuckDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../connector/emulator/index.js';
import { duck } from '../helpers/duckdb.js';
import { destinationSetup, submittedSince } from '../helpers/resume.js';
import { docs, recordLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

describe('pay once within a run', () => {
  it('sends a request repeated in a later batch once, and fans its answer out to every record', async () => {
    const { destination, write } = destinationSetup(emu);
    const originals = docs(20, 'dup');
    // 20 distinct records, then the first 10 again (other raw ids, same content): 30 rows, 20 requests.
    const input = [...originals, ...originals.slice(0, 10)].map((d) => recordLine('notes', { ...d }));
    const before = new Map(emu.submissions());
    const batchesBefore = (await emu.batches()).length;
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n, count(DISTINCT _airbyte_raw_id)::INT AS raw, count(DISTINCT _claude_output)::INT AS outputs, min(_claude_custom_id) AS c, min(_claude_status) AS s FROM read_parquet('${destination}/**/*.parquet') GROUP BY id ORDER BY id`,
    );
    expect(rows).toHaveLength(20);
    expect(rows.reduce((n, r) => n + Number(r.n), 0)).toBe(30);
    for (const r of rows) {
      expect(r.s).toBe('succeeded');
      expect(r.raw).toBe(r.n);
      expect(r.outputs).toBe(1);
    }
    const sent = submittedSince(emu, before, rows.map((r) => String(r.c)));
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    expect((await emu.batches()).length - batchesBefore).toBe(2);
  });
});
