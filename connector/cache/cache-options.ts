import { configError } from '../common/errors.js';
import type { Recovery } from './cache-index.js';

export interface ResultCacheOptions {
  /** Evict oldest segments beyond this many entries. Default 10,000,000. */
  maxEntries?: number;
  /** Evict oldest segments beyond this many bytes of values (the table adds ~64 B per entry). Default 4 GiB. */
  maxBytes?: number;
  /** Target size of one segment file; default min(64 MiB, maxBytes / 8). */
  segmentBytes?: number;
  /** Make table slots durable after this many bytes of new values. Default 32 MiB. */
  checkpointBytes?: number;
}

export interface ResultCacheStats {
  entries: number;
  bytes: number;
  segments: number;
  tableSlots: number;
  usedSlots: number;
  loadFactor: number;
  maxEntries: number;
  maxBytes: number;
  /** Counters since open (or clear). */
  hits: number;
  misses: number;
  added: number;
  duplicates: number;
  tooLarge: number;
  evictedEntries: number;
  evictedSegments: number;
  rebuilds: number;
  /** What open() found: a new cache, a clean one, one recovered after a crash, or one rebuilt from segments. */
  recovery: Recovery;
}

export interface PutSummary {
  added: number;
  duplicates: number;
  tooLarge: number;
}

/** The most entries a cache may hold: the table tops out at 2^30 slots, and a full cache stays below its load limit. */
export const MAX_ENTRIES = 300_000_000;

/** The options with their defaults, checked. */
export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
  /** What one segment may hold before the next begins (at most 1/8 of either budget). */
  segment: { segmentBytes: number; segmentEntries: number };
  checkpointBytes: number;
}

/** Checks the options and fills in the defaults; a bad value is the user's (config_error CACHE_OPTIONS). */
export function cacheLimits(options: ResultCacheOptions): CacheLimits {
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < 1)
      throw configError('CACHE_OPTIONS', `result cache ${name} must be a positive integer, got ${value}`);
    return v;
  };
  const maxEntries = positive('max_entries', options.maxEntries, 10_000_000);
  if (maxEntries > MAX_ENTRIES)
    throw configError('CACHE_OPTIONS', `result cache max_entries must be at most ${MAX_ENTRIES}, got ${maxEntries}`);
  const maxBytes = positive('max_bytes', options.maxBytes, 4 * 1024 ** 3);
  const segmentBytes = positive('segment_bytes', options.segmentBytes, Math.min(64 << 20, Math.floor(maxBytes / 8)));
  return {
    maxEntries,
    maxBytes,
    segment: {
      segmentBytes: Math.min(Math.max(segmentBytes, 4096), 1 << 30),
      segmentEntries: Math.max(1, Math.ceil(maxEntries / 8)),
    },
    checkpointBytes: positive('checkpoint_bytes', options.checkpointBytes, 32 << 20),
  };
}
