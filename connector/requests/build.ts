import { hash } from 'node:crypto';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ConnectorConfig } from '../config/config.js';
import type { AirbyteRecord } from '../protocol/messages.js';
import { parseTemplate, renderTemplate, type Template } from './template.js';
import { estimateTokens, truncateToBudget, TRUNCATION_MARKER } from './tokens.js';
import { labelInstruction, outputSpecFrom, promptVersion, type OutputSpec } from './output-spec.js';

export interface BuiltRequest {
  customId: string;
  params: MessageCreateParamsNonStreaming;
  missingFields: string[];
  /** The request exactly as it goes into the batch body, and its size in bytes. */
  serialized: string;
  bytes: number;
  /** Set when the rendered prompt was cut to fit a budget. */
  truncated?: { fromChars: number; toChars: number };
}

/** Cuts text to `chars` characters without splitting a surrogate pair, and marks the cut. */
export function cutText(text: string, chars: number): string {
  let end = Math.max(0, Math.min(text.length, chars));
  const code = text.charCodeAt(end - 1);
  if (end > 0 && code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + TRUNCATION_MARKER;
}

/** Context window (input + max_tokens) of every current model; none is smaller. */
export const CONTEXT_WINDOW_TOKENS = 200_000;
/**
 * The local estimate is not the model's tokenizer (Claude 4.7+ counts ~30% more on the same text): the default
 * budget keeps this share of what the window leaves for input, so the estimate's error never makes a prompt too long.
 */
const DEFAULT_BUDGET_SHARE = 0.75;

/**
 * The input budget when `max_input_tokens` is not set: the context window less `max_tokens`, with the safety
 * margin above. A prompt above it would come back errored ("prompt is too long") and be paid for nothing.
 * @example defaultInputBudget('claude-haiku-4-5', 512) // 149616
 */
export function defaultInputBudget(_model: string, maxTokens: number): number {
  return Math.max(16, Math.floor((CONTEXT_WINDOW_TOKENS - maxTokens) * DEFAULT_BUDGET_SHARE));
}

export const CUSTOM_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Stable id of a request: a hash of everything that is sent (model, settings, rendered prompt).
 * The same record under the same settings gets the same id in every run, and identical requests share one
 * id, so they can be sent once and fanned out. 'r' + 43 base64url chars = 44 chars, within the API's 64.
 */
export function customIdFor(params: MessageCreateParamsNonStreaming): string {
  return customIdOfJson(JSON.stringify(params));
}

/** customIdFor() of params whose JSON.stringify() is `json`. */
function customIdOfJson(json: string): string {
  return 'r' + hash('sha256', json, 'base64url');
}

/** Turns records into Messages requests, with one compiled template per stream. */
export class RequestBuilder {
  private readonly templates = new Map<string, Template>();
  private readonly defaultTemplate: Template;
  readonly output: OutputSpec;
  private readonly system: MessageCreateParamsNonStreaming['system'] | undefined;
  private readonly versions = new Map<Template, string>();
  private readonly sharedTokens: number;
  /**
   * JSON.stringify(params) around the user message: every request of this builder is `head`, the message
   * as a JSON string, `tail`. Built once, so a request is stringified once (the text only) and that one
   * string is both hashed for the custom_id and spooled. Checked against JSON.stringify in the constructor.
   */
  private readonly head: string;
  private readonly tail: string;

  constructor(private readonly config: ConnectorConfig) {
    this.defaultTemplate = parseTemplate(config.prompt_template, 'prompt_template');
    for (const [stream, source] of Object.entries(config.stream_prompt_templates)) {
      this.templates.set(stream, parseTemplate(source, `stream_prompt_templates.${stream}`));
    }
    this.output = outputSpecFrom(config);
    // The shared part of every request (system prompt, label instruction) goes first, as one block,
    // marked for prompt caching so repeated prefixes bill as cache reads.
    const shared = [
      config.system_prompt,
      this.output.mode === 'label' ? labelInstruction(this.output.labels) : undefined,
    ]
      .filter(Boolean)
      .join('\n\n');
    this.sharedTokens = estimateTokens(shared);
    if (shared) {
      this.system = config.prompt_caching
        ? [{ type: 'text', text: shared, cache_control: { type: 'ephemeral' } }]
        : shared;
    }
    const c = config;
    this.head =
      `{"model":${JSON.stringify(c.model)},"max_tokens":${JSON.stringify(c.max_tokens)}` +
      (this.system ? `,"system":${JSON.stringify(this.system)}` : '') +
      (c.temperature !== undefined ? `,"temperature":${JSON.stringify(c.temperature)}` : '') +
      ',"messages":[{"role":"user","content":';
    const params = this.paramsFor('');
    this.tail = '}]' + (params.output_config ? `,"output_config":${JSON.stringify(params.output_config)}` : '') + '}';
    // The custom_id is the hash of JSON.stringify(params): the two forms must agree byte for byte.
    for (const probe of ['', 'a "probe"\n\u2028😀']) {
      if (this.head + JSON.stringify(probe) + this.tail !== JSON.stringify(this.paramsFor(probe)))
        throw new Error('RequestBuilder: request JSON does not match JSON.stringify(params)');
    }
  }

  /** The prompt version (see output-spec.ts) of a stream's requests. */
  promptVersionFor(stream: string, namespace?: string | null): string {
    const template = this.templateFor(stream, namespace);
    let version = this.versions.get(template);
    if (!version) {
      version = promptVersion(this.config, template.source, this.output);
      this.versions.set(template, version);
    }
    return version;
  }

  templateFor(stream: string, namespace?: string | null): Template {
    return (
      (namespace ? this.templates.get(`${namespace}.${stream}`) : undefined) ??
      this.templates.get(stream) ??
      this.defaultTemplate
    );
  }

  /**
   * Builds the record's request. With `maxBytes`, a request whose serialised form would be larger has its
   * rendered prompt cut (marked, at a character boundary) until it fits; the cut is reported. `dataText`: the
   * record's data as its input line had it, so numbers and objects render as the source wrote them.
   */
  build(record: AirbyteRecord, limits: { maxBytes?: number } = {}, dataText?: string): BuiltRequest {
    const rendered = renderTemplate(this.templateFor(record.stream, record.namespace), record.data, dataText);
    const budget = this.config.max_input_tokens ?? defaultInputBudget(this.config.model, this.config.max_tokens);
    // The budget covers the whole prompt: the shared prefix is counted first, the record's text gets the rest.
    const textBudget = Math.max(1, budget - this.sharedTokens);
    // No character weighs more than 10/8 of a token (see tokens.ts): most prompts fit without being measured.
    if (Math.ceil((rendered.text.length * 10) / 8) > textBudget) {
      const cut = truncateToBudget(rendered.text, textBudget);
      if (cut.truncated) {
        const assembled = this.fit(cut.text, rendered.missing, limits.maxBytes);
        return {
          ...assembled,
          truncated: assembled.truncated ?? { fromChars: rendered.text.length, toChars: cut.text.length },
        };
      }
    }
    return this.fit(rendered.text, rendered.missing, limits.maxBytes);
  }

  /** Estimated tokens of the whole prompt a built request sends (shared prefix + user message). */
  inputTokens(built: BuiltRequest): number {
    const content = built.params.messages[0]?.content;
    return this.sharedTokens + estimateTokens(typeof content === 'string' ? content : JSON.stringify(content));
  }

  private fit(text: string, missing: string[], max: number | undefined): BuiltRequest {
    const rendered = { text, missing };
    let built = this.assemble(rendered.text, rendered.missing);
    if (max === undefined || built.bytes <= max) return built;
    const fromChars = rendered.text.length;
    let chars = Math.floor(fromChars * (max / built.bytes) * 0.95);
    for (let tries = 0; tries < 20 && chars > 0; tries++) {
      built = this.assemble(cutText(rendered.text, chars), rendered.missing);
      if (built.bytes <= max) return { ...built, truncated: { fromChars, toChars: chars } };
      chars = Math.floor(chars * 0.8);
    }
    return built;
  }

  private assemble(text: string, missingFields: string[]): BuiltRequest {
    const json = this.head + JSON.stringify(text) + this.tail;
    const customId = customIdOfJson(json);
    // custom_id is 'r' + base64url: nothing in it needs escaping, so this is JSON.stringify({ custom_id, params }).
    const serialized = `{"custom_id":"${customId}","params":${json}}`;
    return { customId, params: this.paramsFor(text), missingFields, serialized, bytes: Buffer.byteLength(serialized) };
  }

  private paramsFor(text: string): MessageCreateParamsNonStreaming {
    const c = this.config;
    // Key order is fixed here, so JSON.stringify(params) is canonical for the custom_id hash.
    const params: Record<string, unknown> = { model: c.model, max_tokens: c.max_tokens };
    if (this.system) params.system = this.system;
    if (c.temperature !== undefined) params.temperature = c.temperature;
    params.messages = [{ role: 'user', content: text }];
    if (this.output.mode === 'json')
      params.output_config = { format: { type: 'json_schema', schema: this.output.apiSchema! } };
    return params as unknown as MessageCreateParamsNonStreaming;
  }
}
