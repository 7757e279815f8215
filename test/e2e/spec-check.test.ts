// Guards `spec` and `check` as a platform runs them: one JSON message on stdout, exit 0, and a FAILED
// status a person can act on for every broken setup — never a crash or a leaked key.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { REPO, runCli, tempDir, writeJson } from '../helpers/cli.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['right-key-123'] });
});
afterAll(() => emu.close());

function check(config: Record<string, unknown>) {
  const dir = tempDir();
  const path = writeJson(dir, 'config.json', {
    destination_path: join(dir, 'out'),
    prompt_template: 'Hi {{ a }}',
    ...config,
  });
  return runCli(['check', '--config', path]);
}

const status = (r: Awaited<ReturnType<typeof runCli>>) => {
  expect(r.code).toBe(0);
  expect(r.messages).toHaveLength(1);
  expect(r.messages[0]!.type).toBe('CONNECTION_STATUS');
  return r.messages[0]!.connectionStatus as { status: string; message?: string };
};

describe('spec', () => {
  it('prints the ConnectorSpecification from spec/spec.json, with the key marked secret', async () => {
    const r = await runCli(['spec']);
    expect(r.code).toBe(0);
    expect(r.messages).toHaveLength(1);
    const spec = r.messages[0]!.spec;
    expect(spec).toEqual(JSON.parse(readFileSync(join(REPO, 'spec/spec.json'), 'utf8')));
    expect(spec.connectionSpecification.properties.api_key.airbyte_secret).toBe(true);
  });
});

describe('check', () => {
  it('succeeds with a working key, model and destination', async () => {
    expect(status(await check({ api_key: 'right-key-123', base_url: emu.url }))).toEqual({ status: 'SUCCEEDED' });
  });

  it('succeeds on the embedded emulator with no key at all', async () => {
    expect(status(await check({ base_url: 'emulator' })).status).toBe('SUCCEEDED');
  });

  it('fails on a wrong key, without echoing it', async () => {
    const r = await check({ api_key: 'wrong-key-456', base_url: emu.url });
    const s = status(r);
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/401.*authentication_error.*API key/);
    expect(r.stdout + r.stderr).not.toContain('wrong-key-456');
  });

  it('fails on an unreachable host', async () => {
    const s = status(await check({ api_key: 'k-123456', base_url: 'http://127.0.0.1:9' }));
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/cannot reach the API/);
  });

  it('fails on a model the API does not know', async () => {
    const s = status(await check({ api_key: 'right-key-123', base_url: emu.url, model: 'claude-nonexistent-9' }));
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/model "claude-nonexistent-9"/);
  });

  it('fails on a destination that is not a writable directory', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const s = status(
      await check({ api_key: 'right-key-123', base_url: emu.url, destination_path: join(dir, 'file', 'sub') }),
    );
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/destination_path .* is not a writable directory/);
  });

  it('fails on a malformed config, naming the field', async () => {
    const s = status(await check({ base_url: 'emulator', max_tokens: 0, surprise: 1 }));
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/max_tokens/);
    expect(s.message).toMatch(/unknown field "surprise"/);
  });

  it('fails on submit_only with a records sink: a transform would pass STATEs on before their RECORDs', async () => {
    for (const sink of ['records', 'both']) {
      const s = status(await check({ base_url: 'emulator', wait: 'submit_only', sink }));
      expect(s.status).toBe('FAILED');
      expect(s.message).toMatch(new RegExp(`"wait": "submit_only" cannot be combined with "sink": "${sink}"`));
    }
  });

  it('fails on a temperature for a model that refuses sampling parameters', async () => {
    const s = status(await check({ base_url: 'emulator', model: 'claude-opus-4-7', temperature: 0.2 }));
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/"temperature" is not accepted by claude-opus-4-7/);
  });

  it('fails on a template syntax error, naming the template', async () => {
    const s = status(await check({ base_url: 'emulator', prompt_template: 'Hi {{ a' }));
    expect(s.message).toMatch(/prompt_template: "\{\{" at offset 3 is never closed/);
  });
});

describe('config and catalog errors are found before anything is submitted', () => {
  it('check fails on a template that references no field, naming it', async () => {
    const s = status(await check({ base_url: 'emulator', prompt_template: 'Summarise this document.' }));
    expect(s.status).toBe('FAILED');
    expect(s.message).toMatch(/prompt_template: the template references no record field/);
  });

  it('write refuses a catalog whose JSON schema is invalid, before submitting', async () => {
    const dir = tempDir();
    const config = writeJson(dir, 'config.json', {
      api_key: 'right-key-123',
      base_url: emu.url,
      destination_path: join(dir, 'out'),
      prompt_template: 'Hi {{ a }}',
    });
    const catalog = writeJson(dir, 'catalog.json', {
      streams: [
        {
          stream: { name: 's', json_schema: { type: 'object', properties: { a: { type: 'strnig' } } } },
          destination_sync_mode: 'append',
        },
      ],
    });
    const creates = emu.calls.create;
    const r = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: '{"type":"RECORD","record":{"stream":"s","data":{"a":"x"},"emitted_at":1}}\n',
    });
    expect(r.code).not.toBe(0);
    const trace = r.messages.find((m) => m.type === 'TRACE' && m.trace.type === 'ERROR')!;
    expect(trace.trace.error.failure_type).toBe('config_error');
    expect(trace.trace.error.message).toMatch(/streams\[0\] \(s\): stream.json_schema is not a valid JSON schema/);
    expect(emu.calls.create).toBe(creates);
  });
});
