import Anthropic from '@anthropic-ai/sdk';
import { Agent, EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';

export interface ApiClient {
  client: Anthropic;
  close(): Promise<void>;
}

function isLoopback(baseURL: string): boolean {
  const host = new URL(baseURL).hostname;
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

/**
 * The SDK client over undici: one keep-alive pool for all calls, and HTTPS_PROXY / NO_PROXY honoured for
 * the real API (never for a loopback emulator). SDK retries stay on for idempotent calls; create turns
 * them off per call (a retried create can make a second, paid batch).
 */
export function createApiClient(options: {
  apiKey: string;
  baseURL: string;
  timeoutMs?: number;
  maxRetries?: number;
}): ApiClient {
  const keepAlive = { keepAliveTimeout: 30_000, connections: 16 };
  const dispatcher: Dispatcher = isLoopback(options.baseURL) ? new Agent(keepAlive) : new EnvHttpProxyAgent(keepAlive);
  const client = new Anthropic({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    maxRetries: options.maxRetries ?? 2,
    timeout: options.timeoutMs ?? 120_000,
    fetch: ((url: string, init?: Record<string, unknown>) =>
      undiciFetch(url, { ...(init ?? {}), dispatcher } as Parameters<
        typeof undiciFetch
      >[1])) as unknown as typeof fetch,
  });
  return { client, close: () => dispatcher.close() };
}
