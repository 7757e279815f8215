// Every message the connector prints must be valid against the official Airbyte protocol schema, vendored
// as data in test/fixtures/airbyte_protocol.yaml (see test/fixtures/README.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const SCHEMA_FILE = join(import.meta.dirname, '..', 'fixtures', 'airbyte_protocol.yaml');

/** Where each message type carries its content (AirbyteMessage's properties). */
const PAYLOAD: Record<string, string> = {
  RECORD: 'record',
  STATE: 'state',
  LOG: 'log',
  SPEC: 'spec',
  CONNECTION_STATUS: 'connectionStatus',
  CATALOG: 'catalog',
  TRACE: 'trace',
  CONTROL: 'control',
  DESTINATION_CATALOG: 'destination_catalog',
};

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  const doc = parse(readFileSync(SCHEMA_FILE, 'utf8')) as { $id: string };
  // strict off: the schema carries code-generation keywords (existingJavaType) that are not JSON Schema.
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('uri', (value: string) => URL.canParse(value));
  ajv.addSchema(doc);
  return ajv.getSchema(`${doc.$id}#/definitions/AirbyteMessage`)!;
}

/** Why `message` is not a valid AirbyteMessage (empty when it is), each reason with its JSON path. */
export function protocolViolations(message: unknown): string[] {
  validator ??= compile();
  const problems = validator(message)
    ? []
    : (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
  // The schema leaves every payload optional; a message of a type without its payload is still not one.
  const type = (message as { type?: unknown })?.type;
  const payload = typeof type === 'string' ? PAYLOAD[type] : undefined;
  if (payload && (message as Record<string, unknown>)[payload] === undefined)
    problems.push(`/${payload} missing for a ${type} message`);
  return problems;
}

/** Throws naming every line of `stdout` that is not a valid protocol message (blank lines aside). */
export function assertProtocolOutput(stdout: string, what = 'stdout'): void {
  const bad: string[] = [];
  for (const [i, line] of stdout.split('\n').entries()) {
    if (!line.trim()) continue;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      bad.push(`line ${i + 1}: not JSON: ${line.slice(0, 200)}`);
      continue;
    }
    const problems = protocolViolations(message);
    if (problems.length) bad.push(`line ${i + 1}: ${problems.join('; ')}: ${line.slice(0, 300)}`);
  }
  if (bad.length)
    throw new Error(
      `${what}: ${bad.length} messages invalid against airbyte_protocol.yaml:\n${bad.slice(0, 20).join('\n')}`,
    );
}
