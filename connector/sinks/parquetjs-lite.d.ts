// Minimal typings for the part of parquetjs-lite used through its main entry (the package ships none): its
// reader, which the demo and the tests read Parquet back with. Nothing uses its private files: the encoder's
// Thrift structs are our own (parquet-thrift.ts), and a test fails if an import of one comes back.
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
