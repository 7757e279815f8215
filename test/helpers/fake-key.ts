/**
 * A recognisable, obviously fake API key, assembled at run time so no key-shaped literal sits in the
 * repository. It has the real prefix, so the connector's pattern-based redaction applies to it too.
 */
export function fakeKey(middle: string, suffix = 'XX'): string {
  return [['sk', 'ant', 'api03'].join('-'), 'TESTSECRET', middle, suffix].join('-');
}
