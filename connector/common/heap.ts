import { getHeapStatistics } from 'node:v8';

/**
 * The V8 old-space limit (MB) the Docker image starts Node with, and the benchmark runs the CLI with. Under
 * a limit of a few GB (Node's default on a roomy machine) V8 lets the heap grow to ~4x its live data between
 * full collections; under ~1 GB it keeps ~1.5x. The connector's live heap is ~30 MB whatever the sync's size
 * (records, requests and answers stream through disk), so 768 MB only shapes garbage collection: it cut
 * peak RSS at 1M records from ~500 to ~350 MB (at 100k, ~380 to ~310 MB) for ~10% more CPU spent collecting
 * (interleaved runs at 100k: ~6,600 against ~7,200 records/s), and leaves room for very large records.
 * Node applies the flag to every thread's heap, the Parquet output thread's included. Without it (plain
 * `node dist/connector/cli.js`) the connector runs a little faster in more memory.
 */
export const RECOMMENDED_HEAP_MB = 768;

/** Node's heap limit for this process, in MB (old space plus young generation). */
export const heapLimitMb = (): number => getHeapStatistics().heap_size_limit / 2 ** 20;

/** A heap limit from Node's defaults rather than from --max-old-space-size: several GB on this kind of machine. */
export const heapLimitIsDefault = (): boolean => heapLimitMb() > 2048;
