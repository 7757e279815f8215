import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { redact } from '../common/errors.js';
import type { AirbyteMessage, AirbyteStateMessage, FailureTypeName } from './messages.js';

/**
 * Writes protocol messages, one JSON object per line. Every line passes through redact() so no secret can
 * reach the platform, and write() awaits 'drain' so a slow reader of stdout slows us down instead of
 * growing an in-memory queue.
 */
export class MessageWriter {
  private diagnostics: Writable | undefined;

  constructor(private readonly out: Writable) {}

  /**
   * Transform mode: stdout carries RECORD and STATE for the next destination, and ERROR traces, which the
   * platform running us needs (failure_type) and the next destination reads as "the input was not whole";
   * LOG and the other traces go here.
   */
  divertDiagnostics(to: Writable): void {
    this.diagnostics = to;
  }

  async emit(message: AirbyteMessage): Promise<void> {
    const line = redact(JSON.stringify(message)) + '\n';
    const diagnostic = message.type === 'LOG' || (message.type === 'TRACE' && message.trace.type !== 'ERROR');
    const target = this.diagnostics && diagnostic ? this.diagnostics : this.out;
    if (!target.write(line)) await once(target, 'drain');
  }

  /**
   * A line already serialised (an echoed STATE, a passed-on TRACE, a transform RECORD): written as it is, to stdout
   * even in transform mode, where it belongs to the stream the next destination reads.
   */
  async line(text: string): Promise<void> {
    if (!this.out.write(redact(text) + '\n')) await once(this.out, 'drain');
  }

  log(level: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG', message: string): Promise<void> {
    return this.emit({ type: 'LOG', log: { level, message } });
  }

  state(state: AirbyteStateMessage): Promise<void> {
    return this.emit({ type: 'STATE', state });
  }

  traceError(message: string, failureType: FailureTypeName, internal?: string, stack?: string): Promise<void> {
    return this.emit({
      type: 'TRACE',
      trace: {
        type: 'ERROR',
        emitted_at: Date.now(),
        error: {
          message,
          failure_type: failureType,
          ...(internal ? { internal_message: internal } : {}),
          ...(stack ? { stack_trace: stack } : {}),
        },
      },
    });
  }
}
