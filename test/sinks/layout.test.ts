// Guards the output layout: stream names from untrusted sources cannot escape the destination or collide.
import { describe, expect, it } from 'vitest';
import { partitionDir, resultCacheDir, safeSegment } from '../../connector/sinks/layout.js';

describe('layout', () => {
  it('builds hive-style partition paths', () => {
    expect(partitionDir('/d', 'docs', 'invoices', 'r1')).toBe('/d/docs/invoices/run_id=r1');
    expect(partitionDir('/d', null, 'invoices', 'r1')).toBe('/d/default/invoices/run_id=r1');
  });

  it.each(['..', '../etc', '/abs', 'a/b', 'a\\b', '.hidden', 'tab\there', ''])(
    'sanitises %j into one safe segment',
    (name) => {
      const seg = safeSegment(name);
      expect(seg).not.toMatch(/[/\\]/);
      expect(seg.startsWith('.')).toBe(false);
      expect(seg).not.toBe('');
    },
  );

  it('never maps two different names to one folder', () => {
    expect(safeSegment('a/b')).not.toBe(safeSegment('a_b'));
    expect(safeSegment('a_b')).toBe('a_b');
  });
});

describe('resultCacheDir', () => {
  it('keeps the real API in the plain cache folder, and every other endpoint in its own', () => {
    const dir = (url: string) => resultCacheDir('/d', url).slice('/d/_claude_batch/'.length);
    expect(dir('https://api.anthropic.com')).toBe('cache');
    expect(dir('https://API.anthropic.com/')).toBe('cache');
    expect(dir('emulator')).toBe('cache-emulator');
    expect(dir('http://127.0.0.1:4010')).toMatch(/^cache-[0-9a-f]{12}$/);
    expect(dir('http://127.0.0.1:4010/')).toBe(dir('http://127.0.0.1:4010'));
    expect(dir('http://127.0.0.1:4011')).not.toBe(dir('http://127.0.0.1:4010'));
    expect(dir('https://gateway.example.com/anthropic')).not.toBe(dir('https://gateway.example.com'));
  });
});
