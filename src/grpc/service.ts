/**
 * Glue between protobuf-es descriptors (src/gen) and @grpc/grpc-js: builds a
 * grpc-js ServiceDefinition from a GenService so servers and clients use the
 * generated message types directly, with no second codegen.
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

type AnyMethods = GenServiceMethods;

export type GrpcServiceDefinition<T extends AnyMethods> = ServiceDefinition & {
  [K in keyof T]: MethodDefinition<MessageShape<T[K]['input']>, MessageShape<T[K]['output']>>;
};

function codec<D extends DescMessage>(schema: D) {
  return {
    serialize: (m: MessageShape<D>): Buffer => Buffer.from(toBinary(schema, m)),
    deserialize: (b: Buffer): MessageShape<D> => fromBinary(schema, b),
  };
}

/** A grpc-js service definition keyed by the method's local name (e.g. `createCertificate`). */
export function grpcService<T extends AnyMethods>(
  service: GenService<T>,
): GrpcServiceDefinition<T> {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const input = codec(method.input);
    const output = codec(method.output);
    def[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream:
        method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream:
        method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: input.serialize as (m: unknown) => Buffer,
      requestDeserialize: input.deserialize,
      responseSerialize: output.serialize as (m: unknown) => Buffer,
      responseDeserialize: output.deserialize,
      originalName: method.name,
    };
  }
  return def as GrpcServiceDefinition<T>;
}
