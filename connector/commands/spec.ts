import { connectorSpecification } from '../config/spec.js';
import type { MessageWriter } from '../protocol/writer.js';

export async function specCommand(writer: MessageWriter): Promise<void> {
  await writer.emit({ type: 'SPEC', spec: connectorSpecification as unknown as Record<string, unknown> });
}
