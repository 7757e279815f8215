import type { ColumnKind } from './arrow-schema.js';
import { compressPage, type Compression } from './parquet-compression.js';
import {
  Codec,
  ConvertedType,
  Encoding,
  fileMetaData,
  pageHeader,
  PhysicalType,
  Repetition,
  type ColumnChunk,
  type RowGroup,
  type SchemaElement,
  type Statistics,
} from './parquet-thrift.js';
import { TextBounds } from './parquet-statistics.js';

/*
 * A columnar Parquet encoder: one row group at a time, each value encoded into its column's current PLAIN
 * page as its row is added, pages with RLE/bit-packed definition levels (v1 data pages, the most widely
 * readable form) compressed as they fill.
 *
 * parquetjs-lite's own writer shreds every row into per-column arrays through generic, nested-schema code and
 * keeps a Set of every distinct value for statistics; at 10k-row groups of ~1 KB texts that was a quarter of
 * the connector's CPU. Our schemas are flat (every column is a leaf, optional or required), so shredding is
 * a write per column into that column's page buffer. The Thrift structures (page headers, column metadata,
 * footer) are our own (parquet-thrift.ts); the codecs are in parquet-compression.ts.
 */

export type { Compression } from './parquet-compression.js';

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  nullable: boolean;
}

const PHYSICAL: Record<ColumnKind, number> = {
  string: PhysicalType.BYTE_ARRAY,
  json: PhysicalType.BYTE_ARRAY,
  integer: PhysicalType.INT64,
  number: PhysicalType.DOUBLE,
  boolean: PhysicalType.BOOLEAN,
  timestamp: PhysicalType.INT64,
  date: PhysicalType.INT32,
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
  private readonly text = new TextBounds();
  /** Booleans seen in the chunk: bit 0 a false, bit 1 a true. */
  private truths = 0;
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
        this.text.see(sink.buf, sink.length + 4, sink.length + 4 + n);
        sink.length += 4 + n;
      } else if (kind === 'boolean') {
        const bit = this.booleans++;
        if ((bit & 7) === 0) {
          sink.reserve(1);
          sink.buf[sink.length++] = 0;
        }
        if (v) sink.buf[sink.length - 1]! |= 1 << (bit & 7);
        this.truths |= v ? 2 : 1;
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
    const compressed = compressPage(this.compression, raw);
    const header = pageHeader({
      uncompressedSize: raw.length,
      compressedSize: compressed.length,
      numValues: count,
      nullCount: nulls,
    });
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
  finish(offset: number): { pages: Buffer[]; size: number; uncompressed: number; chunk: ColumnChunk } {
    this.sealPage();
    const c = this.column;
    const chunk: ColumnChunk = {
      type: PHYSICAL[c.kind],
      encodings: c.nullable ? [Encoding.PLAIN, Encoding.RLE] : [Encoding.PLAIN],
      path: c.name,
      codec: Codec[this.compression],
      numValues: this.count,
      totalUncompressedSize: this.uncompressed,
      totalCompressedSize: this.size,
      dataPageOffset: offset,
      statistics: this.statistics(),
    };
    const done = { pages: this.pages, size: this.size, uncompressed: this.uncompressed, chunk };
    this.pages = [];
    this.size = this.uncompressed = this.count = this.nulls = 0;
    return done;
  }

  /** The chunk's statistics: null count, and min/max in the column's type-defined order (then resets them). */
  private statistics(): Statistics {
    const kind = this.column.kind;
    const stats: Statistics = { nullCount: this.nulls };
    const text = this.text.take();
    const { truths, range } = this;
    this.truths = 0;
    this.range = undefined;
    if (text) return { ...stats, minValue: text.min, maxValue: text.max };
    if (truths !== 0) {
      // false < true; PLAIN for a single boolean is one byte.
      return {
        ...stats,
        minValue: Buffer.of(truths & 1 ? 0 : 1),
        maxValue: Buffer.of(truths & 2 ? 1 : 0),
        legacy: true,
      };
    }
    if (!range) return stats;
    let { min, max } = range;
    // Spec: a zero minimum is written as -0.0 and a zero maximum as +0.0.
    if (kind === 'number') {
      if (min === 0) min = -0;
      if (max === 0) max = 0;
    }
    // Signed numbers order the same way in the deprecated min/max, which old readers still read.
    return { ...stats, minValue: plainBytes(kind, min), maxValue: plainBytes(kind, max), legacy: true };
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
  /** Its RowGroup for the footer. */
  metadata: RowGroup;
}

/** A row group being filled, a row at a time, column chunk by column chunk (see ColumnChunkEncoder). */
export class RowGroupEncoder {
  private readonly columns: ColumnChunkEncoder[];
  private rowCount = 0;

  constructor(
    private readonly specs: readonly ColumnSpec[],
    compression: Compression,
  ) {
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
    const chunks: ColumnChunk[] = [];
    let offset = fileOffset;
    let totalUncompressed = 0;
    for (const column of this.columns) {
      const done = column.finish(offset);
      buffers.push(...done.pages);
      chunks.push(done.chunk);
      offset += done.size;
      totalUncompressed += done.uncompressed;
    }
    const metadata: RowGroup = { columns: chunks, totalByteSize: totalUncompressed, numRows: this.rowCount };
    this.rowCount = 0;
    return { buffers, byteLength: offset - fileOffset, metadata };
  }
}

function schemaElement(column: ColumnSpec): SchemaElement {
  const element: SchemaElement = {
    name: column.name,
    type: PHYSICAL[column.kind],
    repetition: column.nullable ? Repetition.OPTIONAL : Repetition.REQUIRED,
  };
  switch (column.kind) {
    case 'string':
    case 'json':
      return { ...element, convertedType: ConvertedType.UTF8, logicalType: 'STRING' };
    case 'timestamp':
      // The LogicalType makes readers (DuckDB) see TIMESTAMP WITH TIME ZONE, which is what the values are.
      return { ...element, convertedType: ConvertedType.TIMESTAMP_MICROS, logicalType: 'TIMESTAMP_MICROS_UTC' };
    case 'date':
      return { ...element, convertedType: ConvertedType.DATE, logicalType: 'DATE' };
    default:
      return element;
  }
}

/** The footer: FileMetaData (with TYPE_ORDER column orders), its length, and the closing magic. */
export function encodeFooter(
  specs: readonly ColumnSpec[],
  rowGroups: readonly RowGroup[],
  rowCount: number,
  createdBy: string,
): Buffer {
  const schema: SchemaElement[] = [{ name: 'root', numChildren: specs.length }, ...specs.map(schemaElement)];
  const metadata = fileMetaData({ schema, numRows: rowCount, rowGroups, createdBy });
  const tail = Buffer.allocUnsafe(8);
  tail.writeUInt32LE(metadata.length, 0);
  PARQUET_MAGIC.copy(tail, 4);
  return Buffer.concat([metadata, tail]);
}
