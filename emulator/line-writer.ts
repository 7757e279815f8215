import { open, type FileHandle } from 'node:fs/promises';

/** Results are written in pieces of this many bytes. */
const CHUNK_BYTES = 128 * 1024;

/**
 * Lines into a file, each encoded on its own into one of two buffers: one fills while the other is written.
 * Encoding a long string concatenated from many lines costs several times more (it is flattened first), and a
 * fresh buffer per write costs page faults and garbage collection.
 */
export class LineWriter {
  private buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private spare = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private used = 0;
  /** The write of the spare buffer, if one is under way. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: FileHandle) {}

  static async open(path: string): Promise<LineWriter> {
    return new LineWriter(await open(path, 'w', 0o600));
  }

  /**
   * Adds a line, `text` + `middle` + `asciiTail` and a newline (in three parts: the text of an answer is often
   * two-byte, and the rest encodes faster on its own); a promise to wait for when the line had to wait for a buffer.
   */
  line(text: string, middle = '', asciiTail = ''): Promise<void> | undefined {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (this.used + (text.length + middle.length + asciiTail.length) * 3 + 1 > CHUNK_BYTES)
      return this.spill(text, middle, asciiTail);
    this.put(text, middle, asciiTail);
    return undefined;
  }

  /** Writes what is left and closes the file (also after a failure). */
  async end(): Promise<void> {
    try {
      await this.writing;
      this.flush();
      await this.writing;
    } finally {
      await this.file.close();
    }
  }

  private put(text: string, middle: string, asciiTail: string): void {
    this.used += this.buffer.write(text, this.used);
    if (middle.length > 0) this.used += this.buffer.write(middle, this.used);
    if (asciiTail.length > 0) this.used += this.buffer.write(asciiTail, this.used, 'latin1');
    this.buffer[this.used++] = 0x0a;
  }

  private async spill(text: string, middle: string, asciiTail: string): Promise<void> {
    await this.writing;
    this.flush();
    if ((text.length + middle.length + asciiTail.length) * 3 + 1 <= CHUNK_BYTES)
      return this.put(text, middle, asciiTail);
    // A line longer than a buffer goes on its own.
    await this.writing;
    this.start(Buffer.from(`${text}${middle}${asciiTail}\n`));
  }

  /** Starts writing the filled buffer (the previous write must be over) and fills the other one from now on. */
  private flush(): void {
    if (this.used === 0) return;
    const full = this.buffer.subarray(0, this.used);
    [this.buffer, this.spare] = [this.spare, this.buffer];
    this.used = 0;
    this.start(full);
  }

  private start(bytes: Buffer): void {
    this.writing = this.writeAll(bytes);
    // A failure surfaces where `writing` is awaited next, not as an unhandled rejection meanwhile.
    this.writing.catch(() => undefined);
  }

  private async writeAll(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length;) at += (await this.file.write(bytes, at, bytes.length - at)).bytesWritten;
  }
}
