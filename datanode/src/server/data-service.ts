/**
 * The gRPC face of the data node: quire.v1.internal.DataNode. It adapts streams to the
 * DataNode request logic and nothing more: results of one event-loop turn leave in one
 * message, the number of unanswered operations per stream is bounded, and scans respect the
 * client's flow control.
 */
import type { ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import type {
  DataNodeScanRequest,
  DataNodeScanResponse,
  DataNodeServer,
  DataNodeStreamRequest,
  DataNodeStreamResponse,
  OperationResult,
} from '@quire/proto';
import { MicroBatcher, OverloadedError, isMalformed, malformedError, toErrorInfo, toGrpcStatus, type Limits, type Logger } from '@quire/common';
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
      let inFlight = 0;
      let ended = false;
      const out = new MicroBatcher<OperationResult>((results) => {
        if (!call.destroyed) call.write({ results });
      }, limits.limits.streamBatchOpsMax);
      const finishIfDone = (): void => {
        if (ended && inFlight === 0) {
          out.flushNow();
          call.end();
        }
      };
      const reply = (result: OperationResult): void => {
        inFlight--;
        out.push(result);
        if (ended) finishIfDone();
      };
      call.on('data', (req: DataNodeStreamRequest) => {
        if (isMalformed(req)) {
          call.emit('error', toGrpcStatus(malformedError(req)));
          return;
        }
        for (const op of req.operations) {
          if (inFlight >= limits.streamOpsInFlightMax) {
            const err = new OverloadedError(`More than ${limits.streamOpsInFlightMax} operations in flight on one stream`, {
              retryAfterMs: 10,
              limit: limits.streamOpsInFlightMax,
            });
            out.push({ id: op.id, result: { $case: 'error', value: toErrorInfo(err) } });
            continue;
          }
          inFlight++;
          node.execute(op, reply);
        }
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
      call.on('error', (err) => log.debug('Router stream failed', { err: String(err) }));
    },

    scan(call: ServerWritableStream<DataNodeScanRequest, DataNodeScanResponse>): void {
      const sink = (items: DataNodeScanResponse['items']): Promise<void> | undefined => {
        if (call.write({ items })) return undefined;
        return new Promise<void>((resolve) => {
          const done = (): void => {
            call.off('drain', done);
            call.off('cancelled', done);
            resolve();
          };
          call.on('drain', done);
          call.on('cancelled', done);
        });
      };
      node.scan(call.request, sink, () => call.cancelled).then(
        () => call.end(),
        (err: unknown) => call.emit('error', toGrpcStatus(err)),
      );
    },
  };
}
