/**
 * The client side of Quire's operation streams (KV.Stream and DataNode.Stream): a
 * MultiplexedStream over a generated grpc-js client whose request messages carry
 * `operations` and whose responses carry `results` (OperationResult).
 */
import type { ClientDuplexStream, connectivityState } from '@grpc/grpc-js';
import type { OperationResult } from '@quire/proto';
import type { Clock } from '../clock.js';
import { toErrorInfo } from '../errors/grpc-status.js';
import { MultiplexedStream, type MultiplexedStreamSettings } from './multiplexed-stream.js';

/** The parts of a generated grpc-js client an operation stream uses. */
export interface OperationStreamClient<Op, Req extends { operations: Op[] }, Res extends { results: OperationResult[] }> {
  waitForReady(deadline: Date, callback: (error?: Error) => void): void;
  stream(): ClientDuplexStream<Req, Res>;
  getChannel(): { getConnectivityState(tryToConnect: boolean): connectivityState };
}

/** The shape of KV and data node operations: a oneof of get, put and delete requests. */
interface KeyValueOperation {
  readonly op?: { readonly value: { readonly key: Uint8Array; readonly value?: Uint8Array } } | undefined;
}

/** Payload bytes of an operation: its key and value. */
export function operationPayloadBytes(op: KeyValueOperation): number {
  const request = op.op?.value;
  return request === undefined ? 0 : request.key.length + (request.value?.length ?? 0);
}

/** Payload bytes of a result: a read value (other results are a few bytes). */
export function operationResultBytes(result: OperationResult): number {
  return result.result?.$case === 'get' ? result.result.value.value.length : 0;
}

/** Creates the multiplexed operation stream of a KV or DataNode client. */
export function createOperationStream<Op extends { id: number } & KeyValueOperation, Req extends { operations: Op[] }, Res extends { results: OperationResult[] }>(
  client: OperationStreamClient<Op, Req, Res>,
  settings: MultiplexedStreamSettings,
  clock: Clock,
  onStreamFailed?: (inFlightLost: number, err: unknown) => void,
): MultiplexedStream<Op, OperationResult, Req, Res> {
  return new MultiplexedStream<Op, OperationResult, Req, Res>(
    {
      waitForReady: (deadline, callback) => client.waitForReady(deadline, callback),
      openStream: () => client.stream(),
      connectivityState: () => client.getChannel().getConnectivityState(false),
    },
    {
      request: (operations) => ({ operations }) as Req,
      results: (response) => response.results,
      error: (id, error) => ({ id, result: { $case: 'error', value: toErrorInfo(error) } }),
      payloadBytes: operationPayloadBytes,
    },
    settings,
    clock,
    onStreamFailed,
  );
}
