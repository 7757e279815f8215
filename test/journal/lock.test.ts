// Guards one writer per destination: a live owner's lock is respected, a dead owner's is taken over, and
// processes that find the same stale lock at the same moment end with exactly one holder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DestinationLock, LEASE_MS } from '../../connector/journal/lock.js';
import { REPO, tempDir } from '../helpers/cli.js';

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('DestinationLock', () => {
  it('holds the pid of its owner, refuses a second writer while the owner lives, and is gone after release', () => {
    const dir = tempDir('claude-batch-lock-');
    const lock = DestinationLock.acquire(dir);
    const ours = readFileSync(join(dir, 'write.lock'), 'utf8');
    expect(ours).toBe(`${process.pid}@${hostname()}`);
    // A live owner other than us: our parent (a bare pid, as older versions wrote it, is on this host).
    writeFileSync(join(dir, 'write.lock'), String(process.ppid));
    expect(() => DestinationLock.acquire(dir)).toThrow(/another write \(pid \d+\) is using this destination/);
    // Release leaves a lock that is no longer ours alone.
    lock.release();
    expect(existsSync(join(dir, 'write.lock'))).toBe(true);
    writeFileSync(join(dir, 'write.lock'), ours);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('respects a lock from another host (a container on a shared volume, maybe pid 1 too) while it is renewed', () => {
    const dir = tempDir('claude-batch-lock-');
    const path = join(dir, 'write.lock');
    writeFileSync(path, `${process.pid}@elsewhere-${hostname()}`);
    expect(() => DestinationLock.acquire(dir)).toThrow(new RegExp(`another write \\(pid ${process.pid} on elsewhere-`));
    // Not renewed for longer than the lease: its owner is gone.
    const past = new Date(Date.now() - LEASE_MS - 1000);
    utimesSync(path, past, past);
    const lock = DestinationLock.acquire(dir);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}@${hostname()}`);
    lock.release();
  });

  it('takes over a lock whose owner is gone, and one left empty or by a takeover that died', () => {
    for (const content of [String(deadPid()), '', 'junk']) {
      const dir = tempDir('claude-batch-lock-');
      writeFileSync(join(dir, 'write.lock'), content);
      writeFileSync(join(dir, 'write.lock.takeover'), String(deadPid()));
      const lock = DestinationLock.acquire(dir);
      expect(readFileSync(join(dir, 'write.lock'), 'utf8')).toBe(`${process.pid}@${hostname()}`);
      lock.release();
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('gives a stale lock to exactly one of several processes that find it at the same moment', async () => {
    const script = `
      const { DestinationLock } = await import(${JSON.stringify(join(REPO, 'dist/connector/journal/lock.js'))});
      while (Date.now() < Number(process.argv[2])) {}
      let got = false;
      try { DestinationLock.acquire(process.argv[1]); got = true; } catch {}
      // Hold it long enough for every other process to have tried.
      setTimeout(() => console.log(got ? 'held' : 'busy'), 400);`;
    const stale = deadPid();
    for (let trial = 0; trial < 8; trial++) {
      const dir = tempDir('claude-batch-lock-race-');
      writeFileSync(join(dir, 'write.lock'), String(stale));
      const start = Date.now() + 500;
      const outcomes = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            new Promise<string>((resolve, reject) => {
              const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, String(start)], {
                stdio: ['ignore', 'pipe', 'inherit'],
              });
              let out = '';
              child.stdout.on('data', (d: Buffer) => (out += d));
              child.on('error', reject);
              child.on('close', () => resolve(out.trim()));
            }),
        ),
      );
      expect(
        outcomes.filter((o) => o === 'held'),
        `trial ${trial}: ${outcomes.join(' ')}`,
      ).toHaveLength(1);
    }
  }, 60_000);
});
