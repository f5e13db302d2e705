import type { ServiceDefinition } from '@grpc/grpc-js';
import { withSharedResponseEncoding } from '../src';

/** A definition shaped like a generated one, whose serializer counts its calls. */
function definition() {
  let encodes = 0;
  const def = {
    subscribeBlocks: {
      path: '/t.S/SubscribeBlocks',
      requestStream: false,
      responseStream: true,
      requestSerialize: (v: object) => Buffer.from(JSON.stringify(v)),
      requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as object,
      responseSerialize: (v: { height: number }) => {
        encodes += 1;
        return Buffer.from(JSON.stringify(v));
      },
      responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as object,
    },
    getBlock: {
      path: '/t.S/GetBlock',
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: object) => Buffer.from(JSON.stringify(v)),
      requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as object,
      responseSerialize: (v: object) => Buffer.from(JSON.stringify(v)),
      responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as object,
    },
  };
  return { def: def as unknown as ServiceDefinition & typeof def, encodes: () => encodes };
}

describe('withSharedResponseEncoding', () => {
  it('encodes one response object once for any number of streams, and each object on its own', () => {
    const { def, encodes } = definition();
    const shared = withSharedResponseEncoding(def, 'subscribeBlocks');
    const a = { height: 1 };
    const b = { height: 2 };
    const first = shared.subscribeBlocks.responseSerialize(a);
    expect(shared.subscribeBlocks.responseSerialize(a)).toBe(first);
    expect(shared.subscribeBlocks.responseSerialize(a)).toBe(first);
    expect(encodes()).toBe(1);
    expect(JSON.parse(shared.subscribeBlocks.responseSerialize(b).toString())).toEqual(b);
    expect(encodes()).toBe(2);
    // The original definition and the other methods are left as they were.
    expect(def.subscribeBlocks.responseSerialize(a)).not.toBe(first);
    expect(shared.getBlock).toBe(def.getBlock);
  });

  it('refuses a method the definition does not have', () => {
    const { def } = definition();
    expect(() => withSharedResponseEncoding(def, 'subscribeTransactions' as never)).toThrow(/no method subscribeTransactions/);
  });
});
