import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, basename, join } from 'node:path';
import type { Schema } from 'apache-arrow';
import parquet, { type FieldDefinition, type ParquetSchema, type ParquetWriter, type WriterOptions } from 'parquetjs-lite';
import { configError, systemError } from '../errors.js';
import { assertSafeOutputDir } from './layout.js';
import { columnKind, type ColumnKind } from './arrow-schema.js';

const PARQUET_TYPE: Record<ColumnKind, string> = {
  string: 'UTF8',
  json: 'UTF8',
  integer: 'INT64',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP_MICROS',
  date: 'DATE',
};

/*
 * parquetjs-lite 0.8.7 limits, and the narrow extensions installed below.
 *
 * The encoders can write every value we need (INT64 goes through `writeBigInt64LE`, DATE through
 * `writeInt32LE`, both signed), but the per-type `toPrimitive` checks in lib/types.js get in the way:
 *  - INT64 runs every value through `parseInt(value, 10)`, so a bigint above 2^53 (9007199254740993n) comes
 *    out rounded (9007199254740992) before it is encoded;
 *  - TIMESTAMP_MICROS throws for a negative bigint, i.e. any instant before 1970-01-01 (only a `Date` gets
 *    through, and that has millisecond precision);
 *  - DATE throws for a negative day number, i.e. any date before 1970-01-01 (again only a `Date` passes).
 * The extensions only change what those three accept, and only for the input kinds the stock code mishandles:
 * a bigint is written exactly to INT64 and TIMESTAMP_MICROS whatever its sign, and an integer day number may be
 * negative for DATE. Every other input goes to the stock function unchanged.
 *
 * The writer also emits only the legacy ConvertedType. The Parquet spec defines TIMESTAMP_MICROS as
 * TIMESTAMP(isAdjustedToUTC=true, MICROS), but without the LogicalType some readers (DuckDB) treat the column as a
 * naive TIMESTAMP; so a TIMESTAMP_MICROS schema element also gets that LogicalType written, making DuckDB read it as
 * TIMESTAMP WITH TIME ZONE — what the Arrow schema (Timestamp µs, 'UTC') says it is.
 *
 * Other limits (not changed here): compression is UNCOMPRESSED, GZIP or SNAPPY (LZO and BROTLI throw "Not
 * Supported in Lite version"; ZSTD and LZ4 are unknown); the row group size and the page size (default 8192) are
 * counted in rows, not bytes, and a whole row group is buffered in memory until it is flushed; DOUBLE refuses NaN;
 * page sizes are Thrift i32, so one page holds at most 2 GiB; errors are thrown as strings, not Errors.
 */
interface LogicalTypeDef {
  toPrimitive: (value: unknown) => unknown;
}
interface ThriftCtor {
  new (args?: Record<string, unknown>): Record<string, unknown>;
  prototype: { write: (this: Record<string, unknown>, output: unknown) => unknown };
}
const EXTENDED = Symbol.for('destination-claude-batch.parquetjs-lite-extensions');

function installParquetExtensions(): void {
  const require = createRequire(import.meta.url);
  const types = (require('parquetjs-lite/lib/types.js') as { PARQUET_LOGICAL_TYPES?: Record<string, LogicalTypeDef> }).PARQUET_LOGICAL_TYPES;
  const thrift = require('parquetjs-lite/gen-nodejs/parquet_types.js') as Record<string, unknown>;
  const registry = types as (Record<string, LogicalTypeDef> & { [EXTENDED]?: true }) | undefined;
  if (registry?.[EXTENDED]) return;
  const [int64, timestamp, date] = [types?.INT64, types?.TIMESTAMP_MICROS, types?.DATE];
  const element = thrift.SchemaElement as ThriftCtor | undefined;
  const converted = thrift.ConvertedType as Record<string, number> | undefined;
  const [Logical, Timestamp, Unit, Micros] = (['LogicalType', 'TimestampType', 'TimeUnit', 'MicroSeconds'] as const).map(
    (name) => thrift[name] as ThriftCtor | undefined,
  );
  if (!registry || !int64 || !timestamp || !date || !element || !converted || !Logical || !Timestamp || !Unit || !Micros) {
    throw new Error('parquetjs-lite internals are not the expected 0.8.x layout; cannot write exact INT64 and pre-1970 dates');
  }

  const stock = { int64: int64.toPrimitive, timestamp: timestamp.toPrimitive, date: date.toPrimitive };
  int64.toPrimitive = (v) => (typeof v === 'bigint' ? v : stock.int64(v));
  timestamp.toPrimitive = (v) => (typeof v === 'bigint' ? v : stock.timestamp(v));
  date.toPrimitive = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) <= 0x7fffffff ? v : stock.date(v));

  const timestampMicros = converted.TIMESTAMP_MICROS;
  const write = element.prototype.write;
  element.prototype.write = function (output) {
    if (this.converted_type === timestampMicros && (this.logicalType === null || this.logicalType === undefined)) {
      this.logicalType = new Logical({
        TIMESTAMP: new Timestamp({ isAdjustedToUTC: true, unit: new Unit({ MICROS: new Micros() }) }),
      });
    }
    return write.call(this, output);
  };
  registry[EXTENDED] = true;
}
installParquetExtensions();

export type ParquetCompression = 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
export const PARQUET_COMPRESSIONS: readonly ParquetCompression[] = ['SNAPPY', 'GZIP', 'UNCOMPRESSED'];

export interface ParquetOptions {
  /** Rows per row group (parquetjs-lite buffers one row group in memory). */
  rowGroupSize: number;
  compression: ParquetCompression;
  /** RollingParquetWriter: start a new file once a file holds this many rows. Unset: no limit. */
  maxRowsPerFile?: number;
  /**
   * RollingParquetWriter: start a new file before a file's rows would pass this many bytes, counted uncompressed
   * (UTF-8 length of text, 8 bytes per integer, number and timestamp, 4 per date, 1 per boolean), so the file on
   * disk is usually smaller. A single row larger than the limit still gets written, alone in its file. Unset: no limit.
   */
  maxBytesPerFile?: number;
}

export const DEFAULT_ROW_GROUP_SIZE = 10_000;
/** Rows are buffered per row group; beyond this a row group of long Claude outputs could take gigabytes of memory. */
export const MAX_ROW_GROUP_SIZE = 1_000_000;
export const DEFAULT_PARQUET_OPTIONS: ParquetOptions = { rowGroupSize: DEFAULT_ROW_GROUP_SIZE, compression: 'SNAPPY' };

function positiveInteger(field: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw configError('CONFIG_INVALID', `${field} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Validates the Parquet settings of the connector config and maps them to ParquetOptions. Absent (or null)
 * fields take their defaults: SNAPPY, 10,000 rows per row group, no file rolling. Throws a config error naming
 * the field for an invalid value.
 */
export function parquetOptionsFrom(config: {
  compression?: unknown;
  row_group_size?: unknown;
  max_rows_per_file?: unknown;
  max_file_size_mb?: unknown;
}): ParquetOptions {
  const options: ParquetOptions = { ...DEFAULT_PARQUET_OPTIONS };
  if (config.compression !== undefined && config.compression !== null) {
    const name = typeof config.compression === 'string' ? config.compression.trim().toUpperCase() : '';
    if (!(PARQUET_COMPRESSIONS as readonly string[]).includes(name)) {
      throw configError(
        'CONFIG_INVALID',
        `compression must be one of ${PARQUET_COMPRESSIONS.join(', ')}, got ${JSON.stringify(config.compression)} ` +
          '(the Parquet writer cannot produce LZO, BROTLI, LZ4 or ZSTD)',
      );
    }
    options.compression = name as ParquetCompression;
  }
  if (config.row_group_size !== undefined && config.row_group_size !== null) {
    options.rowGroupSize = positiveInteger('row_group_size', config.row_group_size, MAX_ROW_GROUP_SIZE);
  }
  if (config.max_rows_per_file !== undefined && config.max_rows_per_file !== null) {
    options.maxRowsPerFile = positiveInteger('max_rows_per_file', config.max_rows_per_file);
  }
  if (config.max_file_size_mb !== undefined && config.max_file_size_mb !== null) {
    const mb = config.max_file_size_mb;
    if (typeof mb !== 'number' || !Number.isFinite(mb) || mb <= 0 || mb > 1024 * 1024) {
      throw configError('CONFIG_INVALID', `max_file_size_mb must be a number greater than 0 (MiB), got ${JSON.stringify(mb)}`);
    }
    options.maxBytesPerFile = Math.max(1, Math.round(mb * 1024 * 1024));
  }
  return options;
}

/** Derives the Parquet schema from the Arrow schema, so both always agree on names, types and nullability. */
export function parquetSchemaFor(schema: Schema, options: ParquetOptions): ParquetSchema {
  const fields: Record<string, FieldDefinition> = {};
  for (const f of schema.fields) {
    fields[f.name] = { type: PARQUET_TYPE[columnKind(f)], optional: f.nullable, compression: options.compression };
  }
  return new parquet.ParquetSchema(fields);
}

const VALUE_BYTES: Record<ColumnKind, number> = { string: 4, json: 4, integer: 8, number: 8, timestamp: 8, date: 4, boolean: 1 };

/** The uncompressed size of a row as counted against `maxBytesPerFile`. */
function rowSizer(schema: Schema): (row: Record<string, unknown>) => number {
  const columns = schema.fields.map((f) => [f.name, columnKind(f)] as const);
  return (row) => {
    let bytes = 0;
    for (const [name, kind] of columns) {
      const v = row[name];
      if (v === undefined || v === null) continue;
      bytes += VALUE_BYTES[kind] + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
    }
    return bytes;
  };
}

/** Data files are for readers of the destination; the connector's control files stay 0o600. */
export const DATA_FILE_MODE = 0o644;
const NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;
/** `wx` plus O_NOFOLLOW: create a new file, never open an existing one or follow a link at its name. */
const EXCLUSIVE_CREATE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | NOFOLLOW;
const READ_NOFOLLOW = fsConstants.O_RDONLY | NOFOLLOW;

/**
 * A Parquet file that only becomes visible when complete: rows go to a hidden temp file in the same
 * directory, which is fsync'd and renamed into place on commit(). A crash leaves at most a `.tmp` file,
 * which readers globbing `*.parquet` never see.
 */
export class AtomicParquetFile {
  private rowCount = 0;
  private byteCount = 0;
  private finished = false;

  private constructor(
    private readonly writer: ParquetWriter,
    private readonly tempPath: string,
    readonly finalPath: string,
    private readonly sizeOf: (row: Record<string, unknown>) => number,
  ) {}

  /**
   * Opens the hidden temp file: only after checking that no folder between the destination and it is a
   * symlink, with exclusive create (`wx`, so an existing file or a planted link at that name is never
   * opened) plus O_NOFOLLOW, and mode 0o644 (data files are for readers).
   */
  static async create(finalPath: string, schema: Schema, options: ParquetOptions): Promise<AtomicParquetFile> {
    const dir = dirname(finalPath);
    await assertSafeOutputDir(dir);
    const tempPath = join(dir, `.${basename(finalPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const writerOptions: WriterOptions & { flags: number; mode: number } = {
      rowGroupSize: options.rowGroupSize,
      // v1 data pages: the most widely readable form (older Spark/Hive readers lack v2 support).
      useDataPageV2: false,
      // Passed through to fs.createWriteStream by parquetjs-lite's openFile.
      flags: EXCLUSIVE_CREATE,
      mode: DATA_FILE_MODE,
    };
    let writer: ParquetWriter;
    try {
      writer = await parquet.ParquetWriter.openFile(parquetSchemaFor(schema, options), tempPath, writerOptions);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') {
        throw systemError('OUTPUT_FILE_EXISTS', `cannot create ${tempPath}: something (${code === 'ELOOP' ? 'a symbolic link' : 'a file or link'}) is already there; refusing to write through it`, err);
      }
      throw err;
    }
    return new AtomicParquetFile(writer, tempPath, finalPath, rowSizer(schema));
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Uncompressed bytes appended so far, as counted for `maxBytesPerFile`. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Null-valued columns are left out of the row object: that is how parquetjs marks an optional column null. */
  async append(row: Record<string, unknown>): Promise<void> {
    try {
      await this.writer.appendRow(row);
    } catch (err) {
      // parquetjs-lite throws strings; a rejected row leaves the writer's buffer untouched.
      throw err instanceof Error ? err : new Error(`cannot write a row to ${this.finalPath}: ${String(err)}`);
    }
    this.rowCount++;
    this.byteCount += this.sizeOf(row);
  }

  async commit(): Promise<void> {
    await this.finish();
    await this.publish();
  }

  /** Writes the footer and fsyncs the temp file; the file is complete but still invisible. */
  async finish(): Promise<void> {
    if (this.finished) return;
    await this.writer.close();
    this.finished = true;
    const handle = await open(this.tempPath, READ_NOFOLLOW);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Renames a finished temp file into place and makes the rename durable. */
  async publish(): Promise<void> {
    await rename(this.tempPath, this.finalPath);
    await syncDirectory(dirname(this.finalPath));
  }

  async abort(): Promise<void> {
    if (!this.finished) await this.writer.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }
}

/** `part-00007.parquet` → `part-00007-<n>.parquet` for the n-th extra file of a rolled output (n ≥ 1). */
export function rolledPath(basePath: string, n: number): string {
  if (n === 0) return basePath;
  return basePath.endsWith('.parquet') ? `${basePath.slice(0, -'.parquet'.length)}-${n}.parquet` : `${basePath}-${n}`;
}

/**
 * Writes one logical output (e.g. one stream's rows of one batch) as one or more Parquet files:
 * `part-<n>.parquet`, then `part-<n>-1.parquet`, `part-<n>-2.parquet`, … each time the current file reaches
 * `options.maxRowsPerFile` rows or the next row would take it past `options.maxBytesPerFile`. Without limits it
 * is exactly one AtomicParquetFile. A file is closed and fsync'd as soon as the next one starts (so only one
 * row group is ever buffered), but every file stays under its hidden temp name until commit(), which renames
 * them all into place in order: nothing of the output is visible before commit(), and abort() removes all of it.
 */
export class RollingParquetWriter {
  private readonly files: AtomicParquetFile[] = [];
  private readonly sizeOf: (row: Record<string, unknown>) => number;

  private constructor(
    readonly basePath: string,
    private readonly schema: Schema,
    private readonly options: ParquetOptions,
    first: AtomicParquetFile,
  ) {
    this.files.push(first);
    this.sizeOf = rowSizer(schema);
  }

  static async create(basePath: string, schema: Schema, options: ParquetOptions): Promise<RollingParquetWriter> {
    if (options.maxRowsPerFile !== undefined) positiveInteger('maxRowsPerFile', options.maxRowsPerFile);
    if (options.maxBytesPerFile !== undefined) positiveInteger('maxBytesPerFile', options.maxBytesPerFile);
    return new RollingParquetWriter(basePath, schema, options, await AtomicParquetFile.create(basePath, schema, options));
  }

  /** Rows appended across all files. */
  get rows(): number {
    return this.files.reduce((n, f) => n + f.rows, 0);
  }

  /** Final paths of the files this output has (or will have once committed), in order. */
  get paths(): string[] {
    return this.files.map((f) => f.finalPath);
  }

  async append(row: Record<string, unknown>): Promise<void> {
    let current = this.files[this.files.length - 1]!;
    const { maxRowsPerFile, maxBytesPerFile } = this.options;
    const full =
      current.rows > 0 &&
      ((maxRowsPerFile !== undefined && current.rows >= maxRowsPerFile) ||
        (maxBytesPerFile !== undefined && current.bytes + this.sizeOf(row) > maxBytesPerFile));
    if (full) {
      await current.finish();
      current = await AtomicParquetFile.create(rolledPath(this.basePath, this.files.length), this.schema, this.options);
      this.files.push(current);
    }
    await current.append(row);
  }

  /** Finishes the last file and makes every file visible; returns their final paths. */
  async commit(): Promise<string[]> {
    for (const f of this.files) await f.finish();
    for (const f of this.files) await f.publish();
    return this.paths;
  }

  async abort(): Promise<void> {
    await Promise.all(this.files.map((f) => f.abort()));
  }
}

/** fsync on the directory makes a rename durable across power loss, not just process death. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
