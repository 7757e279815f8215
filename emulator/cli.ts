import { startEmulator } from './index.js';
import type { Faults } from './faults.js';
import type { LatencyModel } from './latency.js';
import { TIERS, type LimitOptions } from './limits.js';
import type { Command } from 'commander';

/** A bad emulator option; the connector's CLI reports it as a config error. */
export class EmulatorOptionsError extends Error {
  override name = 'EmulatorOptionsError';
}

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
    throw new EmulatorOptionsError(`${option} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The account limits from --tier and the single-limit options (which override the tier's). */
export function limitsFrom(
  options: Pick<EmulatorCommandOptions, 'tier' | 'rpm' | 'maxQueued' | 'spendCap' | 'acceleration'>,
): LimitOptions | undefined {
  let limits: LimitOptions | undefined;
  if (options.tier !== undefined) {
    const tier = TIERS[options.tier as keyof typeof TIERS];
    if (!tier) throw new EmulatorOptionsError(`--tier must be one of ${Object.keys(TIERS).join(', ')}`);
    limits = { ...tier };
  }
  const single: LimitOptions = {
    ...(options.rpm !== undefined ? { requestsPerMinute: options.rpm } : {}),
    ...(options.maxQueued !== undefined ? { maxQueuedRequests: options.maxQueued } : {}),
    ...(options.spendCap !== undefined ? { spendCapUsd: options.spendCap } : {}),
    ...(options.acceleration !== undefined ? { accelerationFactor: options.acceleration } : {}),
  };
  for (const [k, v] of Object.entries(single))
    if (!(typeof v === 'number' && v > 0)) throw new EmulatorOptionsError(`${k} must be a positive number`);
  return limits || Object.keys(single).length ? { ...limits, ...single } : undefined;
}

/** `emulator`: serves the Batches API emulator until SIGINT/SIGTERM. Logs go to stderr; stdout stays free. */
export async function runEmulatorCommand(options: EmulatorCommandOptions): Promise<void> {
  const faults = options.faults ? parseJson<Partial<Faults>>(options.faults, '--faults') : undefined;
  const latency =
    options.latency === undefined
      ? undefined
      : options.latency === 'realistic'
        ? {}
        : parseJson<LatencyModel>(options.latency, '--latency');
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

/** Adds the emulator's options to a commander command (the connector's `emulator` subcommand, or emulator/main.ts). */
export function withEmulatorOptions(command: Command): Command {
  return command
    .option('--port <n>', 'port (0 = any free port)', (v) => Number(v), 4010)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--processing-ms <n>', 'how long each batch stays in_progress', (v) => Number(v), 0)
    .option('--api-key <key>', 'the key the emulator accepts', 'emulator-key')
    .option('--faults <json>', 'fault injection settings (JSON), e.g. \'{"erroredShare":0.1}\'')
    .option('--data-dir <dir>', 'keep batches and results here, across restarts')
    .option(
      '--clock-factor <n>',
      'API time runs this many times faster than the wall clock (60: a second is an API minute)',
      (v) => Number(v),
    )
    .option(
      '--latency <json>',
      'batch durations from the latency model: "realistic", or JSON such as \'{"medianStartMs":900000,"slowShare":0.02}\'',
    )
    .option('--seed <n>', 'seed of the latency draws and result order', (v) => Number(v))
    .option('--tier <name>', 'the account limits of a tier: start (1,000 RPM, 200,000 queued), build or scale')
    .option('--rpm <n>', 'requests per minute to the batch endpoints (token bucket); overrides the tier', (v) =>
      Number(v),
    )
    .option(
      '--max-queued <n>',
      'requests in the processing queue above which creates get 429; overrides the tier',
      (v) => Number(v),
    )
    .option('--spend-cap <usd>', 'estimated spend past which creates get the spend-cap 429; overrides the tier', (v) =>
      Number(v),
    )
    .option(
      '--acceleration <factor>',
      'acceleration limit: a minute may use this many times the calls of the one before (+60)',
      (v) => Number(v),
    );
}
