import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { AirbyteMessage } from '../protocol/messages.js';
import { InputError, parseMessage, readLineBatches } from '../protocol/reader.js';

export interface InputHandlers {
  /** Each parsed message, with its line (number and text as it came). */
  message(message: AirbyteMessage, line: { lineNumber: number; text: string }): Promise<void> | void;
  /** A line that is not a usable message. */
  reject(err: InputError): Promise<void>;
}

/** Reads the protocol stream line by line until it ends or `signal` aborts (then the input is destroyed). */
export async function readInput(input: Readable, signal: AbortSignal, on: InputHandlers): Promise<void> {
  const onAbort = () => input.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    reading: for await (const lines of readLineBatches(input)) {
      for (const line of lines) {
        if (signal.aborted) break reading;
        let message;
        try {
          message = parseMessage(line);
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          await on.reject(err);
          continue;
        }
        if (message) await on.message(message, line);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Stdin lines that are not usable messages: tolerated up to max_bad_records, each listed in rejected.jsonl. */
export class BadLines {
  private count = 0;

  constructor(
    private readonly maxBadRecords: number,
    private readonly runDir: string,
    private readonly log: (message: string) => Promise<void>,
  ) {}

  async reject(err: InputError): Promise<void> {
    this.count++;
    if (this.count > this.maxBadRecords) {
      const limit = this.maxBadRecords;
      throw new InputError(
        err.kind,
        err.lineNumber,
        `${err.message.replace(/^stdin line \d+: /, '')}${limit > 0 ? ` (more than max_bad_records = ${limit} bad lines)` : ' (set max_bad_records to skip such lines)'}`,
      );
    }
    const entry = { line: err.lineNumber, kind: err.kind, message: err.message };
    await appendFile(join(this.runDir, 'rejected.jsonl'), JSON.stringify(entry) + '\n', { mode: 0o600 });
    await this.log(`${err.message}; skipped (${this.count} of at most ${this.maxBadRecords} bad lines)`);
  }
}
