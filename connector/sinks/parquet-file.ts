import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Schema } from 'apache-arrow';
import { configError, systemError } from '../common/errors.js';
import { fsyncPath } from '../common/durable.js';
import { assertSafeOutputDir } from './layout.js';
import { columnKind, type ColumnKind } from './arrow-schema.js';
import {
  encodeFooter,
  PARQUET_MAGIC,
  RowGroupEncoder,
  type ColumnSpec,
  type EncodedRowGroup,
} from './parquet-encoder.js';
import { COMPRESSIONS, prepareCompression, type Compression } from './parquet-compression.js';

export type ParquetCompression = Compression;
export const PARQUET_COMPRESSIONS: readonly ParquetCompression[] = COMPRESSIONS;

/*
 * Limits of the encoder (parquet-encoder.ts): compression is SNAPPY, ZSTD, GZIP or UNCOMPRESSED
 * (parquet-compression.ts); values are PLAIN-encoded (no dictionary pages); the row group size is counted in
 * rows and one row group's pages are held (compressed) until it is flushed; text min/max statistics are left
 * out of a chunk whose bounds pass 4 KiB.
 */
export interface ParquetOptions {
  /** Rows per row group (one row group's compressed pages are held in memory until it is written). */
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
/** A row group's pages are held until it is written; beyond this a row group of long Claude outputs could take gigabytes of memory. */
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
          '(the Parquet writer cannot produce LZO, BROTLI or LZ4)',
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
      throw configError(
        'CONFIG_INVALID',
        `max_file_size_mb must be a number greater than 0 (MiB), got ${JSON.stringify(mb)}`,
      );
    }
    options.maxBytesPerFile = Math.max(1, Math.round(mb * 1024 * 1024));
  }
  return options;
}

const isInt64 = (v: unknown) =>
  typeof v === 'bigint' ? v >= -(2n ** 63n) && v < 2n ** 63n : typeof v === 'number' && Number.isSafeInteger(v);
/** What each column kind's encoder accepts (coerce.ts produces exactly these). */
const FITS: Record<ColumnKind, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  json: (v) => typeof v === 'string',
  integer: isInt64,
  timestamp: isInt64,
  number: (v) => typeof v === 'number' && !Number.isNaN(v),
  boolean: (v) => typeof v === 'boolean',
  date: (v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 0x7fffffff,
};

/** The Parquet columns of an Arrow schema, so both always agree on names, types and nullability. */
export function parquetColumnsFor(schema: Schema): ColumnSpec[] {
  return schema.fields.map((f) => ({ name: f.name, kind: columnKind(f), nullable: f.nullable }));
}

const VALUE_BYTES: Record<ColumnKind, number> = {
  string: 4,
  json: 4,
  integer: 8,
  number: 8,
  timestamp: 8,
  date: 4,
  boolean: 1,
};

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
const CREATED_BY = 'destination-claude-batch (own parquet-encoder)';
/** `wx` plus O_NOFOLLOW: create a new file, never open an existing one or follow a link at its name. */
const EXCLUSIVE_CREATE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | NOFOLLOW;

/**
 * A Parquet file that only becomes visible when complete: rows go to a hidden temp file in the same
 * directory, which is fsync'd and renamed into place on commit(). A crash leaves at most a `.tmp` file,
 * which readers globbing `*.parquet` never see.
 */
export class AtomicParquetFile {
  private rowCount = 0;
  private byteCount = 0;
  private finished = false;
  /** The row group being filled, encoded as rows arrive. */
  private readonly group: RowGroupEncoder;
  private offset = PARQUET_MAGIC.length;
  private readonly rowGroups: EncodedRowGroup['metadata'][] = [];

  private constructor(
    private readonly handle: FileHandle,
    private readonly specs: ColumnSpec[],
    private readonly options: ParquetOptions,
    private readonly tempPath: string,
    readonly finalPath: string,
    private readonly sizeOf: ((row: Record<string, unknown>) => number) | undefined,
    private readonly publisher: Publisher | undefined,
  ) {
    this.group = new RowGroupEncoder(specs, options.compression);
  }

  /**
   * Opens the hidden temp file: only after checking that no folder between the destination and it is a
   * symlink, with exclusive create (`wx`, so an existing file or a planted link at that name is never
   * opened) plus O_NOFOLLOW, and mode 0o644 (data files are for readers).
   */
  static async create(
    finalPath: string,
    schema: Schema,
    options: ParquetOptions,
    publisher?: Publisher,
  ): Promise<AtomicParquetFile> {
    // With a publisher (an object store) the temp file is written in its local staging folder instead.
    const dir = publisher ? publisher.stagingDir : dirname(finalPath);
    await assertSafeOutputDir(dir);
    await prepareCompression(options.compression);
    const tempPath = join(dir, `.${basename(finalPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let handle: FileHandle;
    try {
      handle = await open(tempPath, EXCLUSIVE_CREATE, DATA_FILE_MODE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') {
        throw systemError(
          'OUTPUT_FILE_EXISTS',
          `cannot create ${tempPath}: something (${code === 'ELOOP' ? 'a symbolic link' : 'a file or link'}) is already there; refusing to write through it`,
          err,
        );
      }
      throw err;
    }
    try {
      await handle.write(PARQUET_MAGIC);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    const sizeOf = options.maxBytesPerFile !== undefined ? rowSizer(schema) : undefined;
    return new AtomicParquetFile(handle, parquetColumnsFor(schema), options, tempPath, finalPath, sizeOf, publisher);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Uncompressed bytes appended so far, as counted for `maxBytesPerFile` (0 without that limit). */
  get bytes(): number {
    return this.byteCount;
  }

  /**
   * Buffers a row (a missing or null value is a null). Returns a promise only when the row completed a row
   * group that is being written out: the caller awaits that, and the common case costs no microtask.
   */
  append(row: Record<string, unknown>, size = this.sizeOf?.(row) ?? 0): Promise<void> | undefined {
    if (this.finished) throw new Error(`cannot write a row to ${this.finalPath}: the file is finished`);
    const { specs } = this;
    // Checked before anything is encoded, so a refused row leaves the row group as it was.
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      const v = row[spec.name];
      if (v === undefined || v === null) {
        if (!spec.nullable)
          throw new Error(`cannot write a row to ${this.finalPath}: required column ${spec.name} has no value`);
      } else if (!FITS[spec.kind](v)) {
        throw new Error(
          `cannot write a row to ${this.finalPath}: column ${spec.name} (${spec.kind}) cannot hold a ${typeof v}`,
        );
      }
    }
    this.group.add(row);
    this.rowCount++;
    this.byteCount += size;
    return this.group.rows >= this.options.rowGroupSize ? this.flushRowGroup() : undefined;
  }

  private async flushRowGroup(): Promise<void> {
    if (this.group.rows === 0) return;
    const group = this.group.finish(this.offset);
    await this.handle.writev(group.buffers);
    this.offset += group.byteLength;
    this.rowGroups.push(group.metadata);
  }

  async commit(): Promise<void> {
    await this.finish();
    await this.publish();
  }

  /** Writes the last row group and the footer and fsyncs the temp file; the file is complete but still invisible. */
  async finish(): Promise<void> {
    if (this.finished) return;
    await this.flushRowGroup();
    await this.handle.write(encodeFooter(this.specs, this.rowGroups, this.rowCount, CREATED_BY));
    await this.handle.sync();
    await this.handle.close();
    this.finished = true;
  }

  /** Renames a finished temp file into place and makes the rename durable (or hands it to the publisher). */
  async publish(): Promise<void> {
    if (this.publisher) return this.publisher.publish(this.tempPath, this.finalPath);
    await rename(this.tempPath, this.finalPath);
    await fsyncPath(dirname(this.finalPath));
  }

  async abort(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      await this.handle.close().catch(() => undefined);
    }
    await rm(this.tempPath, { force: true });
  }
}

/**
 * Where finished files go when they do not go into a local folder (an object store, sinks/store-output.ts):
 * temp files are written in `stagingDir`, and `publish` makes one visible under its final name, whole or not
 * at all, consuming the temp file.
 */
export interface Publisher {
  stagingDir: string;
  publish(tempPath: string, finalPath: string): Promise<void>;
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
  private readonly sizeOf: ((row: Record<string, unknown>) => number) | undefined;

  private constructor(
    readonly basePath: string,
    private readonly schema: Schema,
    private readonly options: ParquetOptions,
    first: AtomicParquetFile,
    private readonly publisher: Publisher | undefined,
  ) {
    this.files.push(first);
    this.sizeOf = options.maxBytesPerFile !== undefined ? rowSizer(schema) : undefined;
  }

  static async create(
    basePath: string,
    schema: Schema,
    options: ParquetOptions,
    publisher?: Publisher,
  ): Promise<RollingParquetWriter> {
    if (options.maxRowsPerFile !== undefined) positiveInteger('maxRowsPerFile', options.maxRowsPerFile);
    if (options.maxBytesPerFile !== undefined) positiveInteger('maxBytesPerFile', options.maxBytesPerFile);
    return new RollingParquetWriter(
      basePath,
      schema,
      options,
      await AtomicParquetFile.create(basePath, schema, options, publisher),
      publisher,
    );
  }

  /** Rows appended across all files. */
  get rows(): number {
    return this.files.reduce((n, f) => n + f.rows, 0);
  }

  /** Final paths of the files this output has (or will have once committed), in order. */
  get paths(): string[] {
    return this.files.map((f) => f.finalPath);
  }

  /** Like AtomicParquetFile.append: a promise only when the caller has to wait (a row group or a file rolled). */
  append(row: Record<string, unknown>): Promise<void> | undefined {
    const current = this.files[this.files.length - 1]!;
    const { maxRowsPerFile, maxBytesPerFile } = this.options;
    const size = this.sizeOf?.(row) ?? 0;
    const full =
      current.rows > 0 &&
      ((maxRowsPerFile !== undefined && current.rows >= maxRowsPerFile) ||
        (maxBytesPerFile !== undefined && current.bytes + size > maxBytesPerFile));
    return full ? this.roll(row, size) : current.append(row, size);
  }

  private async roll(row: Record<string, unknown>, size: number): Promise<void> {
    await this.files[this.files.length - 1]!.finish();
    const next = await AtomicParquetFile.create(
      rolledPath(this.basePath, this.files.length),
      this.schema,
      this.options,
      this.publisher,
    );
    this.files.push(next);
    await next.append(row, size);
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
