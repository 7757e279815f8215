/*
 * The Parquet metadata structures the encoder writes (page headers, column chunks, row groups, the footer),
 * serialised in Thrift's compact protocol, as parquet.thrift defines them.
 *
 * These used to come from parquetjs-lite's private files (gen-nodejs/parquet_types.js, lib/util.js), which any
 * release could move or change, breaking the connector at run time. We write a dozen structs, all flat or
 * shallow, and only ever write them, so owning them is ~150 lines with no runtime dependency: the field ids
 * and enum values below are parquet.thrift's, and the interop tests read every file back with DuckDB,
 * arrow-rs (parquet-wasm) and hyparquet, each with its own Thrift decoder.
 */

/** parquet.thrift `Type`. */
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
/** parquet.thrift `ConvertedType` (the legacy annotation, still read by old readers). */
export const ConvertedType = { UTF8: 0, DATE: 6, TIMESTAMP_MICROS: 10 } as const;
export const Repetition = { REQUIRED: 0, OPTIONAL: 1 } as const;
export const Encoding = { PLAIN: 0, RLE: 3 } as const;
export const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, ZSTD: 6 } as const;
const DATA_PAGE = 0;

/** parquet.thrift `LogicalType` (a union: exactly one member). */
export type LogicalType = 'STRING' | 'DATE' | 'TIMESTAMP_MICROS_UTC';

export interface SchemaElement {
  name: string;
  type?: number;
  repetition?: number;
  numChildren?: number;
  convertedType?: number;
  logicalType?: LogicalType;
}

export interface Statistics {
  nullCount: number;
  /** PLAIN-encoded bounds in the column's type-defined order (min_value/max_value). */
  minValue?: Buffer;
  maxValue?: Buffer;
  /** Also write them as the deprecated min/max (signed order), for readers that predate min_value/max_value. */
  legacy?: boolean;
}

export interface ColumnChunk {
  type: number;
  encodings: number[];
  path: string;
  codec: number;
  numValues: number;
  totalUncompressedSize: number;
  totalCompressedSize: number;
  dataPageOffset: number;
  statistics: Statistics;
}

export interface RowGroup {
  columns: ColumnChunk[];
  totalByteSize: number;
  numRows: number;
}

// Compact protocol element types.
const T_TRUE = 1;
const T_FALSE = 2;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** A compact-protocol writer: fields are written in increasing id order inside struct(). */
class CompactWriter {
  private buf = Buffer.allocUnsafe(256);
  private length = 0;
  private lastId = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + extra));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  /** Unsigned LEB128 of a non-negative safe integer or bigint. */
  private varint(v: number | bigint): void {
    if (typeof v === 'number' && v < 2 ** 31) {
      while (v > 0x7f) {
        this.byte((v & 0x7f) | 0x80);
        v >>>= 7;
      }
      this.byte(v);
      return;
    }
    let n = BigInt(v);
    while (n > 0x7fn) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.byte(Number(n));
  }

  private zigzag(v: number | bigint): void {
    if (typeof v === 'number' && v >= -(2 ** 29) && v < 2 ** 29) {
      this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
      return;
    }
    const n = BigInt(v);
    this.varint(n >= 0n ? n << 1n : (-n << 1n) - 1n);
  }

  private header(id: number, type: number): void {
    const delta = id - this.lastId;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastId = id;
  }

  i32(id: number, v: number | undefined): this {
    if (v !== undefined) {
      this.header(id, T_I32);
      this.zigzag(v);
    }
    return this;
  }

  i64(id: number, v: number | bigint | undefined): this {
    if (v !== undefined) {
      this.header(id, T_I64);
      this.zigzag(v);
    }
    return this;
  }

  bool(id: number, v: boolean): this {
    this.header(id, v ? T_TRUE : T_FALSE);
    return this;
  }

  binary(id: number, v: Buffer | string | undefined): this {
    if (v === undefined) return this;
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.header(id, T_BINARY);
    this.varint(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
    return this;
  }

  /** A nested struct (or union member): `body` writes its fields; field ids restart inside it. */
  struct(id: number, body: (w: this) => void): this {
    this.header(id, T_STRUCT);
    this.nested(body);
    return this;
  }

  private nested(body: (w: this) => void): void {
    const outer = this.lastId;
    this.lastId = 0;
    body(this);
    this.byte(0); // stop
    this.lastId = outer;
  }

  private listHeader(id: number, type: number, size: number): void {
    this.header(id, T_LIST);
    if (size < 15) this.byte((size << 4) | type);
    else {
      this.byte(0xf0 | type);
      this.varint(size);
    }
  }

  i32List(id: number, items: readonly number[]): this {
    this.listHeader(id, T_I32, items.length);
    for (const v of items) this.zigzag(v);
    return this;
  }

  stringList(id: number, items: readonly string[]): this {
    this.listHeader(id, T_BINARY, items.length);
    for (const v of items) {
      const bytes = Buffer.from(v, 'utf8');
      this.varint(bytes.length);
      this.reserve(bytes.length);
      bytes.copy(this.buf, this.length);
      this.length += bytes.length;
    }
    return this;
  }

  structList<T>(id: number, items: readonly T[], body: (w: this, item: T) => void): this {
    this.listHeader(id, T_STRUCT, items.length);
    for (const item of items) this.nested((w) => body(w, item));
    return this;
  }

  /** The bytes of a top-level struct whose fields `body` writes. */
  static serialize(body: (w: CompactWriter) => void): Buffer {
    const w = new CompactWriter();
    w.nested(body);
    return Buffer.from(w.buf.subarray(0, w.length));
  }
}

const empty = (): void => undefined;

function writeStatistics(w: CompactWriter, s: Statistics): void {
  if (s.legacy) w.binary(1, s.maxValue).binary(2, s.minValue);
  w.i64(3, s.nullCount).binary(5, s.maxValue).binary(6, s.minValue);
}

/** A v1 data page's header, with the page's null count as its statistics. */
export function pageHeader(p: {
  uncompressedSize: number;
  compressedSize: number;
  numValues: number;
  nullCount: number;
}): Buffer {
  return CompactWriter.serialize((w) =>
    w
      .i32(1, DATA_PAGE)
      .i32(2, p.uncompressedSize)
      .i32(3, p.compressedSize)
      .struct(5, (h) =>
        h
          .i32(1, p.numValues)
          .i32(2, Encoding.PLAIN)
          .i32(3, Encoding.RLE)
          .i32(4, Encoding.RLE)
          .struct(5, (s) => writeStatistics(s, { nullCount: p.nullCount })),
      ),
  );
}

function writeLogicalType(w: CompactWriter, t: LogicalType): void {
  if (t === 'STRING') w.struct(1, empty);
  else if (t === 'DATE') w.struct(6, empty);
  // TimestampType { 1: isAdjustedToUTC, 2: unit = TimeUnit { 2: MICROS } }
  else w.struct(8, (ts) => ts.bool(1, true).struct(2, (u) => u.struct(2, empty)));
}

function writeSchemaElement(w: CompactWriter, e: SchemaElement): void {
  w.i32(1, e.type).i32(3, e.repetition).binary(4, e.name).i32(5, e.numChildren).i32(6, e.convertedType);
  if (e.logicalType) w.struct(10, (l) => writeLogicalType(l, e.logicalType!));
}

function writeColumnChunk(w: CompactWriter, c: ColumnChunk): void {
  w.i64(2, c.dataPageOffset).struct(3, (m) =>
    m
      .i32(1, c.type)
      .i32List(2, c.encodings)
      .stringList(3, [c.path])
      .i32(4, c.codec)
      .i64(5, c.numValues)
      .i64(6, c.totalUncompressedSize)
      .i64(7, c.totalCompressedSize)
      .i64(9, c.dataPageOffset)
      .struct(12, (s) => writeStatistics(s, c.statistics)),
  );
}

/**
 * The footer's FileMetaData. column_orders says TYPE_ORDER for every leaf column: the spec requires it
 * whenever min_value/max_value are written, and a reader may ignore those statistics without it.
 */
export function fileMetaData(f: {
  schema: SchemaElement[];
  numRows: number;
  rowGroups: readonly RowGroup[];
  createdBy: string;
}): Buffer {
  const leaves = f.schema.length - 1;
  return CompactWriter.serialize((w) =>
    w
      .i32(1, 1)
      .structList(2, f.schema, writeSchemaElement)
      .i64(3, f.numRows)
      .structList(4, f.rowGroups, (g, rg) =>
        g.structList(1, rg.columns, writeColumnChunk).i64(2, rg.totalByteSize).i64(3, rg.numRows),
      )
      .binary(6, f.createdBy)
      .structList(7, Array.from({ length: leaves }), (o) => o.struct(1, empty)),
  );
}
