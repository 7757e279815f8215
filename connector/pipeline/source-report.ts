import type { ConfiguredStream } from '../config/catalog.js';
import { streamKey, type AirbyteTrace, type StreamDescriptor } from '../protocol/messages.js';

/**
 * What the source said about itself on stdin: an ERROR trace, or streams it reported INCOMPLETE. The end of
 * the input then does not mean a stream is complete, and overwrite must not drop its older complete data.
 */
export class SourceReport {
  failed = false;
  private readonly incomplete = new Set<string>();

  /** Notes a source TRACE; returns whether it is one transform mode passes on (ERROR, STREAM_STATUS). */
  noteTrace(trace: AirbyteTrace | undefined): boolean {
    if (typeof trace !== 'object' || trace === null) return false;
    if (trace.type === 'ERROR') this.failed = true;
    else if (trace.type === 'STREAM_STATUS' && trace.stream_status?.status === 'INCOMPLETE') {
      const descriptor = trace.stream_status.stream_descriptor as StreamDescriptor | undefined;
      if (descriptor && typeof descriptor.name === 'string') this.incomplete.add(streamKey(descriptor));
    }
    return trace.type === 'ERROR' || trace.type === 'STREAM_STATUS';
  }

  /** Whether this run may not have all of the stream's data. */
  partial(stream: ConfiguredStream): boolean {
    return this.failed || this.incomplete.has(streamKey(stream));
  }

  /** Why older data was kept, for the log. */
  get why(): string {
    return this.failed ? 'the source reported an error' : 'the source reported them incomplete';
  }
}
