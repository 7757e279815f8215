import type { MessageWriter } from '../protocol/writer.js';

/**
 * Everything a write sends on stdout (LOG, TRACE, STATE, and RECORD in transform mode) goes through one
 * chain, so messages from concurrent batches keep the order they were released in.
 */
export class MessageEmitter {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly writer: MessageWriter) {}

  /** Queues `send` after everything emitted so far. */
  emit(send: (writer: MessageWriter) => Promise<void>): void {
    this.chain = this.chain.then(() => send(this.writer));
  }

  /** Queues a LOG; resolves once it (and everything before it) is out. */
  log(level: 'INFO' | 'WARN', message: string): Promise<void> {
    this.emit((w) => w.log(level, message));
    return this.chain;
  }

  /** Resolves once everything emitted so far is out (rejects if a send failed). */
  flushed(): Promise<void> {
    return this.chain;
  }
}
