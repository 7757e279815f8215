// Baseline (b): DuckDB converts the same JSONL (its RECORD lines, data flattened to typed columns) to Parquet.
// Usage: node bench/baseline-duckdb.mjs <file.jsonl> <out.parquet>   → prints {"rows":…} on stdout.
import { DuckDBInstance } from '@duckdb/node-api';

const [input, output] = process.argv.slice(2);
const quote = (s) => `'${s.replace(/'/g, "''")}'`;
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
try {
  await connection.run(
    `COPY (
       SELECT unnest(record.data), record.emitted_at AS emitted_at
       FROM read_ndjson_auto(${quote(input)}, maximum_object_size = 16777216)
       WHERE type = 'RECORD'
     ) TO ${quote(output)} (FORMAT parquet, COMPRESSION snappy)`,
  );
  const reader = await connection.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet(${quote(output)})`);
  const rows = Number(reader.getRowObjectsJS()[0].n);
  process.stdout.write(JSON.stringify({ rows }) + '\n');
} finally {
  connection.closeSync();
  instance.closeSync();
}
