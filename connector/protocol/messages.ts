/** The subset of the Airbyte protocol a destination reads and writes (airbyte_protocol.yaml). */

export interface StreamDescriptor {
  name: string;
  namespace?: string | null;
}

export interface AirbyteRecord {
  stream: string;
  namespace?: string | null;
  data: Record<string, unknown>;
  emitted_at: number;
  meta?: { changes?: unknown[] };
}

export interface AirbyteStateMessage {
  type?: 'STREAM' | 'GLOBAL' | 'LEGACY';
  stream?: { stream_descriptor: StreamDescriptor; stream_state?: unknown };
  global?: unknown;
  data?: unknown;
  sourceStats?: { recordCount?: number };
  destinationStats?: { recordCount?: number };
  [key: string]: unknown;
}

export type FailureTypeName = 'config_error' | 'system_error' | 'transient_error';

export type AirbyteMessage =
  | { type: 'RECORD'; record: AirbyteRecord }
  | { type: 'STATE'; state: AirbyteStateMessage }
  | { type: 'LOG'; log: { level: 'FATAL' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE'; message: string } }
  | { type: 'SPEC'; spec: Record<string, unknown> }
  | { type: 'CONNECTION_STATUS'; connectionStatus: { status: 'SUCCEEDED' | 'FAILED'; message?: string } }
  | { type: 'TRACE'; trace: AirbyteTrace };

export type AirbyteTrace =
  | {
      type: 'ERROR';
      emitted_at: number;
      error: { message: string; internal_message?: string; stack_trace?: string; failure_type: FailureTypeName };
    }
  | { type: 'ESTIMATE'; emitted_at: number; estimate: Record<string, unknown> }
  | { type: 'STREAM_STATUS'; emitted_at: number; stream_status: Record<string, unknown> };

/** Key for per-stream bookkeeping: namespace and name, unambiguous even when either contains a dot. */
export function streamKey(stream: StreamDescriptor): string {
  // An empty namespace is no namespace (the catalog and the platform read it so).
  const namespace = stream.namespace || null;
  // Asked several times per record, nearly always for the stream of the record before.
  if (stream.name === last.name && namespace === last.namespace) return last.key;
  const key = JSON.stringify([namespace, stream.name]);
  last = { name: stream.name, namespace, key };
  return key;
}

let last: { name: unknown; namespace: unknown; key: string } = { name: undefined, namespace: undefined, key: '' };

/** Why a line of stdin is not a usable message (protocol/reader.ts InputError.kind). */
export type InputErrorKind =
  | 'not_json'
  | 'not_object'
  | 'no_type'
  | 'unknown_type'
  | 'record_without_data'
  | 'record_data_not_object'
  | 'invalid_utf8'
  | 'nul_byte'
  | 'line_too_long'
  | 'truncated_line'
  | 'too_deeply_nested';
