/**
 * The gRPC face of the data node: quire.v1.internal.DataNode. It adapts streams to the
 * DataNode request logic and nothing more: the operation stream is served by
 * serveMultiplexedStream (batched results, bounded operations in flight), and scans respect
 * the client's flow control.
 */
import type { ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import type {
  DataNodeScanRequest,
  DataNodeScanResponse,
  DataNodeServer,
  DataNodeStreamRequest,
  DataNodeStreamResponse,
} from '@quire/proto';
import { operationResultBytes, toErrorInfo, toGrpcStatus, type Limits, type Logger } from '@quire/common';
import { serveMultiplexedStream, writeWithBackpressure } from '@quire/runtime';
import type { DataNode } from '../node.js';

/** Limits of the gRPC adapter. */
export interface DataServiceLimits {
  readonly streamOpsInFlightMax: number;
  readonly limits: Limits;
}

/** Builds the DataNode service implementation. */
export function createDataService(node: DataNode, limits: DataServiceLimits, log: Logger): DataNodeServer {
  return {
    stream(call: ServerDuplexStream<DataNodeStreamRequest, DataNodeStreamResponse>): void {
      serveMultiplexedStream(call, {
        operations: (request) => request.operations,
        response: (results) => ({ results }),
        execute: (op, reply) => node.execute(op, reply),
        errorResult: (id, error) => ({ id, result: { $case: 'error' as const, value: toErrorInfo(error) } }),
        opsInFlightMax: limits.streamOpsInFlightMax,
        batchOpsMax: limits.limits.streamBatchOpsMax,
        resultBytes: operationResultBytes,
        batchBytesMax: limits.limits.streamBatchBytesMax,
        onError: (err) => log.debug('Router stream failed', { err: String(err) }),
      });
    },

    scan(call: ServerWritableStream<DataNodeScanRequest, DataNodeScanResponse>): void {
      node.scan(call.request, (items) => writeWithBackpressure(call, { items }), () => call.cancelled).then(
        () => call.end(),
        (err: unknown) => call.emit('error', toGrpcStatus(err)),
      );
    },
  };
}
