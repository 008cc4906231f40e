// Temporal's default payload converter, as the TypeScript SDK has it:
// undefined/null as binary/null, Uint8Array as binary/plain, everything else
// as JSON (json/plain).
import type { Payload } from 'activity-host:plugin/context@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ENCODING = 'encoding';

function payload(encoding: string, data: Uint8Array): Payload {
  return { metadata: [[ENCODING, encoder.encode(encoding)]], data };
}

/** An argument not yet decoded, as a dynamic activity receives them. */
export interface RawValue {
  readonly payload: Payload;
}

export class PayloadConverterError extends Error {
  public readonly name = 'PayloadConverterError';
}

export interface PayloadConverter {
  toPayload(value: unknown): Payload;
  fromPayload<T>(payload: Payload): T;
}

export const defaultPayloadConverter: PayloadConverter = {
  toPayload(value: unknown): Payload {
    if (value === undefined || value === null) return payload('binary/null', new Uint8Array());
    if (value instanceof Uint8Array) return payload('binary/plain', value);
    const json = JSON.stringify(value);
    if (json === undefined) throw new PayloadConverterError(`cannot encode a ${typeof value} as JSON`);
    return payload('json/plain', encoder.encode(json));
  },
  fromPayload<T>(p: Payload): T {
    const entry = p.metadata.find(([key]) => key === ENCODING);
    if (!entry) throw new PayloadConverterError('payload has no encoding metadata');
    const encoding = decoder.decode(entry[1]);
    switch (encoding) {
      case 'binary/null':
        return undefined as T;
      case 'binary/plain':
        return p.data as T;
      case 'json/plain':
      case 'json/protobuf':
        return JSON.parse(decoder.decode(p.data)) as T;
      default:
        throw new PayloadConverterError(`unknown payload encoding ${encoding}`);
    }
  },
};
