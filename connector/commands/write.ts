import type { Readable } from 'node:stream';
import { loadCatalog } from '../config/catalog.js';
import { loadConfig, readJsonFile } from '../config/config.js';
import type { MessageWriter } from '../protocol/writer.js';
import { realSleep, DEFAULT_RETRY, type Sleep } from '../batches/retry.js';
import { RequestBuilder } from '../requests/build.js';
import { WriteRun } from '../pipeline/write-run.js';
import type { RunManifest } from '../sinks/manifest.js';
import { openApiTarget } from './api-target.js';
import { assertWritableDestination } from './destination-check.js';

export interface WriteCommandOptions {
  config: string;
  catalog: string;
  state?: string;
}

/**
 * `write`: everything that can be checked before reading stdin is checked first (config, templates,
 * catalog, destination), so a bad setup fails before any money is spent.
 */
export async function writeCommand(
  options: WriteCommandOptions,
  input: Readable,
  writer: MessageWriter,
  sleep: Sleep = realSleep,
): Promise<RunManifest> {
  const config = await loadConfig(options.config);
  new RequestBuilder(config);
  const catalog = await loadCatalog(options.catalog);
  if (options.state) await readJsonFile(options.state, 'state');
  await assertWritableDestination(config.destination_path);
  const api = await openApiTarget(config);
  try {
    const run = new WriteRun({
      config,
      catalog,
      client: api.client,
      input,
      writer,
      lifecycle: { pollIntervalMs: config.poll_interval_seconds * 1000, retry: DEFAULT_RETRY, sleep },
    });
    const manifest = await run.run();
    const statuses = manifest.streams
      .map((s) => `${s.namespace ? `${s.namespace}.` : ''}${s.stream}: ${s.rows} rows ${JSON.stringify(s.by_status)}`)
      .join('; ');
    await writer.log('INFO', `run ${manifest.run_id} complete: ${manifest.records_in} records in, ${manifest.rows_out} rows out in ${manifest.batches.length} batches; ${statuses}`);
    return manifest;
  } finally {
    await api.close();
  }
}
