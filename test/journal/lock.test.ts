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
    // Ordered by signals, not clocks: every child loads, says "ready", tries on the parent's "go", reports, and
    // keeps what it got until the parent closes its stdin, after every child has tried.
    const script = `
      const { DestinationLock } = await import(${JSON.stringify(join(REPO, 'dist/connector/journal/lock.js'))});
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        let got = false;
        try { DestinationLock.acquire(process.argv[1]); got = true; } catch {}
        process.stdout.write(got ? 'held\\n' : 'busy\\n');
        process.stdin.on('end', () => process.exit(0)).resume();
      });`;
    const stale = deadPid();
    for (let trial = 0; trial < 8; trial++) {
      const dir = tempDir('claude-batch-lock-race-');
      writeFileSync(join(dir, 'write.lock'), String(stale));
      const children = Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        const lines: string[] = [];
        const waiters: Array<() => void> = [];
        child.stdout.on('data', (d: Buffer) => {
          lines.push(...d.toString().split('\n').filter(Boolean));
          waiters.splice(0).forEach((w) => w());
        });
        const nthLine = (n: number) =>
          new Promise<string>((resolve, reject) => {
            const check = () => (lines.length >= n ? resolve(lines[n - 1]!) : waiters.push(check));
            child.once('close', () => (lines.length >= n ? resolve(lines[n - 1]!) : reject(new Error('child ended'))));
            check();
          });
        return { child, nthLine, closed: new Promise((resolve) => child.once('close', resolve)) };
      });
      await Promise.all(children.map((c) => c.nthLine(1)));
      for (const c of children) c.child.stdin.write('go\n');
      const outcomes = await Promise.all(children.map((c) => c.nthLine(2)));
      for (const c of children) c.child.stdin.end();
      await Promise.all(children.map((c) => c.closed));
      expect(
        outcomes.filter((o) => o === 'held'),
        `trial ${trial}: ${outcomes.join(' ')}`,
      ).toHaveLength(1);
    }
  }, 60_000);
});
