// The one admission rule write and estimate pack by: what becomes of a record's request, and when the open
// batch is sealed first.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../connector/config/config.js';
import { parseCatalog } from '../../connector/config/catalog.js';
import type { AirbyteRecord } from '../../connector/protocol/messages.js';
import { RequestBuilder } from '../../connector/requests/build.js';
import { BatchShape } from '../../connector/pipeline/open-batch.js';
import { admitRecord, streamOf, type Packing } from '../../connector/pipeline/record-admission.js';

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig({ base_url: 'emulator', destination_path: '/tmp/x', prompt_template: 'Say: {{ body }}', ...extra }, {});

const rec = (body: string | undefined): AirbyteRecord => ({
  stream: 'notes',
  data: body === undefined ? {} : { body },
  emitted_at: 1,
});

/** Packs like estimate does: counts into shapes, and remembers each request's seq. */
function packer(c = config()) {
  const seqs = new Map<string, number>();
  const sent = { get: (id: string) => seqs.get(id), add: (id: string, seq: number) => void seqs.set(id, seq) };
  const cache = new Map<string, string>();
  const seals: number[] = [];
  const packing: Packing & { open: BatchShape; seq: number } = {
    open: new BatchShape(),
    seq: 0,
    async seal() {
      seals.push(this.seq);
      this.open = new BatchShape();
      this.seq++;
    },
  };
  const deps = { config: c, builder: new RequestBuilder(c), sent, cachedAnswer: (id: string) => cache.get(id) };
  const admit = async (r: AirbyteRecord) => {
    const a = await admitRecord(deps, packing, r, 1, undefined);
    if (packing.open.count(a.sends ? a.request.customId : undefined, a.request.bytes))
      sent.add(a.request.customId, packing.seq);
    return a;
  };
  return { admit, packing, sent, cache, seals };
}

describe('admitRecord', () => {
  it('sends a request once per batch, and answers a repeat in a later batch from the batch that sent it', async () => {
    const p = packer();
    const first = await p.admit(rec('a'));
    expect(first).toMatchObject({ sends: true });
    expect(await p.admit(rec('a'))).toMatchObject({ sends: true, bytes: first.bytes });
    expect(p.packing.open.requests).toBe(1);
    await p.packing.seal();
    const later = await p.admit(rec('a'));
    expect(later).toMatchObject({ sends: false, answerFrom: 0, bytes: 0 });
    expect(later.cached).toBeUndefined();
  });

  it('takes an answer from the result cache, and sends what the cache lacks', async () => {
    const p = packer();
    const probe = await packer().admit(rec('cached'));
    p.cache.set(probe.request.customId, '{"answer":1}');
    expect(await p.admit(rec('cached'))).toMatchObject({ sends: false, cached: '{"answer":1}' });
    expect(await p.admit(rec('fresh'))).toMatchObject({ sends: true });
  });

  it('seals a batch full of records before the next one joins it', async () => {
    const p = packer(config({ max_requests_per_batch: 1 }));
    for (let i = 0; i < 4; i++) await p.admit(rec('same'));
    expect(p.seals).toEqual([]);
    // 4 records per request allowed (BatchShape.maxRecords): the fifth starts batch 1, answered from batch 0.
    expect(await p.admit(rec('same'))).toMatchObject({ sends: false, answerFrom: 0 });
    expect(p.seals).toEqual([0]);
    expect(await p.admit(rec('other'))).toMatchObject({ sends: true });
  });

  it('skips a record lacking a template field under missing_field_policy skip', async () => {
    const p = packer(config({ missing_field_policy: 'skip' }));
    const a = await p.admit(rec(undefined));
    expect(a.skip?.type).toBe('missing_field');
    expect(a.sends).toBe(false);
  });

  it('names the stream, with its namespace, when a record is not in the catalog', () => {
    const catalog = parseCatalog({ streams: [{ stream: { name: 'notes', json_schema: {} } }] });
    expect(streamOf(catalog, rec('a'), 3).name).toBe('notes');
    expect(() => streamOf(catalog, { ...rec('a'), namespace: 'crm' }, 7)).toThrow(
      /stdin line 7: RECORD for stream "crm.notes", which is not in the configured catalog/,
    );
  });
});
