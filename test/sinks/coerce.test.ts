// Guards typed output: values that fit their JSON-schema type are stored typed; values that do not become
// null (the caller records the change) instead of failing the run.
import { describe, expect, it } from 'vitest';
import { coerce, timestampMicros } from '../../connector/sinks/coerce.js';
import { streamArrowSchema, columnKind } from '../../connector/sinks/arrow-schema.js';
import { kindOf } from '../../connector/config/column-kind.js';

describe('JSON schema → column kind', () => {
  it.each([
    [{ type: 'string' }, 'string'],
    [{ type: ['null', 'string'], format: 'date-time' }, 'timestamp'],
    [{ type: 'string', airbyte_type: 'timestamp_without_timezone' }, 'timestamp'],
    [{ type: 'string', format: 'date' }, 'date'],
    [{ type: ['null', 'integer'] }, 'integer'],
    [{ type: 'number', airbyte_type: 'integer' }, 'integer'],
    [{ type: 'number' }, 'number'],
    [{ type: 'boolean' }, 'boolean'],
    [{ type: 'object', properties: {} }, 'json'],
    [{ type: 'array' }, 'json'],
    [{ type: ['string', 'integer'] }, 'json'],
    [{ oneOf: [{ type: 'string' }] }, 'json'],
    [{}, 'json'],
  ])('%j → %s', (schema, kind) => expect(kindOf(schema)).toBe(kind));

  it('puts record columns first, enrichment after, and keeps schemaless records as JSON', () => {
    const schema = streamArrowSchema({ properties: { a: { type: 'integer' } } });
    expect(schema.fields[0]!.name).toBe('a');
    expect(columnKind(schema.fields[0]!)).toBe('integer');
    expect(schema.fields.map((f) => f.name)).toContain('_claude_output');
    expect(streamArrowSchema({}).fields[0]!.name).toBe('_airbyte_data');
  });
});

describe('coerce', () => {
  it('keeps fitting values', () => {
    expect(coerce('integer', 42)).toBe(42);
    expect(coerce('integer', '42')).toBe(42);
    expect(coerce('number', '1.5')).toBe(1.5);
    expect(coerce('boolean', false)).toBe(false);
    expect(coerce('json', { a: [1] })).toBe('{"a":[1]}');
    expect(coerce('date', '2026-02-28')).toBe(20512);
    expect(coerce('timestamp', '2026-01-01T00:00:00.123456Z')).toBe(1767225600123456n);
  });

  it('refuses values that do not fit', () => {
    expect(coerce('integer', 1.5)).toBeUndefined();
    expect(coerce('number', '1,250.00 EUR')).toBeUndefined();
    expect(coerce('boolean', 'yes')).toBeUndefined();
    expect(coerce('date', '2026-02-30')).toBeUndefined();
    expect(coerce('timestamp', 'yesterday')).toBeUndefined();
    expect(coerce('string', { a: 1 })).toBeUndefined();
  });

  it('keeps offsets in timestamps', () => {
    expect(timestampMicros('2026-01-01T01:00:00+01:00')).toBe(timestampMicros('2026-01-01T00:00:00Z'));
  });
});
