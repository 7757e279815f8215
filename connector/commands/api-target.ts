import type Anthropic from '@anthropic-ai/sdk';
import type { ConnectorConfig } from '../config/config.js';
import { createApiClient } from '../batches/client.js';
import { join } from 'node:path';
import { startEmulator } from '../../emulator/index.js';
import { CONTROL_DIR } from '../sinks/layout.js';
import { localWorkRoot } from '../storage/open-store.js';
import type { BatchesApi } from '../ports/batches-api.js';
import { sdkBatchesApi } from '../ports/sdk-batches-api.js';
import type { CallLimits } from '../types/shared.js';

export const EMULATOR_DEFAULT_KEY = 'emulator-key';

export interface ApiTarget {
  client: Anthropic;
  baseURL: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * The API the config points at. `base_url: "emulator"` starts the embedded emulator on a loopback port
 * for the life of the command, so the demo and tests need no key and no network.
 */
export async function openApiTarget(config: ConnectorConfig, limits?: CallLimits): Promise<ApiTarget> {
  const bounds = limits ? { timeoutMs: limits.timeoutMs, maxRetries: limits.retries } : {};
  if (config.base_url !== 'emulator') {
    const api = createApiClient({ apiKey: config.api_key!, baseURL: config.base_url, ...bounds });
    return { client: api.client, baseURL: config.base_url, embedded: false, close: api.close };
  }
  const key = config.api_key ?? EMULATOR_DEFAULT_KEY;
  // Batches live beside the run journals, so a killed run resumed later still finds the batches it made.
  const emulator = await startEmulator({
    apiKeys: [key],
    processingMs: 50,
    dataDir: join(localWorkRoot(config), CONTROL_DIR, 'emulator'),
    keepRequests: false,
  });
  const api = createApiClient({ apiKey: key, baseURL: emulator.url, ...bounds });
  return {
    client: api.client,
    baseURL: emulator.url,
    embedded: true,
    close: async () => {
      await api.close();
      await emulator.close();
    },
  };
}

/**
 * Runs `work` over the Batches API port: `given` (a fake, in tests) or the config's target through the SDK
 * adapter, closed afterwards. `where` names the API for messages; `limits` bound the adapter's calls.
 */
export async function usingBatchesApi<T>(
  config: ConnectorConfig,
  given: BatchesApi | undefined,
  work: (api: BatchesApi, where: string) => Promise<T>,
  limits?: CallLimits,
): Promise<T> {
  if (given) return await work(given, config.base_url);
  const target = await openApiTarget(config, limits);
  try {
    return await work(sdkBatchesApi(target.client), target.baseURL);
  } finally {
    await target.close();
  }
}
