// Guards the encoder's own Thrift structs (parquet-thrift.ts): what they serialise decodes, through hyparquet's
// generic compact-protocol reader, to the field ids and values parquet.thrift defines, including the long forms
// (lists of 15+ items, 64-bit values past 2^31); and no connector code reaches into parquetjs-lite's private
// files again, which any release of it may move.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';
import { describe, expect, it } from 'vitest';
import {
  Codec,
  ConvertedType,
  Encoding,
  fileMetaData,
  pageHeader,
  PhysicalType,
  Repetition,
  type ColumnChunk,
} from '../../connector/sinks/parquet-thrift.js';
import { REPO } from '../helpers/cli.js';

const decode = (bytes: Buffer) => {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const value = deserializeTCompactProtocol(reader);
  expect(reader.offset, 'the struct ends where the bytes end').toBe(bytes.length);
  return value as Record<string, any>;
};
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('parquet-thrift', () => {
  it('writes a data page header with parquet.thrift field ids', () => {
    expect(
      decode(pageHeader({ uncompressedSize: 1 << 20, compressedSize: 70_000, numValues: 1024, nullCount: 3 })),
    ).toEqual({
      field_1: 0, // DATA_PAGE
      field_2: 1 << 20,
      field_3: 70_000,
      field_5: {
        field_1: 1024,
        field_2: Encoding.PLAIN,
        field_3: Encoding.RLE,
        field_4: Encoding.RLE,
        field_5: { field_3: 3n },
      },
    });
  });

  it('writes the footer: schema with logical types, row groups, statistics, column orders; long lists and 64-bit values', () => {
    const chunk = (k: number): ColumnChunk => ({
      type: PhysicalType.INT64,
      encodings: [Encoding.PLAIN, Encoding.RLE],
      path: `c${k}`,
      codec: Codec.ZSTD,
      numValues: 3,
      totalUncompressedSize: 100 + k,
      totalCompressedSize: 50 + k,
      dataPageOffset: 5_000_000_000 + k, // past 2^32: a file over 4 GiB
      statistics: { nullCount: 1, minValue: Buffer.of(1), maxValue: Buffer.of(2), legacy: k === 0 },
    });
    const leaves = 20; // lists of 15 or more items take the long list header
    const footer = decode(
      fileMetaData({
        schema: [
          { name: 'root', numChildren: leaves },
          {
            name: 's',
            type: PhysicalType.BYTE_ARRAY,
            repetition: Repetition.OPTIONAL,
            convertedType: ConvertedType.UTF8,
            logicalType: 'STRING',
          },
          {
            name: 't',
            type: PhysicalType.INT64,
            repetition: Repetition.REQUIRED,
            convertedType: ConvertedType.TIMESTAMP_MICROS,
            logicalType: 'TIMESTAMP_MICROS_UTC',
          },
          ...Array.from({ length: leaves - 2 }, (_, k) => ({
            name: `d${k}`,
            type: PhysicalType.INT32,
            repetition: Repetition.OPTIONAL,
            convertedType: ConvertedType.DATE,
            logicalType: 'DATE' as const,
          })),
        ],
        numRows: 2 ** 40,
        rowGroups: [
          { columns: Array.from({ length: leaves }, (_, k) => chunk(k)), totalByteSize: 2 ** 33, numRows: 3 },
        ],
        createdBy: 'test',
      }),
    );
    expect(footer.field_1).toBe(1);
    expect(footer.field_3).toBe(2n ** 40n);
    expect(footer.field_6).toEqual(bytes('test'));
    expect(footer.field_7).toEqual(Array.from({ length: leaves }, () => ({ field_1: {} }))); // TYPE_ORDER each
    expect(footer.field_2).toHaveLength(leaves + 1);
    expect(footer.field_2[0]).toEqual({ field_4: bytes('root'), field_5: leaves });
    expect(footer.field_2[1]).toEqual({
      field_1: 6,
      field_3: 1,
      field_4: bytes('s'),
      field_6: 0,
      field_10: { field_1: {} },
    });
    // LogicalType.TIMESTAMP (8) = TimestampType { isAdjustedToUTC: true, unit: TimeUnit.MICROS (2) }
    expect(footer.field_2[2]).toEqual({
      field_1: 2,
      field_3: 0,
      field_4: bytes('t'),
      field_6: 10,
      field_10: { field_8: { field_1: true, field_2: { field_2: {} } } },
    });
    expect(footer.field_2[3]).toEqual({
      field_1: 1,
      field_3: 1,
      field_4: bytes('d0'),
      field_6: 6,
      field_10: { field_6: {} },
    });
    const [group] = footer.field_4;
    expect(group.field_2).toBe(2n ** 33n);
    expect(group.field_3).toBe(3n);
    expect(group.field_1).toHaveLength(leaves);
    expect(group.field_1[0]).toEqual({
      field_2: 5_000_000_000n,
      field_3: {
        field_1: 2,
        field_2: [0, 3],
        field_3: [bytes('c0')],
        field_4: 6, // ZSTD
        field_5: 3n,
        field_6: 100n,
        field_7: 50n,
        field_9: 5_000_000_000n,
        // The legacy min/max (1, 2) only where asked for; min_value/max_value (6, 5) always.
        field_12: {
          field_1: Uint8Array.of(2),
          field_2: Uint8Array.of(1),
          field_3: 1n,
          field_5: Uint8Array.of(2),
          field_6: Uint8Array.of(1),
        },
      },
    });
    expect(group.field_1[1].field_3.field_12).toEqual({
      field_3: 1n,
      field_5: Uint8Array.of(2),
      field_6: Uint8Array.of(1),
    });
  });

  it('no connector code imports parquetjs-lite private files', () => {
    const root = join(REPO, 'connector');
    const sources = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const offenders = sources.filter((f) => /['"]parquetjs-lite\//.test(readFileSync(join(root, f), 'utf8')));
    expect(
      offenders,
      "these files import parquetjs-lite's private files (gen-nodejs/, lib/), which its releases move without notice; " +
        'use parquet-thrift.ts (Thrift structs) and parquet-compression.ts (codecs) instead',
    ).toEqual([]);
  });
});
