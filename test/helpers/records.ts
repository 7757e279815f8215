/** Small synthetic protocol streams for tests. */
export interface TestDoc {
  id: string;
  title: string;
  body: string;
  amount?: unknown;
  received_at?: unknown;
}

export function recordLine(
  stream: string,
  data: Record<string, unknown>,
  emittedAt = 1764000000000,
  namespace?: string,
): string {
  return JSON.stringify({
    type: 'RECORD',
    record: { stream, ...(namespace ? { namespace } : {}), data, emitted_at: emittedAt },
  });
}

export function stateLine(stream: string, cursor: unknown, count: number, namespace?: string): string {
  return JSON.stringify({
    type: 'STATE',
    state: {
      type: 'STREAM',
      stream: { stream_descriptor: { name: stream, ...(namespace ? { namespace } : {}) }, stream_state: { cursor } },
      sourceStats: { recordCount: count },
    },
  });
}

export function docs(n: number, prefix = 'doc'): TestDoc[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, '0')}`,
    title: `Quarterly note ${i}`,
    body: `Record ${prefix}-${i} describes shipment ${i * 7} delivered to warehouse ${i % 5} on schedule.`,
    amount: i * 10.5,
    received_at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
  }));
}

export const docSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    title: { type: ['null', 'string'] },
    body: { type: ['null', 'string'] },
    amount: { type: ['null', 'number'] },
    received_at: { type: ['null', 'string'], format: 'date-time' },
  },
};

export function catalogFor(streams: string[], schema: Record<string, unknown> = docSchema, namespace?: string) {
  return {
    streams: streams.map((name) => ({
      stream: {
        name,
        ...(namespace ? { namespace } : {}),
        json_schema: schema,
        supported_sync_modes: ['full_refresh'],
      },
      sync_mode: 'full_refresh',
      destination_sync_mode: 'append',
      generation_id: 3,
      minimum_generation_id: 0,
      sync_id: 77,
    })),
  };
}
