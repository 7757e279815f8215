import { loadConfig } from '../config/config.js';
import { classifyApiFailure } from '../batches/api-failure.js';
import { asConnectorError, configError, redact } from '../common/errors.js';
import { RequestBuilder } from '../requests/build.js';
import type { MessageWriter } from '../protocol/writer.js';
import type { BatchesApi } from '../ports/batches-api.js';
import { usingBatchesApi } from './api-target.js';
import { assertDestinationUsable } from './destination-check.js';
import type { CallLimits } from '../types/shared.js';

/**
 * A platform waits on check (and an endpoint that accepts connections but never answers must not hold it for
 * the write's minutes of patient retries): each call gets 10 s and one retry, so check answers within ~1 min.
 */
export const CHECK_LIMITS: CallLimits = { timeoutMs: 10_000, retries: 1 };

/**
 * Validates the config, then proves it works: the destination is writable, the key is accepted by the
 * Batches API (list, limit 1: cheap, authenticated) and the model exists. Every problem is a FAILED status
 * (exit 0, as the protocol asks), never a crash. `deps.api`: the Batches API port to ask (tests); by default
 * the config's API through the SDK adapter.
 */
export async function checkCommand(
  configPath: string,
  writer: MessageWriter,
  deps: { api?: BatchesApi } = {},
): Promise<void> {
  try {
    const config = await loadConfig(configPath);
    new RequestBuilder(config);
    await assertDestinationUsable(config, CHECK_LIMITS);
    await usingBatchesApi(
      config,
      deps.api,
      async (api, where) => {
        await api.list({ limit: 1 }).catch((err) => {
          throw classifyApiFailure(err, { call: 'list' }).error(`listing batches at ${where}`);
        });
        await api.model(config.model).catch((err) => {
          const failure = classifyApiFailure(err, { call: 'models' });
          if (failure.kind === 'not_found') {
            throw configError(
              'MODEL_UNKNOWN',
              `model "${config.model}" is not available at ${where}; set "model" to a current Claude model id such as claude-haiku-4-5`,
            );
          }
          throw failure.error(`looking up model "${config.model}"`);
        });
      },
      CHECK_LIMITS,
    );
    await writer.emit({ type: 'CONNECTION_STATUS', connectionStatus: { status: 'SUCCEEDED' } });
  } catch (err) {
    const e = asConnectorError(err);
    await writer.emit({
      type: 'CONNECTION_STATUS',
      connectionStatus: { status: 'FAILED', message: redact(e.message) },
    });
  }
}
