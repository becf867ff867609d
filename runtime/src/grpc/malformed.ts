/**
 * Undecodable requests. grpc-js answers a request whose bytes do not decode with INTERNAL;
 * Quire answers INVALID_ARGUMENT naming the message type, because the fault is the caller's.
 * guardService wraps a generated service definition so that decoding never throws: a bad
 * message becomes a MalformedRequest marker, which unary and server-streaming handlers
 * answer automatically, and bidirectional-stream handlers check with isMalformed().
 */
import type {
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerWritableStream,
  ServerUnaryCall,
  sendUnaryData,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { InvalidArgumentError, toGrpcStatus } from '@quire/common';

const malformedTag: unique symbol = Symbol('quire.malformedRequest');

/** What a request decodes to when its bytes are not a valid message. */
export interface MalformedRequest {
  readonly [malformedTag]: InvalidArgumentError;
}

/** Whether a decoded request is the malformed marker. */
export function isMalformed(request: unknown): request is MalformedRequest {
  return typeof request === 'object' && request !== null && malformedTag in request;
}

/** The INVALID_ARGUMENT error a malformed request carries. */
export function malformedError(request: MalformedRequest): InvalidArgumentError {
  return request[malformedTag];
}

/** The parts of a generated method definition the guard reads. */
interface GuardedMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
}

/**
 * Returns the service definition and implementation to register: decoding never throws, and
 * unary and server-streaming calls with malformed requests are answered INVALID_ARGUMENT
 * without reaching the implementation.
 */
export function guardService<D extends { readonly [K in keyof D]: GuardedMethod }>(
  definition: D,
  implementation: UntypedServiceImplementation,
): [D, UntypedServiceImplementation] {
  const guardedDefinition: Record<string, GuardedMethod> = {};
  const guardedImplementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition) as [string, GuardedMethod][]) {
    const messageName = method.path.split('/').pop() ?? method.path;
    guardedDefinition[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          const marker: MalformedRequest = {
            [malformedTag]: new InvalidArgumentError(`The ${messageName} request is not a valid protobuf message: ${(err as Error).message}`, {
              field: 'request',
            }),
          };
          return marker;
        }
      },
    };
    const handler = implementation[name];
    if (handler === undefined) continue;
    if (!method.requestStream && !method.responseStream) {
      const unary = handler as handleUnaryCall<unknown, unknown>;
      guardedImplementation[name] = ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        if (isMalformed(call.request)) return callback(toGrpcStatus(malformedError(call.request)));
        unary(call, callback);
      }) as handleUnaryCall<unknown, unknown>;
    } else if (!method.requestStream) {
      const streaming = handler as handleServerStreamingCall<unknown, unknown>;
      guardedImplementation[name] = ((call: ServerWritableStream<unknown, unknown>) => {
        if (isMalformed(call.request)) {
          call.emit('error', toGrpcStatus(malformedError(call.request)));
          return;
        }
        streaming(call);
      }) as handleServerStreamingCall<unknown, unknown>;
    } else {
      guardedImplementation[name] = handler as handleBidiStreamingCall<unknown, unknown>;
    }
  }
  return [guardedDefinition as unknown as D, guardedImplementation];
}
