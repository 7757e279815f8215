// A Store that passes every call to another, except that calls to a held method wait until the test releases
// them: tests order events by these signals, never by sleeping.
import type { Store, StoredObject } from '../../connector/storage/store.js';

type Method = 'put' | 'putIfAbsent' | 'get' | 'publishFile';

export class GatedStore implements Store {
  readonly kind: Store['kind'];
  readonly location: string;
  private readonly gates = new Map<
    Method,
    { open: Promise<void>; release: () => void; waiting: number; arrived: Array<() => void> }
  >();

  constructor(readonly inner: Store) {
    this.kind = inner.kind;
    this.location = inner.location;
  }

  /** Calls to `method` from now on wait for release(). */
  hold(method: Method): void {
    let release!: () => void;
    const open = new Promise<void>((resolve) => (release = resolve));
    this.gates.set(method, { open, release, waiting: 0, arrived: [] });
  }

  /** Resolves once `count` calls wait at `method`'s gate. */
  reached(method: Method, count = 1): Promise<void> {
    const gate = this.gates.get(method)!;
    if (gate.waiting >= count) return Promise.resolve();
    return new Promise((resolve) => gate.arrived.push(() => gate.waiting >= count && resolve()));
  }

  release(method: Method): void {
    const gate = this.gates.get(method);
    this.gates.delete(method);
    gate?.release();
  }

  private async pass(method: Method): Promise<void> {
    const gate = this.gates.get(method);
    if (!gate) return;
    gate.waiting++;
    for (const notify of gate.arrived) notify();
    await gate.open;
  }

  async publishFile(localPath: string, key: string): Promise<void> {
    await this.pass('publishFile');
    return this.inner.publishFile(localPath, key);
  }
  async put(key: string, body: string | Uint8Array): Promise<void> {
    await this.pass('put');
    return this.inner.put(key, body);
  }
  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    await this.pass('putIfAbsent');
    return this.inner.putIfAbsent(key, body);
  }
  async get(key: string): Promise<Buffer | undefined> {
    await this.pass('get');
    return this.inner.get(key);
  }
  download(key: string, localPath: string): Promise<boolean> {
    return this.inner.download(key, localPath);
  }
  list(prefix: string): AsyncIterable<StoredObject> {
    return this.inner.list(prefix);
  }
  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }
}
