import { loadConfig } from '../config/config.js';
import { classifyApiFailure } from '../batches/api-failure.js';
import { asConnectorError, configError, redact } from '../common/errors.js';
import { RequestBuilder } from '../requests/build.js';
import type { MessageWriter } from '../protocol/writer.js';
import { openApiTarget } from './api-target.js';
import { assertDestinationUsable } from './destination-check.js';

/**
 * Validates the config, then proves it works: the destination is writable, the key is accepted by the
 * Batches API (list, limit 1: cheap, authenticated) and the model exists. Every problem is a FAILED status
 * (exit 0, as the protocol asks), never a crash.
 */
export async function checkCommand(configPath: string, writer: MessageWriter): Promise<void> {
  try {
    const config = await loadConfig(configPath);
    new RequestBuilder(config);
    await assertDestinationUsable(config);
    const api = await openApiTarget(config);
    try {
      await api.client.messages.batches.list({ limit: 1 }).catch((err) => {
        throw classifyApiFailure(err, { call: 'list' }).error(`listing batches at ${api.baseURL}`);
      });
      await api.client.models.retrieve(config.model).catch((err) => {
        const failure = classifyApiFailure(err, { call: 'models' });
        if (failure.kind === 'not_found') {
          throw configError(
            'MODEL_UNKNOWN',
            `model "${config.model}" is not available at ${api.baseURL}; set "model" to a current Claude model id such as claude-haiku-4-5`,
          );
        }
        throw failure.error(`looking up model "${config.model}"`);
      });
    } finally {
      await api.close();
    }
    await writer.emit({ type: 'CONNECTION_STATUS', connectionStatus: { status: 'SUCCEEDED' } });
  } catch (err) {
    const e = asConnectorError(err);
    await writer.emit({
      type: 'CONNECTION_STATUS',
      connectionStatus: { status: 'FAILED', message: redact(e.message) },
    });
  }
}
