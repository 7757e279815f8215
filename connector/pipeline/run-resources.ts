import type { Catalog } from '../config/catalog.js';
import type { ConnectorConfig } from '../config/config.js';
import { ConnectorError } from '../common/errors.js';
import type { ControlState } from '../journal/control.js';
import type { WriteLock } from '../journal/lease.js';
import { controlOf } from './run-registry.js';
import { ResultCache } from '../cache/result-cache.js';
import { resultCacheDir } from '../sinks/layout.js';
import type { BatchResults, BatchWriteContext } from '../sinks/batch-writer.js';
import { chooseSink, type OutputSink } from './output-sink.js';
import type { StreamTally } from '../types/shared.js';

type Log = (level: 'INFO' | 'WARN', message: string) => Promise<void>;

/**
 * What a write holds for its whole life, opened together and closed together: the destination's lock, the
 * result cache, and the output sink. The cache saves later runs money, no more: one that cannot be opened,
 * read or written is switched off with a warning, never the run.
 */
export class RunResources {
  private constructor(
    /** Where the destination's journals, spools and lock live (see ControlState). */
    readonly control: ControlState,
    private readonly lock: WriteLock,
    private readonly log: Log,
    private cache: ResultCache | undefined,
    readonly sink: OutputSink,
  ) {}

  /**
   * `sink`: an output port to use instead of the one the config picks (tests). `signal`: the run's stop
   * request, which ends a wait for the lock (a lease a stopped pod may have left) with nothing taken.
   */
  static async open(
    config: ConnectorConfig,
    catalog: Catalog,
    log: Log,
    sink?: OutputSink,
    signal?: AbortSignal,
  ): Promise<RunResources> {
    const control = controlOf(config);
    const lock = await control.lock({ signal, onWait: (message) => void log('INFO', message) });
    // The result cache stays in the working folder (the destination's own for a local folder).
    const destination = control.workRoot;
    let cache: ResultCache | undefined;
    let chosen: OutputSink | undefined;
    try {
      const rc = config.result_cache;
      if (rc.enabled)
        cache = await openCache(
          resultCacheDir(destination, config.base_url),
          { maxEntries: rc.max_entries, maxBytes: rc.max_size_mb * 1024 * 1024 },
          log,
        );
      chosen = sink ?? chooseSink(config, catalog, cache !== undefined);
      return new RunResources(control, lock, log, cache, chosen);
    } catch (err) {
      try {
        await chosen?.close();
        cache?.close();
      } finally {
        await lock.release();
      }
      throw err;
    }
  }

  /** Aborted when an object store's lease was taken over (a writer that stalled past it): the run must stop. */
  get lockLost(): AbortSignal | undefined {
    return this.lock.lost;
  }

  /** Whether answers are being kept for the cache. */
  get caching(): boolean {
    return this.cache !== undefined;
  }

  /** The cached answer to a request, if any; a cache that fails to read is switched off, not the run. */
  cachedAnswer(customId: string): string | undefined {
    try {
      return this.cache?.get(customId);
    } catch (err) {
      this.cacheFailed(err);
      return undefined;
    }
  }

  /** Writes a seq's rows through the sink and caches its good answers. */
  async writeOutput(
    ctx: BatchWriteContext,
    seq: number,
    recordsPath: string,
    results: BatchResults,
  ): Promise<StreamTally[]> {
    const done = await this.sink.write(ctx, seq, recordsPath, results);
    const { records, tooLarge } = done.cacheable;
    try {
      if (records.length > 0 || tooLarge > 0) this.cache?.putEncoded(records, tooLarge);
    } catch (err) {
      // The cache saves later runs money; it is not worth this run's output (a full disk, a damaged table).
      this.cacheFailed(err);
    }
    return done.tallies;
  }

  async close(): Promise<void> {
    try {
      await this.sink.close();
      this.closeCache();
    } finally {
      await this.lock.release();
    }
  }

  /** A cache that failed in the middle of the run: it is switched off, with a warning, and the run goes on. */
  private cacheFailed(err: unknown): void {
    if (this.cache)
      void this.log('WARN', `result cache: ${(err as Error).message}; the cache is off for the rest of this run`);
    this.closeCache();
  }

  /** Closes the result cache; a cache that cannot be closed cleanly costs a warning, never the run's result. */
  private closeCache(): void {
    const cache = this.cache;
    this.cache = undefined;
    try {
      cache?.close();
    } catch (err) {
      void this.log(
        'WARN',
        `result cache: ${(err as Error).message}; answers filed since its last checkpoint are filed again by a later run`,
      );
    }
  }
}

/** The result cache, or none (with a warning) when it cannot be opened. */
async function openCache(
  dir: string,
  options: { maxEntries: number; maxBytes: number },
  log: Log,
): Promise<ResultCache | undefined> {
  try {
    return ResultCache.open(dir, options);
  } catch (err) {
    if (err instanceof ConnectorError && err.failureType === 'config_error') throw err;
    await log('WARN', `result cache: ${(err as Error).message}; this run goes on without it`);
    return undefined;
  }
}
