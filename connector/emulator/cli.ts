import { startEmulator } from './index.js';
import type { Faults } from './faults.js';
import type { LatencyModel } from './latency.js';
import { TIERS, type LimitOptions } from './limits.js';
import { configError } from '../errors.js';

export interface EmulatorCommandOptions {
  port: number;
  host: string;
  processingMs: number;
  apiKey: string;
  faults?: string;
  dataDir?: string;
  clockFactor?: number;
  latency?: string;
  seed?: number;
  tier?: string;
  rpm?: number;
  maxQueued?: number;
  spendCap?: number;
  acceleration?: number;
}

function parseJson<T>(text: string, option: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw configError('EMULATOR_OPTIONS', `${option} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The account limits from --tier and the single-limit options (which override the tier's). */
export function limitsFrom(options: Pick<EmulatorCommandOptions, 'tier' | 'rpm' | 'maxQueued' | 'spendCap' | 'acceleration'>): LimitOptions | undefined {
  let limits: LimitOptions | undefined;
  if (options.tier !== undefined) {
    const tier = TIERS[options.tier as keyof typeof TIERS];
    if (!tier) throw configError('EMULATOR_OPTIONS', `--tier must be one of ${Object.keys(TIERS).join(', ')}`);
    limits = { ...tier };
  }
  const single: LimitOptions = {
    ...(options.rpm !== undefined ? { requestsPerMinute: options.rpm } : {}),
    ...(options.maxQueued !== undefined ? { maxQueuedRequests: options.maxQueued } : {}),
    ...(options.spendCap !== undefined ? { spendCapUsd: options.spendCap } : {}),
    ...(options.acceleration !== undefined ? { accelerationFactor: options.acceleration } : {}),
  };
  for (const [k, v] of Object.entries(single)) if (!(typeof v === 'number' && v > 0)) throw configError('EMULATOR_OPTIONS', `${k} must be a positive number`);
  return limits || Object.keys(single).length ? { ...limits, ...single } : undefined;
}

/** `emulator`: serves the Batches API emulator until SIGINT/SIGTERM. Logs go to stderr; stdout stays free. */
export async function runEmulatorCommand(options: EmulatorCommandOptions): Promise<void> {
  const faults = options.faults ? parseJson<Partial<Faults>>(options.faults, '--faults') : undefined;
  const latency = options.latency === undefined ? undefined : options.latency === 'realistic' ? {} : parseJson<LatencyModel>(options.latency, '--latency');
  const limits = limitsFrom(options);
  const emulator = await startEmulator({
    port: options.port,
    host: options.host,
    processingMs: options.processingMs,
    apiKeys: [options.apiKey],
    faults,
    dataDir: options.dataDir,
    keepRequests: false,
    ...(options.clockFactor !== undefined ? { clockFactor: options.clockFactor } : {}),
    ...(latency ? { latency } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(limits ? { limits } : {}),
  });
  process.stderr.write(`Message Batches API emulator listening on ${emulator.url} (set base_url to this)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await emulator.close();
}
