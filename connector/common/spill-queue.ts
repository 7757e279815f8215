import { closeSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const WRITE_CHUNK = 256 * 1024;
const READ_CHUNK = 1024 * 1024;

/**
 * A first-in first-out queue that keeps up to `maxMemoryBytes` of items in memory and the rest in a file,
 * read back in order as the head drains. Items must survive JSON.stringify/parse. Once anything is on disk,
 * new items go to disk behind it until the file is read back empty, so order is kept.
 */
export class SpillQueue<T> {
  private head: T[] = [];
  private headStart = 0;
  private memoryBytes = 0;
  private fd: number | undefined;
  private onDisk = 0;
  private readPos = 0;
  private writePos = 0;
  private unwritten: string[] = [];
  private unwrittenBytes = 0;

  constructor(
    /** Where items beyond the memory budget go; none: everything stays in memory. */
    private readonly path: string | undefined,
    private readonly maxMemoryBytes: number,
    /** An item's approximate size in memory, in bytes. */
    private readonly sizeOf: (item: T) => number,
  ) {}

  get length(): number {
    return this.head.length - this.headStart + this.onDisk;
  }

  push(item: T): void {
    const bytes = this.sizeOf(item);
    if (this.onDisk === 0 && (this.path === undefined || this.memoryBytes + bytes <= this.maxMemoryBytes)) {
      this.head.push(item);
      this.memoryBytes += bytes;
      return;
    }
    const line = JSON.stringify(item) + '\n';
    this.unwritten.push(line);
    this.unwrittenBytes += Buffer.byteLength(line);
    this.onDisk++;
    if (this.unwrittenBytes >= WRITE_CHUNK) this.flush();
  }

  peek(): T | undefined {
    if (this.headStart === this.head.length && this.onDisk > 0) this.refill();
    return this.head[this.headStart];
  }

  shift(): T | undefined {
    const item = this.peek();
    if (item === undefined) return undefined;
    this.head[this.headStart++] = undefined as T;
    this.memoryBytes -= this.sizeOf(item);
    if (this.headStart === this.head.length) {
      this.head = [];
      this.headStart = 0;
    }
    return item;
  }

  /** Removes the file; the queue is not used afterwards. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.path !== undefined) rmSync(this.path, { force: true });
  }

  private flush(): void {
    if (!this.unwritten.length) return;
    // Opened (and emptied) on first use: a file left by a killed process holds nothing anyone waits for.
    this.fd ??= openSync(this.path!, 'w+', 0o600);
    const chunk = Buffer.from(this.unwritten.join(''));
    this.unwritten = [];
    this.unwrittenBytes = 0;
    for (let done = 0; done < chunk.length;)
      done += writeSync(this.fd, chunk, done, chunk.length - done, this.writePos + done);
    this.writePos += chunk.length;
  }

  /** Loads the next ~1 MB of items (at least one) from the file into the empty head. */
  private refill(): void {
    this.flush();
    let buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.writePos - this.readPos));
    let read = 0;
    let lastNewline = -1;
    // Read until at least one whole line is in: a held message can be as long as an input line.
    while (lastNewline === -1) {
      if (read === buffer.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, this.writePos - this.readPos));
        buffer.copy(bigger, 0, 0, read);
        buffer = bigger;
      }
      read += readSync(this.fd!, buffer, read, buffer.length - read, this.readPos + read);
      lastNewline = buffer.lastIndexOf(0x0a, read - 1);
    }
    const text = buffer.toString('utf8', 0, lastNewline);
    this.readPos += lastNewline + 1;
    for (const line of text.split('\n')) {
      const item = JSON.parse(line) as T;
      this.head.push(item);
      this.memoryBytes += this.sizeOf(item);
      this.onDisk--;
    }
    if (this.onDisk === 0) {
      ftruncateSync(this.fd!, 0);
      this.readPos = 0;
      this.writePos = 0;
    }
  }
}
