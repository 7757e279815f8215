import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultFaults, ENDPOINTS, FaultPicker, type Endpoint, type Faults } from './faults.js';
import { KNOWN_MODELS } from './models.js';
import { seededRandom } from './random.js';
import { handle, type HandlerContext } from './server.js';
import { BatchStore, type MessageBatchView } from './store.js';
import { apiClock } from './clock.js';
import { latencyFor, type LatencyModel } from './latency.js';
import { AccountLimits, type LimitOptions, type LimitStats } from './limits.js';
import type { BatchRequestInput } from './validate.js';

export type { Faults, HttpFault, Endpoint } from './faults.js';
export type { MessageBatchView } from './store.js';
export type { LatencyModel } from './latency.js';
export type { LimitOptions, LimitStats } from './limits.js';
export { TIERS } from './limits.js';
export { paidTwice, readSubmissionLog } from './submission-log.js';

export interface EmulatorOptions {
  port?: number;
  host?: string;
  /** Keys accepted in `x-api-key` or `Authorization: Bearer`. */
  apiKeys?: string[];
  /** How long a batch stays in_progress (API ms); a function gives each batch (by creation index, size) its own. */
  processingMs?: number | ((batchIndex: number, requests: number) => number);
  /** Batch durations drawn from a latency model (seeded by `seed`); overrides processingMs. */
  latency?: LatencyModel;
  /** API time runs this many times faster than the wall clock (default 1); see clock.ts. */
  clockFactor?: number;
  /** The account's limits: RPM to the batch endpoints, processing queue, spend cap (see limits.ts). */
  limits?: LimitOptions;
  maxRequestsPerBatch?: number;
  /** Create bodies above this answer 413, as the API's edge does above 256 MB. */
  maxBodyBytes?: number;
  shuffleResults?: boolean;
  seed?: number;
  /** The clock batches live by; `advance()` moves it forward (for 24 h expiry and 29-day archiving). */
  now?: () => number;
  faults?: Partial<Faults>;
  models?: string[];
  /** Where batches and results files live. A given dir persists across restarts; default: a fresh temp dir. */
  dataDir?: string;
  /** Keep each batch's requests in memory for tests to inspect (off for big benchmarks). */
  keepRequests?: boolean;
  /** Prompt prefixes shorter than this are not cached (default: each model's own minimum, as on the real API). */
  minCacheableTokens?: number;
  /** Origin put into results_url, when the emulator sits behind another address. */
  publicOrigin?: string;
}

export interface RunningEmulator {
  url: string;
  port: number;
  /** Calls per endpoint since start (every call, including refused ones). */
  calls: Record<Endpoint, number>;
  /** Mutable: set fields or push HTTP fault rules at any time. */
  faults: Faults;
  resetFaults(): void;
  /** Batches as the API would show them now, oldest first. */
  batches(): Promise<MessageBatchView[]>;
  /** The requests a batch was created with (when keepRequests). */
  requestsOf(batchId: string): BatchRequestInput[] | undefined;
  /** How many times each custom_id has been submitted in any batch: a snapshot (also after close). */
  submissions(): ReadonlyMap<string, number>;
  /** Every create per custom_id (batch ids in creation order); with dataDir, across restarts. */
  submissionLog(): Map<string, string[]>;
  /** Moves the virtual clock forward. */
  advance(ms: number): void;
  /** The API clock now (ms since the epoch, in API time). */
  now(): number;
  /** What the account's limits counted (zeros when no limits are set). */
  limitStats(): LimitStats;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_REQUESTS = 100_000;

/** Starts the Message Batches API emulator on a loopback port (0 = any free port). */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const clock = apiClock({ factor: options.clockFactor, now: options.now });
  const now = clock.now;
  const processing = options.latency ? latencyFor(options.latency, options.seed ?? 42) : (options.processingMs ?? 0);
  const limits = new AccountLimits(options.limits ?? {}, now);
  const state = { faults: { ...defaultFaults(), ...options.faults } };
  const models = options.models ?? [...KNOWN_MODELS];
  const store = new BatchStore({
    dir: options.dataDir ?? mkdtempSync(join(tmpdir(), 'claude-batch-emulator-')),
    persist: options.dataDir !== undefined,
    now,
    processingMs: typeof processing === 'function' ? processing : () => processing,
    faults: () => state.faults,
    models: new Set(models),
    seed: options.seed ?? 42,
    shuffleResults: options.shuffleResults ?? true,
    keepRequests: options.keepRequests ?? true,
    minCacheableTokens: options.minCacheableTokens,
  });
  const calls = Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<Endpoint, number>;
  const ctx: HandlerContext = {
    store,
    apiKeys: new Set(options.apiKeys ?? ['emulator-key']),
    models,
    maxRequestsPerBatch: options.maxRequestsPerBatch ?? DEFAULT_MAX_REQUESTS,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    faults: () => state.faults,
    picker: new FaultPicker(seededRandom(options.seed ?? 42)),
    calls,
    publicOrigin: options.publicOrigin,
    ...(options.limits ? { limits } : {}),
  };
  const server: Server = createServer({ keepAlive: true }, (req, res) => {
    handle(ctx, req, res).catch(() => res.socket?.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    calls,
    get faults() {
      return state.faults;
    },
    set faults(next: Faults) {
      state.faults = next;
    },
    resetFaults: () => {
      state.faults = defaultFaults();
    },
    batches: async () => {
      const views = [];
      for (const b of store.all()) views.push(store.view(await store.get(b.id), `http://${host}:${port}`));
      return views;
    },
    requestsOf: (id) => store.requestsOf(id),
    submissions: () => store.submissions(),
    submissionLog: () => store.submissionLog.batchesById(),
    advance: (ms) => clock.advance(ms),
    now,
    limitStats: () => limits.stats(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      store.close(options.dataDir === undefined);
    },
  };
}
