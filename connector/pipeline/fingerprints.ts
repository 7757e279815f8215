import { createHash, randomUUID } from 'node:crypto';
import type { ConnectorConfig } from '../config/config.js';
import { configError } from '../common/errors.js';
import type { RunView } from '../journal/run-view.js';

/** Hash of every setting; the key never enters it. */
export function configFingerprint(config: ConnectorConfig): string {
  const { api_key: _key, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/**
 * Hash of the settings that change what is sent or how answers are read: a run may only be resumed under the
 * same requests. The output and prompt-shaping settings join the hash only when they differ from their
 * defaults, so a run journaled before they were part of it keeps its fingerprint under default settings.
 */
export function requestFingerprint(config: ConnectorConfig): string {
  const { model, prompt_template, stream_prompt_templates, system_prompt, max_tokens, temperature } = config;
  const { output_mode, labels, output_schema, prompt_caching, max_input_tokens, oversize_policy, max_batch_bytes } =
    config;
  const shaping = {
    output_mode,
    labels,
    output_schema,
    prompt_caching,
    max_input_tokens,
    oversize_policy,
    max_batch_bytes,
  };
  const defaults = {
    output_mode: 'text',
    prompt_caching: true,
    oversize_policy: 'truncate',
    max_batch_bytes: 200_000_000,
  };
  const changed = Object.entries(shaping).filter(
    ([k, v]) => v !== undefined && v !== defaults[k as keyof typeof defaults],
  );
  return createHash('sha256')
    .update(
      JSON.stringify({
        model,
        prompt_template,
        stream_prompt_templates,
        system_prompt,
        max_tokens,
        temperature,
        ...(changed.length ? { shaping: Object.fromEntries(changed) } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

/** A run id: the start time (UTC, to the second, from the run's clock) and a random suffix. */
export function newRunId(now: Date): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
}

/** An unfinished run is resumed only under the request settings it was started with. */
export function assertSameRequests(view: RunView, config: ConnectorConfig): void {
  if (view.requestFingerprint === requestFingerprint(config)) return;
  throw configError(
    'RUN_CONFIG_CHANGED',
    `run ${view.runId} in ${config.destination_path} is unfinished and was started with different request settings (model, prompt templates, system prompt, max_tokens, temperature, or the output, prompt caching, token budget and oversize settings). ` +
      `Restore them and run again to resume it, or run "cancel --config <this config> --run ${view.runId}" to stop it and have its finished results written before changing the config.`,
  );
}
