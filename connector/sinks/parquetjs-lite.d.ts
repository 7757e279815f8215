// Minimal typings for the part of parquetjs-lite used through its main entry (the package ships none): its
// reader, which the demo and the tests read Parquet back with. The encoder loads its Thrift and codec modules directly.
declare module 'parquetjs-lite' {
  export class ParquetReader {
    static openFile(path: string): Promise<ParquetReader>;
    getCursor(): { next(): Promise<Record<string, unknown> | null> };
    getRowCount(): number;
    close(): Promise<void>;
  }
  const parquet: { ParquetReader: typeof ParquetReader };
  export default parquet;
}
