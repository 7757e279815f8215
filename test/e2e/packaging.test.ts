// The Docker image is how platforms run the connector: it must start Node with the heap limit the connector
// is measured and tuned with (connector/heap.ts), on both the entrypoint and the entrypoint Airbyte reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RECOMMENDED_HEAP_MB } from '../../connector/common/heap.js';

describe('Dockerfile', () => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

  it('starts the CLI with --max-old-space-size=RECOMMENDED_HEAP_MB', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint!)).toEqual([
      'node',
      `--max-old-space-size=${RECOMMENDED_HEAP_MB}`,
      '/airbyte/integration_code/dist/connector/cli.js',
    ]);
    expect(dockerfile).toContain(
      `AIRBYTE_ENTRYPOINT="node --max-old-space-size=${RECOMMENDED_HEAP_MB} /airbyte/integration_code/dist/connector/cli.js"`,
    );
  });
});

describe('metadata.yaml', () => {
  it('declares refreshes, so the platform sends generations and stream statuses the connector acts on', () => {
    const metadata = readFileSync(new URL('../../metadata.yaml', import.meta.url), 'utf8');
    expect(metadata).toMatch(/^ {2}supportsRefreshes: true$/m);
  });

  const { data } = parse(readFileSync(new URL('../../metadata.yaml', import.meta.url), 'utf8')) as {
    data: Record<string, any>;
  };

  it("passes Airbyte's metadata rules: a base image only digest-pinned, the API host allowed", () => {
    const baseImage = data.connectorBuildOptions?.baseImage as string | undefined;
    // The validator splits <image>:<tag>@sha256:<digest> on ':' and looks the digest up on Docker Hub.
    if (baseImage !== undefined) expect(baseImage).toMatch(/^[^:@]+:[^:@]+@sha256:[0-9a-f]{64}$/);
    expect(data.allowedHosts).toEqual({ hosts: ['api.anthropic.com'] });
  });

  it("asks for memory above the image's heap cap", () => {
    const sync = (data.resourceRequirements.jobSpecific as Array<Record<string, any>>).find(
      (j) => j.jobType === 'sync',
    );
    const mib = (q: string) => Number(/^(\d+)(Mi|Gi)$/.exec(q)![1]) * (q.endsWith('Gi') ? 1024 : 1);
    const { memory_request, memory_limit } = sync!.resourceRequirements as {
      memory_request: string;
      memory_limit: string;
    };
    // Old space up to the cap, plus young generation, the output thread's heap and native buffers.
    expect(mib(memory_limit)).toBeGreaterThanOrEqual(RECOMMENDED_HEAP_MB + 256);
    expect(mib(memory_request)).toBeLessThanOrEqual(mib(memory_limit));
  });
});
