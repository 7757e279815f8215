import { startEmulator } from './index.js';
import type { Faults } from './faults.js';
import { configError } from '../errors.js';

export interface EmulatorCommandOptions {
  port: number;
  host: string;
  processingMs: number;
  apiKey: string;
  faults?: string;
  dataDir?: string;
}

/** `emulator`: serves the Batches API emulator until SIGINT/SIGTERM. Logs go to stderr; stdout stays free. */
export async function runEmulatorCommand(options: EmulatorCommandOptions): Promise<void> {
  let faults: Partial<Faults> | undefined;
  if (options.faults) {
    try {
      faults = JSON.parse(options.faults) as Partial<Faults>;
    } catch (err) {
      throw configError('EMULATOR_FAULTS', `--faults is not valid JSON: ${(err as Error).message}`);
    }
  }
  const emulator = await startEmulator({
    port: options.port,
    host: options.host,
    processingMs: options.processingMs,
    apiKeys: [options.apiKey],
    faults,
    dataDir: options.dataDir,
    keepRequests: false,
  });
  process.stderr.write(`Message Batches API emulator listening on ${emulator.url} (set base_url to this)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await emulator.close();
}
