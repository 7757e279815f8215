// Guards output paths against hostile stream/namespace names and a hostile destination: names cannot escape
// or collide, planted symlinks are refused before anything is created through them, temp files are created
// exclusively with explicit modes, and a destination that belongs to something else is refused.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertWritableDestination } from '../../connector/commands/destination-check.js';
import { ConnectorError } from '../../connector/common/errors.js';
import { streamArrowSchema } from '../../connector/sinks/arrow-schema.js';
import { CONTROL_DIR, assertNoLinksBelow, partitionDir, safeSegment } from '../../connector/sinks/layout.js';
import { AtomicParquetFile, DEFAULT_PARQUET_OPTIONS } from '../../connector/sinks/parquet-file.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'claude-batch-paths-'));
const SAFE = /^[A-Za-z0-9_.-]+$/;

function expectSafe(segment: string): void {
  expect(segment).toMatch(SAFE);
  expect(segment).not.toBe('.');
  expect(segment).not.toBe('..');
  expect(segment.startsWith('.')).toBe(false);
  expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(120);
  expect(segment.toLowerCase()).not.toBe(CONTROL_DIR);
  expect(segment.toLowerCase()).not.toBe('default');
}

const HOSTILE = [
  '..',
  '.',
  '...',
  '../etc',
  '../../../../tmp/x',
  '/abs',
  '/',
  'C:\\Windows',
  'a/b',
  'a\\b',
  'a b',
  'a:b',
  'a_b',
  'a\u0000b',
  'a\nb',
  'tab\there',
  '\u001b[31mred',
  '.hidden',
  '',
  ' ',
  'run_id=evil',
  'k=v',
  CONTROL_DIR,
  '_CLAUDE_BATCH',
  'default',
  'DEFAULT',
  'données',
  'donne\u0301es', // the same word, decomposed (NFD)
  '日本語',
  '😀',
  '\u202eevil', // right-to-left override
  '\ud800', // lone surrogate
  'x'.repeat(100),
  'x'.repeat(101),
  'x'.repeat(100) + 'y',
  'x'.repeat(5000),
  'con',
  'nul.txt',
];

describe('safeSegment', () => {
  it.each(HOSTILE.map((n) => [JSON.stringify(n).slice(0, 40), n]))('%s → one safe segment', (_, name) => {
    expectSafe(safeSegment(name));
  });

  it('keeps ordinary names as they are', () => {
    for (const name of ['orders', 'Orders', 'public', 'order_items', 'v1.2', 'a-b', 'x'.repeat(100)])
      expect(safeSegment(name)).toBe(name);
  });

  it('never maps two different names to one folder', () => {
    const names = [...HOSTILE];
    // A name spelled like another's renamed form is renamed too, so they cannot meet.
    names.push(
      safeSegment('a/b'),
      safeSegment('..'),
      safeSegment(''),
      safeSegment('default'),
      safeSegment(CONTROL_DIR),
    );
    names.push('stream', `stream-${'0'.repeat(16)}`, 'a_b-0123456789abcdef', 'A_B', 'a-b');
    const out = new Map<string, string>();
    for (const name of new Set(names)) {
      const seg = safeSegment(name);
      expect(out.get(seg), `${JSON.stringify(name)} and ${JSON.stringify(out.get(seg))} both → ${seg}`).toBeUndefined();
      out.set(seg, name);
    }
  });

  it('two names that sanitise alike get different folders', () => {
    const alike = ['a/b', 'a\\b', 'a b', 'a:b', 'a\u0000b', 'a\nb', 'a=b', 'aéb'.normalize('NFC').replace('é', '/')];
    const segments = alike.map(safeSegment);
    expect(new Set(segments).size).toBe(new Set(alike).size);
    for (const s of segments) expect(s.startsWith('a_b-')).toBe(true);
    expect(safeSegment('a_b')).toBe('a_b');
  });

  it('property: always one safe segment, and injective', () => {
    const seen = new Map<string, string>();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 150 }),
          fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', '_', '-', '=', '\\', 'é'), maxLength: 12 }),
        ),
        (name) => {
          const seg = safeSegment(name);
          expectSafe(seg);
          const before = seen.get(seg);
          if (before !== undefined) expect(before).toBe(name);
          seen.set(seg, name);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('partitionDir', () => {
  it('stays inside the destination for every hostile namespace and stream', () => {
    const dest = '/data/out';
    for (const ns of [null, ...HOSTILE]) {
      for (const stream of HOSTILE) {
        const dir = partitionDir(dest, ns, stream, 'r1');
        const rel = relative(dest, resolve(dir));
        expect(rel.startsWith('..')).toBe(false);
        expect(rel.split(sep)).toHaveLength(3);
        expect(rel.split(sep)[0]).not.toBe(CONTROL_DIR);
      }
    }
  });

  it('a null namespace and a namespace called "default" get different folders', () => {
    expect(partitionDir('/d', null, 's', 'r')).toBe('/d/default/s/run_id=r');
    expect(partitionDir('/d', 'default', 's', 'r')).not.toBe(partitionDir('/d', null, 's', 'r'));
  });

  it('refuses a planted symlink at any level below the destination, before creating anything', () => {
    for (const level of [1, 2, 3]) {
      const root = tmp();
      const dest = join(root, 'dest');
      const outside = join(root, 'outside');
      mkdirSync(outside);
      const segments = ['default', 'notes', 'run_id=r1'];
      mkdirSync(join(dest, ...segments.slice(0, level - 1)), { recursive: true });
      symlinkSync(outside, join(dest, ...segments.slice(0, level)));
      let err: unknown;
      try {
        partitionDir(dest, null, 'notes', 'r1');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).failureType).toBe('config_error');
      expect((err as ConnectorError).code).toBe('DESTINATION_LINK');
      expect((err as Error).message).toMatch(/symbolic link/);
      expect(readdirSync(outside)).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('assertNoLinksBelow refuses a path outside the root', async () => {
    await expect(assertNoLinksBelow('/a/b', '/a/c')).rejects.toMatchObject({ code: 'DESTINATION_ESCAPE' });
  });
});

describe('AtomicParquetFile creation', () => {
  const schema = streamArrowSchema({});

  it('creates the temp file exclusively with mode 0644 and publishes it', async () => {
    const dest = tmp();
    const dir = partitionDir(dest, null, 'notes', 'r1');
    mkdirSync(dir, { recursive: true });
    const file = await AtomicParquetFile.create(join(dir, 'part-00000.parquet'), schema, DEFAULT_PARQUET_OPTIONS);
    const temps = readdirSync(dir);
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(/^\.part-00000\.parquet\.\d+\.[0-9a-f]{8}\.tmp$/);
    await file.commit();
    expect(readdirSync(dir)).toEqual(['part-00000.parquet']);
    const umask = Number(
      execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.umask()))']).toString(),
    );
    expect(statSync(join(dir, 'part-00000.parquet')).mode & 0o777).toBe(0o644 & ~umask);
  });

  it('refuses to write when a folder between the destination and the file became a symlink', async () => {
    const root = tmp();
    const dest = join(root, 'dest');
    const outside = join(root, 'outside');
    mkdirSync(outside);
    const dir = partitionDir(dest, null, 'notes', 'r1');
    // Checked and created… then swapped for a link before the file is opened.
    mkdirSync(dir, { recursive: true });
    rmSync(join(dest, 'default'), { recursive: true });
    mkdirSync(join(outside, 'notes', 'run_id=r1'), { recursive: true });
    symlinkSync(outside, join(dest, 'default'));
    await expect(
      AtomicParquetFile.create(join(dir, 'part-00000.parquet'), schema, DEFAULT_PARQUET_OPTIONS),
    ).rejects.toMatchObject({
      code: 'DESTINATION_LINK',
      failureType: 'config_error',
    });
    expect(readdirSync(join(outside, 'notes', 'run_id=r1'))).toEqual([]);
  });

  it('refuses a folder that is itself a symlink even outside partitionDir', async () => {
    const root = tmp();
    mkdirSync(join(root, 'real'));
    symlinkSync(join(root, 'real'), join(root, 'link'));
    await expect(
      AtomicParquetFile.create(join(root, 'link', 'x.parquet'), schema, DEFAULT_PARQUET_OPTIONS),
    ).rejects.toMatchObject({ code: 'DESTINATION_LINK' });
    expect(readdirSync(join(root, 'real'))).toEqual([]);
  });
});

describe('assertWritableDestination', () => {
  const refusal = async (path: string) => {
    try {
      await assertWritableDestination(path);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).failureType).toBe('config_error');
      return err as ConnectorError;
    }
  };

  it('accepts a missing, an empty, a litter-only and our own destination, and leaves no probe behind', async () => {
    const root = tmp();
    expect(await refusal(join(root, 'new', 'deep'))).toBeUndefined();
    expect(existsSync(join(root, 'new', 'deep'))).toBe(true);
    mkdirSync(join(root, 'litter', 'lost+found'), { recursive: true });
    writeFileSync(join(root, 'litter', '.DS_Store'), '');
    expect(await refusal(join(root, 'litter'))).toBeUndefined();
    mkdirSync(join(root, 'ours', CONTROL_DIR, 'runs', 'r1'), { recursive: true });
    mkdirSync(join(root, 'ours', 'default', 'notes', 'run_id=r1'), { recursive: true });
    writeFileSync(join(root, 'ours', 'default', 'notes', 'run_id=r1', 'part-00000.parquet'), '');
    expect(await refusal(join(root, 'ours'))).toBeUndefined();
    expect(readdirSync(join(root, 'ours')).sort()).toEqual([CONTROL_DIR, 'default']);
    // The configured path itself may be a link (a mounted volume, /tmp on macOS): that is the user's choice.
    symlinkSync(join(root, 'ours'), join(root, 'ours-link'));
    expect(await refusal(join(root, 'ours-link'))).toBeUndefined();
  });

  it('refuses a non-empty folder that is not ours', async () => {
    const root = tmp();
    writeFileSync(join(root, 'important.txt'), 'keep me');
    const err = await refusal(root);
    expect(err?.code).toBe('DESTINATION_NOT_OURS');
    expect(err?.message).toMatch(/important\.txt/);
    expect(err?.message).toMatch(/empty folder/);
  });

  it('refuses symlinks planted in the control folder or the data folders', async () => {
    const cases: Array<(dest: string, outside: string) => void> = [
      (dest, outside) => symlinkSync(outside, join(dest, CONTROL_DIR)),
      (dest, outside) => {
        mkdirSync(join(dest, CONTROL_DIR, 'runs', 'r1'), { recursive: true });
        symlinkSync(join(outside, 'journal.jsonl'), join(dest, CONTROL_DIR, 'runs', 'r1', 'journal.jsonl'));
      },
      (dest, outside) => {
        mkdirSync(join(dest, CONTROL_DIR));
        symlinkSync(outside, join(dest, 'default'));
      },
      (dest, outside) => {
        mkdirSync(join(dest, CONTROL_DIR));
        mkdirSync(join(dest, 'default', 'notes'), { recursive: true });
        symlinkSync(outside, join(dest, 'default', 'notes', 'run_id=r9'));
      },
    ];
    for (const plant of cases) {
      const root = tmp();
      const dest = join(root, 'dest');
      const outside = join(root, 'outside');
      mkdirSync(dest);
      mkdirSync(outside);
      plant(dest, outside);
      const err = await refusal(dest);
      expect(err?.code).toBe('DESTINATION_LINK');
      expect(err?.message).toMatch(/symbolic link/);
      expect(readdirSync(outside)).toEqual([]);
    }
  });

  it('refuses a destination that is a file, or whose control folder is a file', async () => {
    const root = tmp();
    writeFileSync(join(root, 'file'), '');
    expect((await refusal(join(root, 'file')))?.code).toBe('DESTINATION_NOT_WRITABLE');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', CONTROL_DIR), '');
    expect((await refusal(join(root, 'd')))?.code).toBe('DESTINATION_NOT_OURS');
    expect(lstatSync(join(root, 'd', CONTROL_DIR)).isFile()).toBe(true);
  });
});
