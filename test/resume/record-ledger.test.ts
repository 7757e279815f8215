// Guards the identity re-sent records are recognised by: the text of a record's data as it came, so records
// that differ only beyond double precision are never taken for each other (one would lose its row).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatchSpool, recordsFile } from '../../connector/journal/spool.js';
import { recordDataText } from '../../connector/protocol/record-span.js';
import { RecordLedger, recordFingerprint, spooledFingerprint } from '../../connector/resume/record-ledger.js';
import { tempDir } from '../helpers/cli.js';
import type { SpooledRecord } from '../../connector/types/shared.js';

/** Input lines whose data differ only in digits a double cannot hold. */
const lines = [
  '{"type":"RECORD","record":{"stream":"s","data":{"id":9007199254740993,"v":1.0000000000000000001},"emitted_at":1}}',
  '{"type":"RECORD","record":{"stream":"s","data":{"id":9007199254740992,"v":1},"emitted_at":1}}',
];

/** As the write path does: the arriving record's fingerprint, then its spooled line (BatchSpool writes it). */
async function spoolAndFingerprint(input: string[]): Promise<{ arriving: bigint[]; spooled: bigint[] }> {
  const spool = await BatchSpool.open(tempDir('claude-batch-ledger-'), 0);
  const arriving: bigint[] = [];
  for (const [i, line] of input.entries()) {
    const record = (JSON.parse(line) as { record: { stream: string; data: Record<string, unknown> } }).record;
    const dataText = recordDataText(line)!;
    arriving.push(recordFingerprint(record.stream, null, dataText));
    const spooled: SpooledRecord = {
      line: i + 1,
      stream: record.stream,
      namespace: null,
      data: record.data,
      emitted_at: 1,
      raw_id: `r${i}`,
      custom_id: `c${i}`,
    };
    spool.addRecord(spooled, dataText);
  }
  await spool.seal();
  const spooledLines = readFileSync(recordsFile(spool.dir), 'utf8').split('\n').filter(Boolean);
  return { arriving, spooled: spooledLines.map((l) => spooledFingerprint(l, JSON.parse(l) as SpooledRecord)) };
}

describe('record fingerprints', () => {
  it('records equal as doubles but not as text have different fingerprints, spooled or arriving', async () => {
    const { arriving, spooled } = await spoolAndFingerprint(lines);
    // JSON.parse reads both as the same values: a fingerprint of parsed data would take one for the other.
    expect(JSON.stringify(JSON.parse(lines[0]!).record.data)).toBe(JSON.stringify(JSON.parse(lines[1]!).record.data));
    expect(spooled[0]).not.toBe(spooled[1]);
    expect(arriving[0]).not.toBe(arriving[1]);
    // A re-sent record is recognised by the fingerprint its spooled copy has.
    expect(spooled).toEqual(arriving);
  });

  it('a ledger of the spooled record matches its exact copy only', async () => {
    const { arriving, spooled } = await spoolAndFingerprint(lines.slice(1));
    const ledger = new RecordLedger(BigUint64Array.from(spooled));
    const [other] = (await spoolAndFingerprint(lines.slice(0, 1))).arriving;
    expect(ledger.take(other!)).toBe(false);
    expect(ledger.take(arriving[0]!)).toBe(true);
    expect(ledger.take(arriving[0]!)).toBe(false);
  });

  it('stream and namespace are part of the identity', () => {
    const text = '{"id":1}';
    const all = [
      recordFingerprint('s', null, text),
      recordFingerprint('t', null, text),
      recordFingerprint('s', 'n', text),
    ];
    expect(new Set(all).size).toBe(3);
  });

  it('a line written without the input text (data the scan could not cut) is fingerprinted from its serialised data', () => {
    const r: SpooledRecord = {
      line: 1,
      stream: 's',
      namespace: null,
      data: { a: [1, 'x'] },
      emitted_at: 1,
      raw_id: 'r',
      custom_id: 'c',
    };
    expect(spooledFingerprint(JSON.stringify(r), r)).toBe(recordFingerprint('s', null, JSON.stringify(r.data)));
  });
});
