import { createRequire } from 'node:module';
import type { ColumnKind } from './arrow-schema.js';
import { snappyCompress } from './snappy.js';

/*
 * A columnar Parquet encoder: one row group at a time, each value encoded into its column's current PLAIN
 * page as its row is added, pages with RLE/bit-packed definition levels (v1 data pages, the most widely
 * readable form) compressed as they fill.
 *
 * parquetjs-lite's own writer shreds every row into per-column arrays through generic, nested-schema code and
 * keeps a Set of every distinct value for statistics; at 10k-row groups of ~1 KB texts that was a quarter of
 * the connector's CPU. Our schemas are flat (every column is a leaf, optional or required), so shredding is
 * a write per column into that column's page buffer. The Thrift structures
 * (page headers, column metadata, footer), their compact-protocol serialisation and the GZIP codec are still
 * parquetjs-lite's; SNAPPY pages go through our own compressor (snappy.ts), 2-2.5× as fast as the snappyjs
 * behind parquetjs-lite's codec.
 */

const require = createRequire(import.meta.url);

type ThriftStruct = Record<string, unknown> & { write(protocol: unknown): void };
type ThriftCtor = new (args?: Record<string, unknown>) => ThriftStruct;
interface ParquetThrift {
  Type: Record<string, number>;
  ConvertedType: Record<string, number>;
  FieldRepetitionType: Record<string, number>;
  Encoding: Record<string, number>;
  CompressionCodec: Record<string, number>;
  PageType: Record<string, number>;
  [struct: string]: unknown;
}
const thrift = require('parquetjs-lite/gen-nodejs/parquet_types.js') as ParquetThrift;
const { serializeThrift } = require('parquetjs-lite/lib/util.js') as { serializeThrift(obj: ThriftStruct): Buffer };
const { deflate } = require('parquetjs-lite/lib/compression.js') as { deflate(method: string, value: Buffer): Buffer };

function struct(name: string, args: Record<string, unknown>): ThriftStruct {
  const Ctor = thrift[name] as ThriftCtor | undefined;
  if (!Ctor) throw new Error(`parquetjs-lite has no Thrift struct ${name}; expected the 0.8.x layout`);
  return new Ctor(args);
}

export type Compression = 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  nullable: boolean;
}

const PHYSICAL: Record<ColumnKind, string> = {
  string: 'BYTE_ARRAY',
  json: 'BYTE_ARRAY',
  integer: 'INT64',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'INT64',
  date: 'INT32',
};
const FIXED_WIDTH: Partial<Record<ColumnKind, number>> = { integer: 8, number: 8, timestamp: 8, date: 4 };

/** Pages are cut at about this many uncompressed value bytes, so a reader never has to inflate a huge page. */
const PAGE_BYTES = 1 << 20;

export const PARQUET_MAGIC = Buffer.from('PAR1');

/** A growable byte buffer for encoding one page; reused across pages and row groups. */
class ByteSink {
  buf = Buffer.allocUnsafe(1 << 16);
  length = 0;

  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  /** A copy of the bytes so far (the sink is reused, so callers must not keep a view). */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

function writeVarint(sink: ByteSink, value: number): void {
  sink.reserve(5);
  while (value > 0x7f) {
    sink.buf[sink.length++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  sink.buf[sink.length++] = value;
}

/** Min and max of a numeric column, encoded PLAIN as statistics want them. */
interface Range {
  min: number | bigint;
  max: number | bigint;
}

function widen(range: Range | undefined, v: number | bigint): Range {
  if (!range) return { min: v, max: v };
  if (v < range.min) range.min = v;
  if (v > range.max) range.max = v;
  return range;
}

function plainBytes(kind: ColumnKind, v: number | bigint | boolean): Buffer {
  const width = FIXED_WIDTH[kind] ?? 1;
  const out = Buffer.alloc(width);
  writeFixed(out, 0, kind, v);
  return out;
}

function writeFixed(buf: Buffer, at: number, kind: ColumnKind, v: unknown): void {
  switch (kind) {
    case 'integer':
    case 'timestamp':
      if (typeof v === 'bigint') buf.writeBigInt64LE(v, at);
      else {
        // A safe integer as two 32-bit words: several times cheaper than a BigInt per value.
        const n = v as number;
        buf.writeUInt32LE(n >>> 0, at);
        buf.writeInt32LE(Math.floor(n / 2 ** 32), at + 4);
      }
      return;
    case 'number':
      buf.writeDoubleLE(v as number, at);
      return;
    case 'date':
      buf.writeInt32LE(v as number, at);
      return;
    case 'boolean':
      buf[at] = v ? 1 : 0;
      return;
    default:
      throw new Error(`${kind} is not a fixed-width column`);
  }
}

function compress(compression: Compression, body: Buffer): Buffer {
  if (compression === 'UNCOMPRESSED') return body;
  return compression === 'SNAPPY' ? snappyCompress(body) : deflate(compression, body);
}

/**
 * One column's chunk of the row group being filled. Each value is encoded into the current page as it is
 * added (PLAIN: a 4-byte length then the UTF-8 bytes for text, little-endian fixed width for numbers, dates
 * and timestamps, bits LSB first for booleans), and a page is compressed as soon as it holds ~PAGE_BYTES. So
 * a row's strings die young instead of waiting in arrays for the whole row group, and what a row group holds
 * until it is written is its compressed pages, outside the JS heap.
 */
class ColumnChunkEncoder {
  /** The current page's encoded values. */
  private readonly values = new ByteSink();
  /** The current page's definition levels, one bit per value (1 = present), in bit-packed order. */
  private present = new Uint8Array(1024);
  private pageValues = 0;
  private pageNulls = 0;
  private booleans = 0;
  private pages: Buffer[] = [];
  private size = 0;
  private uncompressed = 0;
  private count = 0;
  private nulls = 0;
  private range: Range | undefined;
  private readonly width: number | undefined;

  constructor(
    readonly column: ColumnSpec,
    private readonly compression: Compression,
    /** Scratch for assembling page bodies, shared by a row group's columns. */
    private readonly body: ByteSink,
  ) {
    this.width = FIXED_WIDTH[column.kind];
  }

  /** Adds the next row's value: null or undefined for a null (the caller has checked it fits the column). */
  add(v: unknown): void {
    const i = this.pageValues++;
    if (i >> 3 >= this.present.length) {
      const bigger = new Uint8Array(this.present.length * 2);
      bigger.set(this.present);
      this.present = bigger;
    }
    const sink = this.values;
    if (v === undefined || v === null) {
      if (!this.column.nullable) throw new Error(`column ${this.column.name} is required but a row has no value`);
      this.pageNulls++;
    } else {
      this.present[i >> 3]! |= 1 << (i & 7);
      const kind = this.column.kind;
      if (kind === 'string' || kind === 'json') {
        const text = typeof v === 'string' ? v : String(v);
        sink.reserve(4 + text.length * 3);
        const n = sink.buf.write(text, sink.length + 4, 'utf8');
        sink.buf.writeUInt32LE(n, sink.length);
        sink.length += 4 + n;
      } else if (kind === 'boolean') {
        const bit = this.booleans++;
        if ((bit & 7) === 0) {
          sink.reserve(1);
          sink.buf[sink.length++] = 0;
        }
        if (v) sink.buf[sink.length - 1]! |= 1 << (bit & 7);
      } else {
        sink.reserve(this.width!);
        writeFixed(sink.buf, sink.length, kind, v);
        sink.length += this.width!;
        this.range = widen(this.range, v as number | bigint);
      }
    }
    if (sink.length >= PAGE_BYTES || this.pageValues >= PAGE_BYTES) this.sealPage();
  }

  /** Compresses the current page (definition levels, then values) and starts the next. */
  private sealPage(): void {
    const count = this.pageValues;
    if (count === 0) return;
    const nulls = this.pageNulls;
    const body = this.body;
    body.length = 0;
    if (this.column.nullable) writeDefinitionLevels(body, this.present, count, nulls);
    body.reserve(this.values.length);
    this.values.buf.copy(body.buf, body.length, 0, this.values.length);
    body.length += this.values.length;
    const raw = body.take();
    const compressed = compress(this.compression, raw);
    const header = serializeThrift(
      struct('PageHeader', {
        type: thrift.PageType.DATA_PAGE,
        uncompressed_page_size: raw.length,
        compressed_page_size: compressed.length,
        data_page_header: struct('DataPageHeader', {
          num_values: count,
          encoding: thrift.Encoding.PLAIN,
          definition_level_encoding: thrift.Encoding.RLE,
          repetition_level_encoding: thrift.Encoding.RLE,
          statistics: struct('Statistics', { null_count: nulls }),
        }),
      }),
    );
    this.pages.push(header, compressed);
    this.size += header.length + compressed.length;
    this.uncompressed += header.length + raw.length;
    this.count += count;
    this.nulls += nulls;
    this.present.fill(0, 0, Math.ceil(count / 8));
    this.values.length = 0;
    this.pageValues = 0;
    this.pageNulls = 0;
    this.booleans = 0;
  }

  /** Ends the chunk, which starts at `offset` in the file: its pages, and its ColumnChunk for the footer. */
  finish(offset: number): { pages: Buffer[]; size: number; uncompressed: number; chunk: ThriftStruct } {
    this.sealPage();
    const c = this.column;
    const meta = struct('ColumnMetaData', {
      type: thrift.Type[PHYSICAL[c.kind]],
      encodings: c.nullable ? [thrift.Encoding.PLAIN, thrift.Encoding.RLE] : [thrift.Encoding.PLAIN],
      path_in_schema: [c.name],
      codec: thrift.CompressionCodec[this.compression],
      num_values: this.count,
      total_uncompressed_size: this.uncompressed,
      total_compressed_size: this.size,
      data_page_offset: offset,
      statistics: this.statistics(),
    });
    const done = { pages: this.pages, size: this.size, uncompressed: this.uncompressed, chunk: struct('ColumnChunk', { file_offset: offset, meta_data: meta }) };
    this.pages = [];
    this.size = this.uncompressed = this.count = this.nulls = 0;
    this.range = undefined;
    return done;
  }

  private statistics(): ThriftStruct {
    const stats: Record<string, unknown> = { null_count: this.nulls };
    // Min/max only for numeric kinds: their signed order is unambiguous to every reader, unlike text, whose
    // order depends on the file's ColumnOrder (which this Thrift layout cannot write) and whose values are long.
    if (this.range) {
      let { min, max } = this.range;
      // Spec: a zero minimum is written as -0.0 and a zero maximum as +0.0.
      if (this.column.kind === 'number') {
        if (min === 0) min = -0;
        if (max === 0) max = 0;
      }
      const [lo, hi] = [plainBytes(this.column.kind, min), plainBytes(this.column.kind, max)];
      Object.assign(stats, { min_value: lo, max_value: hi, min: lo, max: hi });
    }
    return struct('Statistics', stats);
  }
}

/**
 * Definition levels (bit width 1) of a page in the RLE/bit-packing hybrid with its 4-byte length prefix: one
 * RLE run when the page is all present or all null (the usual case), else bit-packed groups of 8, which are
 * exactly the bytes of the `present` bitmap.
 */
function writeDefinitionLevels(sink: ByteSink, present: Uint8Array, count: number, nulls: number): void {
  const lengthAt = sink.length;
  sink.reserve(4);
  sink.length += 4;
  if (nulls === 0 || nulls === count) {
    writeVarint(sink, count << 1);
    sink.reserve(1);
    sink.buf[sink.length++] = nulls === 0 ? 1 : 0;
  } else {
    const groups = Math.ceil(count / 8);
    writeVarint(sink, (groups << 1) | 1);
    sink.reserve(groups);
    sink.buf.set(present.subarray(0, groups), sink.length);
    sink.length += groups;
  }
  sink.buf.writeUInt32LE(sink.length - lengthAt - 4, lengthAt);
}

export interface EncodedRowGroup {
  /** The bytes to append to the file, in order. */
  buffers: Buffer[];
  byteLength: number;
  /** Thrift RowGroup for the footer. */
  metadata: ThriftStruct;
}

/** A row group being filled, a row at a time, column chunk by column chunk (see ColumnChunkEncoder). */
export class RowGroupEncoder {
  private readonly columns: ColumnChunkEncoder[];
  private rowCount = 0;

  constructor(private readonly specs: readonly ColumnSpec[], compression: Compression) {
    const body = new ByteSink();
    this.columns = specs.map((spec) => new ColumnChunkEncoder(spec, compression, body));
  }

  get rows(): number {
    return this.rowCount;
  }

  /** Adds a row whose values have been checked against the columns (a missing value is a null). */
  add(row: Record<string, unknown>): void {
    const { specs, columns } = this;
    for (let i = 0; i < specs.length; i++) columns[i]!.add(row[specs[i]!.name]);
    this.rowCount++;
  }

  /** Ends the row group, whose column chunks start at `fileOffset` in the file, and starts the next. */
  finish(fileOffset: number): EncodedRowGroup {
    const buffers: Buffer[] = [];
    const chunks: ThriftStruct[] = [];
    let offset = fileOffset;
    let totalUncompressed = 0;
    for (const column of this.columns) {
      const done = column.finish(offset);
      buffers.push(...done.pages);
      chunks.push(done.chunk);
      offset += done.size;
      totalUncompressed += done.uncompressed;
    }
    const metadata = struct('RowGroup', { columns: chunks, total_byte_size: totalUncompressed, num_rows: this.rowCount });
    this.rowCount = 0;
    return { buffers, byteLength: offset - fileOffset, metadata };
  }
}

function schemaElement(column: ColumnSpec): ThriftStruct {
  const args: Record<string, unknown> = {
    name: column.name,
    type: thrift.Type[PHYSICAL[column.kind]],
    repetition_type: thrift.FieldRepetitionType[column.nullable ? 'OPTIONAL' : 'REQUIRED'],
  };
  switch (column.kind) {
    case 'string':
    case 'json':
      args.converted_type = thrift.ConvertedType.UTF8;
      args.logicalType = struct('LogicalType', { STRING: struct('StringType', {}) });
      break;
    case 'timestamp':
      // The LogicalType makes readers (DuckDB) see TIMESTAMP WITH TIME ZONE, which is what the values are.
      args.converted_type = thrift.ConvertedType.TIMESTAMP_MICROS;
      args.logicalType = struct('LogicalType', {
        TIMESTAMP: struct('TimestampType', { isAdjustedToUTC: true, unit: struct('TimeUnit', { MICROS: struct('MicroSeconds', {}) }) }),
      });
      break;
    case 'date':
      args.converted_type = thrift.ConvertedType.DATE;
      args.logicalType = struct('LogicalType', { DATE: struct('DateType', {}) });
      break;
    default:
      break;
  }
  return struct('SchemaElement', args);
}

/** The footer: Thrift FileMetaData, its length, and the closing magic. */
export function encodeFooter(specs: readonly ColumnSpec[], rowGroups: readonly ThriftStruct[], rowCount: number, createdBy: string): Buffer {
  const schema = [struct('SchemaElement', { name: 'root', num_children: specs.length }), ...specs.map(schemaElement)];
  const metadata = serializeThrift(
    struct('FileMetaData', { version: 1, schema, num_rows: rowCount, row_groups: [...rowGroups], key_value_metadata: [], created_by: createdBy }),
  );
  const tail = Buffer.allocUnsafe(8);
  tail.writeUInt32LE(metadata.length, 0);
  PARQUET_MAGIC.copy(tail, 4);
  return Buffer.concat([metadata, tail]);
}
