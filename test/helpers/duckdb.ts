import { DuckDBInstance } from '@duckdb/node-api';

/** Runs SQL in a fresh in-memory DuckDB: the independent reader the output is checked with. */
export async function duck(sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Column name → DuckDB type of a Parquet glob. */
export async function columnTypes(glob: string): Promise<Record<string, string>> {
  const rows = await duck(`DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning = true)`);
  return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.column_type)]));
}
