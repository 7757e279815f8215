import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { configError, systemError, transientError } from '../common/errors.js';
import { waitUnlessStopped } from '../common/stop.js';
import type { Store } from '../storage/store.js';
import { LEASE_MS } from './lock.js';

/** How often the holder renews its lease (well inside LEASE_MS, so missed renewals are retried first). */
const RENEW_MS = 20_000;
const DIGITS = 10;
const GEN_NAME = new RegExp(`^(\\d{${DIGITS}})\\.json$`);

/** What a lease object says: who holds it, when it was last renewed, whether it was given back. */
interface LeaseBody {
  owner: string;
  pid: number;
  host: string;
  renewed_at: string;
  /** Counts renewals: a watcher tells a renewed lease from an unrenewed one without comparing clocks. */
  beat?: number;
  released?: true;
}

interface Identity {
  pid: number;
  host: string;
}

export interface AcquireOptions {
  /** How long a lease from another host that may be a dead pod's is watched before giving up (default 0). */
  patienceMs?: number;
  renewMs?: number;
  identity?: Identity;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The run's stop request (SIGTERM): a wait for the lease ends at once, and no lease is taken. */
  signal?: AbortSignal;
  /** Told once, when a lease another host may have left is about to be waited out (for the run's log). */
  onWait?: (message: string) => void;
}

/** What a write waits at most for a lease another host may have left: one lease, plus a renewal. */
export const WRITE_LEASE_PATIENCE_MS = LEASE_MS + RENEW_MS;

/** The lock a write holds on its destination, whichever kind it is. */
export interface WriteLock {
  /** Aborted if the lock is found taken over by another writer (a lease that expired while this one stalled). */
  readonly lost?: AbortSignal;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a lease still keeps others out: not given back, and either renewed within LEASE_MS (by the
 * holder's clock, compared with ours: pods' clocks are NTP-synchronised to well under the lease) or, on
 * this host, held by a process that still runs (a killed writer's lease is free at once, as with the file
 * lock; a pod never shares its host name with another).
 */
function isLive(body: LeaseBody, now: number, me: Identity): boolean {
  if (body.released) return false;
  if (body.host === me.host)
    return Number.isInteger(body.pid) && body.pid > 0 && body.pid !== me.pid && alive(body.pid);
  return now - Date.parse(body.renewed_at) < LEASE_MS;
}

/**
 * One writer per destination on an object store: a lease in generations. Generation g is the object
 * `<prefix>/<g, 10 digits>.json`; the highest generation is the lease. A writer takes it by creating the
 * next generation with putIfAbsent, only when the highest is absent, given back or expired, so of two
 * writers that saw the same stale lease exactly one creates g+1 (no delete-then-create race as with a single
 * lock object). The holder renews by rewriting its own generation (only it writes that key), and checks at
 * each renewal that no later generation exists and its own still names it: if either fails, its `lost`
 * signal fires and the run stops. It gives the lease back by marking its generation released; older
 * generations are deleted by the next holder.
 *
 * This relies on putIfAbsent being a real conditional write (`If-None-Match: *`): see the README,
 * "Object storage". Where a server ignores the condition, two writers starting in the same instant could
 * both believe they hold generation g+1; the later write wins the object and the other finds out at its
 * first renewal (the journal's own putIfAbsent per entry stops it sooner if both write one run).
 */
export class StoreLease implements WriteLock {
  private readonly controller = new AbortController();
  private readonly renewal: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly gen: number,
    private readonly body: LeaseBody,
    renewMs: number,
  ) {
    this.renewal = setInterval(() => void (this.renewing = this.renew()), renewMs);
    this.renewal.unref();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Takes the lease, or throws DESTINATION_BUSY. A lease another host renewed less than LEASE_MS ago may be a
   * live writer's or a dead pod's (a pod killed a moment ago renewed it last): with `patienceMs`, it is
   * watched rather than refused at once, and refused as soon as it is renewed (its holder lives), or taken
   * once it expires. `identity`, `now` and `sleep`: who this writer is and its clock (tests).
   */
  static async acquire(store: Store, prefix: string, options: AcquireOptions = {}): Promise<StoreLease> {
    const me = options.identity ?? { pid: process.pid, host: hostname() };
    const now = options.now ?? Date.now;
    const sleep = abortable(options.sleep, options.signal);
    const deadline = now() + (options.patienceMs ?? 0);
    const owner = randomUUID();
    let watched: string | undefined;
    for (let tries = 0; tries < 5;) {
      if (options.signal?.aborted) throw stoppedWaiting(`${store.location}/${prefix}`);
      const gens = await generations(store, prefix);
      const top = gens.at(-1);
      const held = top === undefined ? undefined : await readLease(store, prefix, top);
      if (held && isLive(held, now(), me)) {
        const seen = `${top}:${held.owner}:${held.beat ?? 0}:${held.renewed_at}`;
        if ((watched !== undefined && watched !== seen) || held.host === me.host || now() >= deadline)
          throw busy(held, me);
        if (watched === undefined) options.onWait?.(waiting(held, Math.ceil((deadline - now()) / 1000)));
        watched = seen;
        const expires = Date.parse(held.renewed_at) + LEASE_MS;
        await sleep(Math.max(1, Math.min(RENEW_MS + 5_000, expires - now() + 1_000, deadline - now())));
        continue;
      }
      tries++;
      const gen = (top ?? 0) + 1;
      const body: LeaseBody = { owner, pid: me.pid, host: me.host, renewed_at: new Date(now()).toISOString() };
      if (await store.putIfAbsent(leaseKey(prefix, gen), JSON.stringify(body))) {
        // Generations before ours are stale by now; they only lengthen the listing.
        await store.delete(gens.map((g) => leaseKey(prefix, g))).catch(() => undefined);
        return new StoreLease(store, prefix, gen, body, options.renewMs ?? RENEW_MS);
      }
      // Someone else took generation `gen` first: look again (it is live, unless it was given back at once).
    }
    throw configError(
      'DESTINATION_BUSY',
      `cannot take the write lease ${prefix}: other writes are taking it at the same time`,
    );
  }

  /** Rewrites our generation with a fresh time, unless the lease turns out to be someone else's now. */
  async renew(): Promise<void> {
    if (this.controller.signal.aborted) return;
    try {
      const gens = await generations(this.store, this.prefix);
      const ours = await readLease(this.store, this.prefix, this.gen);
      if (gens.some((g) => g > this.gen) || ours?.owner !== this.body.owner) {
        clearInterval(this.renewal);
        this.controller.abort(
          systemError(
            'LEASE_LOST',
            `the write lease on ${this.prefix} was taken over by another write (this one did not renew it within ${LEASE_MS / 1000} s); this write stops, its journal stays resumable`,
          ),
        );
        return;
      }
      this.body.renewed_at = new Date().toISOString();
      this.body.beat = (this.body.beat ?? 0) + 1;
      await this.store.put(leaseKey(this.prefix, this.gen), JSON.stringify(this.body));
    } catch {
      // A missed renewal is retried at the next tick; the lease is several ticks long.
    }
  }

  /**
   * Gives the lease back. Never throws: a write's own outcome must not be replaced by a failure here (the
   * bucket gone, as it may be when the run failed on it); a lease not given back only makes the next writer
   * on another host wait for it to expire (see acquire's patienceMs).
   */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    await this.renewing;
    if (this.controller.signal.aborted) return;
    try {
      const ours = await readLease(this.store, this.prefix, this.gen);
      if (ours?.owner !== this.body.owner) return;
      await this.store.put(
        leaseKey(this.prefix, this.gen),
        JSON.stringify({ ...this.body, released: true } satisfies LeaseBody),
      );
    } catch {
      // Left to expire.
    }
  }
}

/** `sleep` (a real timer by default) ending early, and quietly, when `signal` aborts. */
function abortable(sleep: AcquireOptions['sleep'], signal: AbortSignal | undefined): (ms: number) => Promise<void> {
  return async (ms) => {
    if (!signal?.aborted) await waitUnlessStopped(sleep ? sleep(ms) : ms, signal);
  };
}

function waiting(held: LeaseBody, seconds: number): string {
  return `waiting up to ${seconds} s for the write lease: pid ${held.pid} on ${held.host} renewed it at ${held.renewed_at}; a stopped pod's lease is taken once it expires, a live writer's is refused as soon as it renews it`;
}

/** A stop request (SIGTERM) while waiting for the lease: nothing was taken or submitted; run again to go on. */
function stoppedWaiting(prefix: string) {
  return transientError(
    'INTERRUPTED',
    `stopped on request while waiting for the write lease ${prefix}; this attempt took no lease and submitted nothing, and the next write goes on from where the destination stands`,
  );
}

const leaseKey = (prefix: string, gen: number) => `${prefix}/${String(gen).padStart(DIGITS, '0')}.json`;

async function generations(store: Store, prefix: string): Promise<number[]> {
  const gens: number[] = [];
  for await (const o of store.list(`${prefix}/`)) {
    const m = GEN_NAME.exec(o.key.slice(prefix.length + 1));
    if (m) gens.push(Number(m[1]));
  }
  return gens.sort((a, b) => a - b);
}

async function readLease(store: Store, prefix: string, gen: number): Promise<LeaseBody | undefined> {
  const bytes = await store.get(leaseKey(prefix, gen));
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as LeaseBody;
  } catch {
    // A lease object nobody can read keeps nobody out for longer than a lease would.
    return { owner: '', pid: 0, host: '', renewed_at: new Date(0).toISOString() };
  }
}

function busy(held: LeaseBody, me: Identity) {
  const where = held.host === me.host ? '' : ` on ${held.host}`;
  return configError(
    'DESTINATION_BUSY',
    `another write (pid ${held.pid}${where}) is using this destination; wait for it to finish or stop it (its journal stays resumable)`,
  );
}

/**
 * Who holds a store lease now, if anyone does (for `status`): a lease given back, expired at `now`, or left
 * on this host by a process that is gone holds nothing.
 */
export async function leaseHolder(
  store: Store,
  prefix: string,
  now: number = Date.now(),
): Promise<{ pid: number; host: string } | undefined> {
  const top = (await generations(store, prefix)).at(-1);
  const held = top === undefined ? undefined : await readLease(store, prefix, top);
  return held && isLive(held, now, { pid: process.pid, host: hostname() })
    ? { pid: held.pid, host: held.host }
    : undefined;
}
