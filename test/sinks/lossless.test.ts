// Guards that a record's values are written as the source wrote them: numbers parsed from their own text
// (never through a double), every property kept (undeclared, odd names, names the connector uses itself in
// _airbyte_additional_properties), and any value a column cannot hold exactly listed in _airbyte_meta.changes.
import { describe, expect, it } from 'vitest';
import {
  ADDITIONAL_PROPERTIES,
  isDataField,
  reservedColumnName,
  streamArrowSchema,
} from '../../connector/sinks/arrow-schema.js';
import { coerceRecord, coerceValue } from '../../connector/sinks/coerce.js';
import { objectMembers, valueTextAt } from '../../connector/protocol/json-text.js';
import { parseCatalog } from '../../connector/config/catalog.js';

/** coerceRecord() as the batch writer calls it: the parsed data and the text it was parsed from. */
const coerceText = (schema: ReturnType<typeof streamArrowSchema>, text: string) =>
  coerceRecord(schema, JSON.parse(text) as Record<string, unknown>, text);

describe('numbers from their text', () => {
  it.each([
    ['9007199254740993', 9007199254740993n],
    ['-9223372036854775808', -9223372036854775808n],
    ['9223372036854775807', 9223372036854775807n],
    ['12', 12],
    ['1e3', 1000],
    ['-0.0', 0],
    ['1.50e1', 15],
  ])('an integer column holds %s exactly', (text, value) => {
    expect(coerceValue('integer', JSON.parse(text), text)).toEqual({ ok: true, value });
  });

  it.each([
    ['9223372036854775808', 'DESTINATION_FIELD_SIZE_LIMITATION'],
    ['-9223372036854775809', 'DESTINATION_FIELD_SIZE_LIMITATION'],
    ['1e19', 'DESTINATION_FIELD_SIZE_LIMITATION'],
    ['1e999999999', 'DESTINATION_FIELD_SIZE_LIMITATION'],
    ['1.5', 'DESTINATION_SERIALIZATION_ERROR'],
  ])('an integer column refuses %s', (text, reason) => {
    expect(coerceValue('integer', JSON.parse(text), text)).toEqual({ ok: false, reason });
  });

  it('a double column flags a value it can only hold rounded, and refuses one beyond its range', () => {
    expect(coerceValue('number', 0.1, '0.1')).toEqual({ ok: true, value: 0.1 });
    expect(coerceValue('number', 1, '1.0')).toEqual({ ok: true, value: 1 });
    expect(coerceValue('number', 100, '1E2')).toEqual({ ok: true, value: 100 });
    expect(coerceValue('number', 0.30000000000000004, '0.30000000000000004')).toEqual({
      ok: true,
      value: 0.30000000000000004,
    });
    for (const text of [
      '0.1000000000000000055511151231257827',
      '12345678901234567890',
      '10000000000000000000000.1234',
      '1e-400',
    ]) {
      expect(coerceValue('number', JSON.parse(text), text)).toEqual({ ok: true, value: Number(text), rounded: true });
    }
    expect(coerceValue('number', Infinity, '1e400')).toEqual({
      ok: false,
      reason: 'DESTINATION_FIELD_SIZE_LIMITATION',
    });
    expect(coerceValue('number', '12345678901234567890')).toEqual({
      ok: true,
      value: 12345678901234567890,
      rounded: true,
    });
  });

  it('a string or JSON column keeps the number text as written', () => {
    expect(coerceValue('string', 12345678901234567000, '12345678901234567890')).toEqual({
      ok: true,
      value: '12345678901234567890',
    });
    expect(coerceValue('json', { x: Infinity }, '{"x": 1e400}')).toEqual({ ok: true, value: '{"x": 1e400}' });
  });
});

describe('every property kept', () => {
  const schema = streamArrowSchema(
    {
      type: 'object',
      properties: {
        id: { type: 'integer' },
        n: { type: 'number' },
        big: { type: 'string', airbyte_type: 'big_integer' },
        obj: { type: 'object' },
        run_id: { type: 'string' },
        _airbyte_meta: { type: 'string' },
        _CLAUDE_status: { type: 'string' },
        '': { type: 'string' },
        out_label: { type: 'string' },
      },
    },
    [{ column: 'out_label', kind: 'string' }],
  );

  it('declares a column per usable property, then _airbyte_additional_properties', () => {
    const data = schema.fields.filter(isDataField).map((f) => f.name);
    expect(data).toEqual(['id', 'n', 'big', 'obj']);
    expect(schema.fields[4]!.name).toBe(ADDITIONAL_PROPERTIES);
    for (const name of ['run_id', 'RUN_ID', '_airbyte_x', '_Claude_y', '', '__proto__', 'out_label'])
      expect(reservedColumnName(name, new Set(['out_label']))).toBe(true);
    expect(reservedColumnName('airbyte_id')).toBe(false);
  });

  it('puts undeclared, odd and colliding properties in _airbyte_additional_properties with their own text', () => {
    const text =
      '{"id": -9223372036854775808, "n": 0.1000000000000000055511151231257827, "big": 12345678901234567890, "obj": {"x": 1e400},' +
      ' "run_id": "mine", "_airbyte_meta": {"changes": 1}, "_CLAUDE_status": "s", "": "empty", "a.b c": 1.0, "\\u00e9\\"": [1e400],' +
      ' "__proto__": {"p": 1}, "out_label": "L", "n2": null}';
    const { row, changes } = coerceText(schema, text);
    expect(row).toEqual({
      id: -9223372036854775808n,
      n: 0.1,
      big: '12345678901234567890',
      obj: '{"x": 1e400}',
      [ADDITIONAL_PROPERTIES]:
        '{"n":0.1000000000000000055511151231257827,"run_id":"mine","_airbyte_meta":{"changes": 1},"_CLAUDE_status":"s","":"empty","a.b c":1.0,"é\\"":[1e400],"__proto__":{"p": 1},"out_label":"L","n2":null}',
    });
    expect(changes).toEqual([{ field: 'n', change: 'TRUNCATED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' }]);
  });

  it('keeps the exact text of a nulled value, and reads a repeated key as JSON.parse does', () => {
    const { row, changes } = coerceText(schema, '{"id": 1, "id": 99999999999999999999, "n": 1e400}');
    expect(row).toEqual({ [ADDITIONAL_PROPERTIES]: '{"id":99999999999999999999,"n":1e400}' });
    expect(changes).toEqual([
      { field: 'id', change: 'NULLED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
      { field: 'n', change: 'NULLED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
    ]);
  });

  it('stores a schemaless record as its own text', () => {
    const text = '{"a": 12345678901234567890, "b":1e400 ,"c":[1.0]}';
    expect(coerceText(streamArrowSchema({ type: 'object' }), text).row).toEqual({ _airbyte_data: text });
  });

  it('handles schemas and records of 20,000 properties', () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) properties[`f${i}`] = { type: i % 2 ? 'integer' : 'string' };
    const catalog = parseCatalog({
      streams: [{ stream: { name: 'wide', json_schema: { type: 'object', properties } } }],
    });
    const wide = streamArrowSchema(catalog.streams[0]!.jsonSchema);
    const data: Record<string, unknown> = {};
    for (let i = 0; i < 25_000; i++) data[`f${i}`] = i % 2 ? i : `v${i}`;
    const { row, changes } = coerceText(wide, JSON.stringify(data));
    expect(changes).toEqual([]);
    expect(row.f19999).toBe(19999);
    expect(Object.keys(JSON.parse(row[ADDITIONAL_PROPERTIES] as string) as object)).toHaveLength(5_000);
  });
});

describe('record text', () => {
  it('cuts members and paths, decoding escaped keys', () => {
    const text =
      ' {"a" : {"b c": [10, {"d": 1e400}]}, "\\u0065": 12345678901234567890, "a": {"b c": [20, {"d": 2E+999}]} } ';
    expect(objectMembers(text)).toEqual([
      { key: 'a', text: '{"b c": [20, {"d": 2E+999}]}' },
      { key: 'e', text: '12345678901234567890' },
    ]);
    expect(valueTextAt(text, ['a', 'b c', '1', 'd'])).toBe('2E+999');
    expect(valueTextAt(text, ['e'])).toBe('12345678901234567890');
    expect(valueTextAt(text, ['a', 'b c', '2'])).toBeUndefined();
    expect(valueTextAt(text, ['a', 'x'])).toBeUndefined();
    expect(objectMembers('[1]')).toBeUndefined();
  });
});

describe('protocol v1 catalogs', () => {
  const v1 = (ref: string) => ({
    streams: [{ stream: { name: 's', json_schema: { type: 'object', properties: { a: { $ref: ref } } } } }],
  });

  it.each([
    ['String', 'Utf8'],
    ['BinaryData', 'Utf8'],
    ['Date', 'Date32<DAY>'],
    ['TimestampWithTimezone', 'Timestamp<MICROSECOND, UTC>'],
    ['TimestampWithoutTimezone', 'Timestamp<MICROSECOND, UTC>'],
    ['TimeWithTimezone', 'Utf8'],
    ['TimeWithoutTimezone', 'Utf8'],
    ['Number', 'Float64'],
    ['Integer', 'Int64'],
    ['Boolean', 'Bool'],
  ])('accepts and maps WellKnownTypes %s (both spellings of the pointer)', (name, arrow) => {
    for (const ref of [`WellKnownTypes.json#/definitions/${name}`, `WellKnownTypes.json#definitions/${name}`]) {
      const catalog = parseCatalog(v1(ref));
      expect(String(streamArrowSchema(catalog.streams[0]!.jsonSchema).fields[0]!.type)).toBe(arrow);
    }
  });

  it('checks a draft-04 schema against the default draft rather than refusing it, and still refuses a broken one', () => {
    expect(() =>
      parseCatalog({
        streams: [
          {
            stream: { name: 's', json_schema: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' } },
          },
        ],
      }),
    ).not.toThrow();
    expect(() =>
      parseCatalog({
        streams: [{ stream: { name: 's', json_schema: { type: 'object', properties: { a: { type: 'strnig' } } } } }],
      }),
    ).toThrow(/not a valid JSON schema/);
  });
});
