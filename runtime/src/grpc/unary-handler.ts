/**
 * A unary gRPC handler around request logic: it runs the body (synchronous or not), answers
 * with its result or with the error mapped to a gRPC status (toGrpcStatus, the one mapping),
 * and records the call's outcome code and latency in the component's RpcMetrics.
 */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { errorCodeMetadataKey, toGrpcStatus, type Clock } from '@quire/common';
import type { RpcMetrics } from '../metrics/metrics.js';

/** Returns a unary handler that answers with `body`'s result and records `method`'s outcome. */
export function recordedUnaryHandler<Req, Res>(
  metrics: RpcMetrics,
  clock: Clock,
  method: string,
  body: (call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const startedMs = clock.monotonicMs();
    const fail = (err: unknown): void => {
      const status = toGrpcStatus(err);
      metrics.record(method, status.metadata.get(errorCodeMetadataKey)[0]?.toString() ?? 'INTERNAL', clock.monotonicMs() - startedMs);
      callback(status);
    };
    const answer = (response: Res): void => {
      metrics.record(method, 'OK', clock.monotonicMs() - startedMs);
      callback(null, response);
    };
    let result: Res | Promise<Res>;
    try {
      result = body(call);
    } catch (err) {
      fail(err);
      return;
    }
    if (result instanceof Promise) result.then(answer, fail);
    else answer(result);
  };
}
