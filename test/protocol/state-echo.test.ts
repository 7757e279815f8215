// An echoed STATE is the source's STATE as it came: every byte of its `state` object kept (numbers past
// a double's precision, 1e400, key order, spacing), only destinationStats set.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { echoStateLine, stateText } from '../../connector/protocol/state-echo.js';

const ISSUE_STATE =
  '{"type":"STREAM","stream":{"stream_descriptor":{"name":"users","namespace":"public"},"stream_state":{"cursor":12345678901234567890,"lsn":9007199254740993,"ratio":0.1000000000000000055511151231257827,"f":1.0,"e":1e400}},"sourceStats":{"recordCount":2.0},"id":42}';

describe('stateText and echoStateLine', () => {
  it('echo the issue example with every number as written', () => {
    const line = `{"type":"STATE","state":${ISSUE_STATE}}`;
    const echoed = echoStateLine(stateText(line)!, 2);
    expect(echoed).toBe(`{"type":"STATE","state":${ISSUE_STATE.slice(0, -1)},"destinationStats":{"recordCount":2.0}}}`);
    expect(echoed).toContain(
      '"cursor":12345678901234567890,"lsn":9007199254740993,"ratio":0.1000000000000000055511151231257827,"f":1.0,"e":1e400',
    );
  });

  it('keep spacing, key order and escapes; take the last of repeated keys, as JSON.parse does', () => {
    const state = '{ "data" : {"k\\u00e9y": "v\\"}{" , "n": -0.0} ,\t"type":"LEGACY" }';
    const line = `{"state":{"data":{}},"type":"STATE","st\\u0061te":${state}}`;
    expect(stateText(line)).toBe(state);
    expect(echoStateLine(state, 0)).toBe(
      `{"type":"STATE","state":{ "data" : {"k\\u00e9y": "v\\"}{" , "n": -0.0} ,\t"type":"LEGACY","destinationStats":{"recordCount":0.0} }}`,
    );
  });

  it('replace a destinationStats the input carried, and fill an empty state', () => {
    expect(echoStateLine('{"destinationStats":{"recordCount":99},"data":{}}', 3)).toBe(
      '{"type":"STATE","state":{"destinationStats":{"recordCount":3.0},"data":{}}}',
    );
    expect(echoStateLine('{ }', 0)).toBe('{"type":"STATE","state":{"destinationStats":{"recordCount":0.0} }}');
  });

  it('always give JSON whose state is the input state plus destinationStats', () => {
    const state = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 6 });
    fc.assert(
      fc.property(state, fc.nat(1_000_000), fc.boolean(), (value, count, spaced) => {
        const text = spaced ? JSON.stringify(value, null, 1).replace(/\n/g, ' ') : JSON.stringify(value);
        const line = `{"type":"STATE","state":${text}}`;
        const echoed = JSON.parse(echoStateLine(stateText(line)!, count)) as {
          type: string;
          state: Record<string, unknown>;
        };
        expect(echoed.type).toBe('STATE');
        const expected = JSON.parse(text) as Record<string, unknown>;
        delete expected.destinationStats;
        expect(echoed.state).toEqual({ ...expected, destinationStats: { recordCount: count } });
      }),
      { numRuns: 300 },
    );
  });
});
