import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertProtocolOutput } from './protocol-schema.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO, 'dist/connector/cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  messages: Array<Record<string, any>>;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI as a child process, exactly as a platform does: arguments, stdin, stdout with one
 * JSON message per line. `onMessage` sees each message the moment its line arrives. Rejects when any
 * message on stdout is not valid against the official protocol schema. `stdin: null` leaves stdin open for
 * the caller (`onSpawn` hands over the child).
 */
export function runCli(
  args: string[],
  options: {
    stdin?: string | null;
    env?: NodeJS.ProcessEnv;
    onMessage?: (m: Record<string, any>, child: ChildProcess) => void;
    onSpawn?: (child: ChildProcess) => void;
    cwd?: string;
  } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO,
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const messages: Array<Record<string, any>> = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (!line.trim()) continue;
        const message = JSON.parse(line) as Record<string, any>;
        messages.push(message);
        options.onMessage?.(message, child);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // Every run's stdout is checked against the protocol schema (a killed run's cut-off last line aside).
      try {
        assertProtocolOutput(stdout.slice(0, stdout.lastIndexOf('\n') + 1), `${args[0] ?? 'cli'} stdout`);
      } catch (err) {
        reject(err);
        return;
      }
      resolvePromise({ code, signal, messages, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    if (options.stdin !== null) child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Runs a command that prints plain text or pretty JSON (status, cancel, estimate), not protocol lines, with
 * no input.
 */
export function runPlainCli(
  args: string[],
  where: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: where.cwd ?? REPO,
      env: { PATH: process.env.PATH, ...where.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

export function tempDir(prefix = 'claude-batch-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

export const ofType = (messages: CliResult['messages'], type: string) => messages.filter((m) => m.type === type);

/** The TRACE ERROR messages (a run also emits STREAM_STATUS and ESTIMATE traces). */
export const traceErrors = (messages: CliResult['messages']) =>
  messages.filter((m) => m.type === 'TRACE' && m.trace?.type === 'ERROR');

/** The config every CLI test starts from: the test emulator's URL and key, fast polling, a summary prompt. */
export function emulatorConfig(
  baseUrl: string,
  destination: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    api_key: 'test-key',
    base_url: baseUrl,
    destination_path: destination,
    prompt_template: 'Summarise {{ id }}: {{ body }}',
    poll_interval_seconds: 0.05,
    ...extra,
  };
}
