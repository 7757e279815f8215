// The Docker image is how platforms run the connector: it must start Node with the heap limit the connector
// is measured and tuned with (connector/heap.ts), on both the entrypoint and the entrypoint Airbyte reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RECOMMENDED_HEAP_MB } from '../../connector/heap.js';

describe('Dockerfile', () => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

  it('starts the CLI with --max-old-space-size=RECOMMENDED_HEAP_MB', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(['node', `--max-old-space-size=${RECOMMENDED_HEAP_MB}`, '/airbyte/integration_code/dist/connector/cli.js']);
    expect(dockerfile).toContain(`AIRBYTE_ENTRYPOINT="node --max-old-space-size=${RECOMMENDED_HEAP_MB} /airbyte/integration_code/dist/connector/cli.js"`);
  });
});

describe('metadata.yaml', () => {
  it('declares refreshes, so the platform sends generations and stream statuses the connector acts on', () => {
    const metadata = readFileSync(new URL('../../metadata.yaml', import.meta.url), 'utf8');
    expect(metadata).toMatch(/^ {2}supportsRefreshes: true$/m);
  });
});
