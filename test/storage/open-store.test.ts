// destination_path picks the Store; the s3 block is validated with the config, and its secrets never show.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../connector/config/config.js';
import { openStore, parseS3Url } from '../../connector/storage/open-store.js';
import { LocalStore } from '../../connector/storage/local-store.js';
import { S3Store } from '../../connector/storage/s3-store.js';
import { redact } from '../../connector/common/errors.js';

const base = { prompt_template: 'x {{ a }}', base_url: 'emulator' };

describe('openStore', () => {
  it('gives a LocalStore for a folder and an S3Store for s3://bucket/prefix', () => {
    expect(openStore(parseConfig({ ...base, destination_path: '/tmp/out' }))).toBeInstanceOf(LocalStore);
    const store = openStore(parseConfig({ ...base, destination_path: 's3://my-bucket/a/b/', s3: { endpoint: 'http://127.0.0.1:9', access_key_id: 'AKIAEXAMPLE', secret_access_key: 'not-a-real-secret-123' } }));
    expect(store).toBeInstanceOf(S3Store);
    expect(store.location).toBe('s3://my-bucket/a/b');
    expect((store as S3Store).objectKey('x/y')).toBe('a/b/x/y');
  });

  it('parses bucket and prefix, refusing what S3 would refuse', () => {
    expect(parseS3Url('s3://bkt')).toEqual({ bucket: 'bkt', prefix: '' });
    expect(parseS3Url('s3://bkt/')).toEqual({ bucket: 'bkt', prefix: '' });
    expect(parseS3Url('s3://b.k-t/p/q')).toEqual({ bucket: 'b.k-t', prefix: 'p/q' });
    for (const bad of ['s3://', 's3://B', 's3://Upper/p', 's3://ab', 's3://bkt/a//b', 's3://bkt/../x', 's3://bkt_x/p']) {
      expect(() => parseS3Url(bad), bad).toThrow(/destination_path/);
    }
  });

  it('validates the s3 block with the config and registers its secrets for redaction', () => {
    const secret = 'sEcReT-value-for-the-test-42';
    const token = 'session-token-for-the-test-43';
    expect(() => parseConfig({ ...base, destination_path: 's3://bkt/p', s3: { access_key_id: 'AKIA1' } })).toThrow(/both access_key_id and secret_access_key/);
    expect(() => parseConfig({ ...base, destination_path: 's3://bkt/p', s3: { session_token: token } })).toThrow(/session_token needs/);
    expect(() => parseConfig({ ...base, destination_path: 's3://bkt/p', s3: { endpoint: 'ftp://x' } })).toThrow(/s3\.endpoint/);
    const err = (() => {
      try {
        parseConfig({ ...base, destination_path: 's3://bkt/p', s3: { secret_access_key: secret, session_token: token, unknown: 1 } });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/unknown field "unknown" in s3/);
    expect(redact(`x ${secret} y ${token}`)).toBe('x [REDACTED] y [REDACTED]');
    const config = parseConfig({ ...base, destination_path: 's3://bkt/p', s3: { region: 'eu-west-1' } });
    expect(config.s3).toEqual({ region: 'eu-west-1', conditional_writes: 'auto' });
  });
});
