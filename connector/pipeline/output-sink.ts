import type { Catalog } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { heapLimitMb } from '../common/heap.js';
import { indexRound } from '../batches/results-file.js';
import {
  writeBatchOutput,
  type BatchOutput,
  type BatchResults,
  type BatchWriteContext,
} from '../sinks/batch-writer.js';
import { OutputThread } from '../sinks/output-thread.js';
import type { RoundIndex } from '../types/shared.js';

/**
 * The output port: where a finalised batch's rows go, and who parses its results files. The core calls
 * it once per seq, one at a time, and takes the rows as committed when `write` resolves (STATEs waiting
 * on the seq are released then). Adapters: the output thread and inline (below); tests use a fake.
 */
export interface OutputSink {
  /** For the run's log: where Parquet is written. */
  readonly where: string;
  /** Joins a seq's spooled records with its answers and commits its rows. */
  write(ctx: BatchWriteContext, seq: number, recordsPath: string, results: BatchResults): Promise<BatchOutput>;
  /** Indexes one round's results file (see indexRound). */
  index(path: string, round: number, expected: ReadonlySet<string>): Promise<RoundIndex>;
  close(): Promise<void>;
}

/** On the main thread. */
export function inlineSink(): OutputSink {
  return {
    where: 'inline, on the main thread',
    write: (ctx, seq, recordsPath, results) => writeBatchOutput(ctx, seq, recordsPath, results),
    index: (path, round, expected) => indexRound(path, round, expected),
    close: async () => undefined,
  };
}

/** On a worker thread of its own (see sinks/output-thread.ts). */
export function threadSink(thread: OutputThread): OutputSink {
  return {
    where: 'on its own thread',
    write: (ctx, seq, recordsPath, results) => thread.write({ runId: ctx.runId, seq, recordsPath, results }),
    index: (path, round, expected) => thread.index({ path, round, expected }),
    close: () => thread.close(),
  };
}

/**
 * Parquet output is written, and results files are parsed, on their own thread so that both overlap with
 * reading; records mode emits RECORD messages on stdout, which stays on this thread. The thread is a second
 * V8 heap (~50-100 MB more at peak), so a process whose heap is capped below 512 MB (NODE_OPTIONS=
 * --max-old-space-size, a small container) writes inline: it asked for memory over speed.
 * CLAUDE_BATCH_OUTPUT_THREAD=1 or 0 forces either way.
 */
export function chooseSink(config: ConnectorConfig, catalog: Catalog, keepAnswers: boolean): OutputSink {
  if (config.sink !== 'parquet') return inlineSink();
  const forced = process.env.CLAUDE_BATCH_OUTPUT_THREAD;
  const roomy = heapLimitMb() >= 512;
  if (forced === '0' || (forced !== '1' && !roomy)) return inlineSink();
  const { api_key: _key, ...keyless } = config;
  return threadSink(new OutputThread({ config: keyless, streams: catalog.streams, keepAnswers }));
}
