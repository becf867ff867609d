/**
 * The public quire.v1.KV service as routers serve it: unary Get/Put/Delete for simple
 * clients and other languages, the multiplexed Stream the TypeScript client uses, and Scan.
 * Errors leave through the one mapping table (toGrpcStatus) for unary calls and as ErrorInfo
 * per operation on the Stream.
 */
import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type {
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  KVServer,
  KeyValue,
  Operation,
  OperationResult,
  PutRequest,
  PutResponse,
  ScanRequest,
  ScanResponse,
  StreamRequest,
  StreamResponse,
} from '@quire/proto';
import { fromErrorInfo, operationResultBytes, toErrorInfo, toGrpcStatus, type Limits, type Logger } from '@quire/common';
import { serveMultiplexedStream, writeWithBackpressure } from '@quire/runtime';
import type { Router } from '../router.js';

/** Limits of the KV service. */
export interface KvServiceSettings {
  readonly limits: Limits;
  /** Most unanswered operations per client stream. */
  readonly streamOpsInFlightMax: number;
  /** Keys per Scan response message. */
  readonly scanChunkKeysMax: number;
  /** Bytes per Scan response message. */
  readonly scanChunkBytesMax: number;
}

/** Builds the KV service implementation. */
export function createKvService(router: Router, settings: KvServiceSettings, log: Logger): KVServer {
  function unary<Req, Res>(wrap: (request: Req) => Operation['op'], unwrap: (result: OperationResult['result']) => Res | undefined) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      // A unary caller's trace context comes in the call's metadata (W3C traceparent).
      const traceparent = call.metadata.get('traceparent')[0];
      router.execute({ id: 0, op: wrap(call.request), traceparent: typeof traceparent === 'string' ? traceparent : '' }).then(
        (result) => {
          if (result.result?.$case === 'error') return callback(toGrpcStatus(fromErrorInfo(result.result.value)));
          const value = unwrap(result.result);
          if (value === undefined) return callback(toGrpcStatus(new Error('The router produced no result')));
          callback(null, value);
        },
        (err: unknown) => callback(toGrpcStatus(err)),
      );
    };
  }

  return {
    get: unary<GetRequest, GetResponse>(
      (value) => ({ $case: 'get', value }),
      (r) => (r?.$case === 'get' ? r.value : undefined),
    ),
    put: unary<PutRequest, PutResponse>(
      (value) => ({ $case: 'put', value }),
      (r) => (r?.$case === 'put' ? r.value : undefined),
    ),
    delete: unary<DeleteRequest, DeleteResponse>(
      (value) => ({ $case: 'delete', value }),
      (r) => (r?.$case === 'delete' ? r.value : undefined),
    ),

    stream(call: ServerDuplexStream<StreamRequest, StreamResponse>): void {
      serveMultiplexedStream(call, {
        operations: (request) => request.operations,
        response: (results) => ({ results }),
        execute: (op, reply) => void router.execute(op).then(reply),
        errorResult: (id, error) => ({ id, result: { $case: 'error' as const, value: toErrorInfo(error) } }),
        opsInFlightMax: settings.streamOpsInFlightMax,
        batchOpsMax: settings.limits.streamBatchOpsMax,
        resultBytes: operationResultBytes,
        batchBytesMax: settings.limits.streamBatchBytesMax,
        onError: (err) => log.debug('Client stream failed', { err: String(err) }),
      });
    },

    scan(call: ServerWritableStream<ScanRequest, ScanResponse>): void {
      const run = async (): Promise<void> => {
        let items: KeyValue[] = [];
        let bytes = 0;
        const send = async (): Promise<void> => {
          const batch = items;
          items = [];
          bytes = 0;
          await writeWithBackpressure(call, { items: batch });
        };
        for await (const kv of router.scan(call.request)) {
          if (call.cancelled) return;
          items.push(kv);
          bytes += kv.key.length + kv.value.length;
          if (items.length >= settings.scanChunkKeysMax || bytes >= settings.scanChunkBytesMax) await send();
        }
        if (items.length > 0) await send();
      };
      run().then(
        () => call.end(),
        (err: unknown) => call.emit('error', toGrpcStatus(err)),
      );
    },
  };
}
