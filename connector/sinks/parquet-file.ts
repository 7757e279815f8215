import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Schema } from 'apache-arrow';
import parquet, { type FieldDefinition, type ParquetSchema, type ParquetWriter } from 'parquetjs-lite';
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

export interface ParquetOptions {
  rowGroupSize: number;
  compression: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
}

export const DEFAULT_PARQUET_OPTIONS: ParquetOptions = { rowGroupSize: 10_000, compression: 'SNAPPY' };

/** Derives the Parquet schema from the Arrow schema, so both always agree on names, types and nullability. */
export function parquetSchemaFor(schema: Schema, options: ParquetOptions): ParquetSchema {
  const fields: Record<string, FieldDefinition> = {};
  for (const f of schema.fields) {
    fields[f.name] = { type: PARQUET_TYPE[columnKind(f)], optional: f.nullable, compression: options.compression };
  }
  return new parquet.ParquetSchema(fields);
}

/**
 * A Parquet file that only becomes visible when complete: rows go to a hidden temp file in the same
 * directory, which is fsync'd and renamed into place on commit(). A crash leaves at most a `.tmp` file,
 * which readers globbing `*.parquet` never see.
 */
export class AtomicParquetFile {
  private constructor(
    private readonly writer: ParquetWriter,
    private readonly tempPath: string,
    readonly finalPath: string,
  ) {}

  static async create(finalPath: string, schema: Schema, options: ParquetOptions): Promise<AtomicParquetFile> {
    const tempPath = join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}.tmp`);
    const writer = await parquet.ParquetWriter.openFile(parquetSchemaFor(schema, options), tempPath, {
      rowGroupSize: options.rowGroupSize,
      // v1 data pages: the most widely readable form (older Spark/Hive readers lack v2 support).
      useDataPageV2: false,
    });
    return new AtomicParquetFile(writer, tempPath, finalPath);
  }

  /** Null-valued columns are left out of the row object: that is how parquetjs marks an optional column null. */
  append(row: Record<string, unknown>): Promise<void> {
    return this.writer.appendRow(row);
  }

  async commit(): Promise<void> {
    await this.writer.close();
    const handle = await open(this.tempPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(this.tempPath, this.finalPath);
    await syncDirectory(dirname(this.finalPath));
  }

  async abort(): Promise<void> {
    await this.writer.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
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
