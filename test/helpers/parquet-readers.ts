// Independent Parquet readers the output is checked with, each giving rows in one comparable form (see canon):
// hyparquet (pure JavaScript, its own Thrift and page decoding), arrow-rs (Rust, through parquet-wasm, whose
// wasm ships inside the npm package) into apache-arrow, and DuckDB (C++).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { DataType, tableFromIPC, type Vector } from 'apache-arrow';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';
import { DuckDBInstance } from '@duckdb/node-api';

export type Row = Record<string, unknown>;

// parquet-wasm's Node build (CommonJS, wasm loaded from its own folder: no network).
const parquetWasm = createRequire(import.meta.url)('parquet-wasm/node') as {
  readParquet(bytes: Uint8Array): { intoIPCStream(): Uint8Array };
};

/**
 * One form for a cell whatever reader it came from: null for null; 64-bit integers and timestamps (µs since
 * the epoch) as decimal strings; dates as days since the epoch; doubles as numbers with -0 as 0 (whether a
 * reader hands -0 back is its own choice); text and booleans as they are.
 */
export function canon(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Object.is(v, -0)) return 0;
  return v;
}

const canonRow = (row: Row): Row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, canon(v)]));

async function bytesOf(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

const RAW_TIME = { timestampFromMicroseconds: (us: bigint) => us, dateFromDays: (days: number) => days };

/** hyparquet, with timestamps and dates as their raw numbers (its default turns them into ms-precision Dates). */
export async function readHyparquet(path: string): Promise<Row[]> {
  const bytes = await bytesOf(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({
    file,
    compressors,
    parsers: RAW_TIME,
  })) as Row[];
  return rows.map(canonRow);
}

/** A column's cells; timestamps and dates from the raw buffers, since Arrow JS's get() gives lossy ms numbers. */
function arrowCells(vector: Vector): unknown[] {
  const raw = DataType.isTimestamp(vector.type) || DataType.isDate(vector.type);
  const out: unknown[] = [];
  let at = 0;
  for (const data of vector.data) {
    for (let i = 0; i < data.length; i++, at++) {
      if (!data.getValid(i)) out.push(null);
      else out.push(raw ? (data.values as ArrayLike<unknown>)[i] : vector.get(at));
    }
  }
  return out;
}

/** arrow-rs through parquet-wasm, handed over as Arrow IPC to apache-arrow. */
export async function readArrowRs(path: string): Promise<Row[]> {
  const table = tableFromIPC(parquetWasm.readParquet(await bytesOf(path)).intoIPCStream());
  const columns = table.schema.fields.map((f) => [f.name, arrowCells(table.getChild(f.name)!)] as const);
  return Array.from({ length: table.numRows }, (_, r) =>
    Object.fromEntries(columns.map(([name, cells]) => [name, canon(cells[r])])),
  );
}

/** DuckDB, each column cast so it lands in canon's form (one instance for both queries: creating one is most of the cost). */
export async function readDuckDB(path: string): Promise<Row[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const query = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Row[];
  try {
    const described = await query(`DESCRIBE SELECT * FROM read_parquet('${path}', hive_partitioning = false)`);
    const select = described.map(({ column_name: name, column_type: type }) => {
      const col = `"${String(name)}"`;
      if (type === 'BIGINT') return `${col}::VARCHAR ${col}`;
      if (String(type).startsWith('TIMESTAMP')) return `epoch_us(${col})::VARCHAR ${col}`;
      if (type === 'DATE') return `(${col} - DATE '1970-01-01')::INTEGER ${col}`;
      return col;
    });
    return (await query(`SELECT ${select.join(', ')} FROM read_parquet('${path}', hive_partitioning = false)`)).map(
      canonRow,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export const READERS = { hyparquet: readHyparquet, 'arrow-rs': readArrowRs, duckdb: readDuckDB } as const;

/** The footer as hyparquet decodes it: statistics in the columns' types, timestamps (µs) and dates (days) raw. */
export async function footerOf(path: string): Promise<ReturnType<typeof parquetMetadata>> {
  return parquetMetadata(await bytesOf(path), { parsers: RAW_TIME });
}

/** The footer's FileMetaData decoded by hyparquet's generic compact-protocol reader: `field_<id>` keys, raw values. */
export async function rawFooterOf(path: string): Promise<Record<string, any>> {
  const bytes = await bytesOf(path);
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 8, true);
  const start = bytes.length - 8 - length;
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, length);
  return deserializeTCompactProtocol({ view, offset: 0 });
}
