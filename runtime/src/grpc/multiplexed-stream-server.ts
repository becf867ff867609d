/**
 * The server side of a multiplexed operation stream (KV.Stream on routers, DataNode.Stream on
 * data nodes): every operation in a request message is executed, results of one event-loop
 * turn leave in one response message, the number of unanswered operations per stream is
 * bounded (beyond it an operation is answered OVERLOADED at once), an undecodable message
 * ends the stream with INVALID_ARGUMENT, and the stream is closed only after the last
 * result has left.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { OverloadedError, type QuireError, toGrpcStatus, MicroBatcher } from '@quire/common';
import { isMalformed, malformedError } from './malformed.js';

/** How to serve one multiplexed stream. */
export interface MultiplexedServerOptions<Op extends { id: number }, Result, Req, Res> {
  /** The operations in a request message. */
  operations(request: Req): readonly Op[];
  /** Wraps a batch of results in a response message. */
  response(results: Result[]): Res;
  /** Executes one operation; calls `reply` exactly once, now or later. */
  execute(op: Op, reply: (result: Result) => void): void;
  /** The result that reports `error` for operation `id`. */
  errorResult(id: number, error: QuireError): Result;
  /** Most unanswered operations on this stream. */
  readonly opsInFlightMax: number;
  /** Most results per response message. */
  readonly batchOpsMax: number;
  /** Payload bytes of a result (read values), for the byte bound on response messages. */
  resultBytes(result: Result): number;
  /** Most payload bytes per response message. */
  readonly batchBytesMax: number;
  /** Called when the peer's side of the stream fails. */
  onError(err: unknown): void;
}

/** Serves one multiplexed stream until the peer ends it and every result has left. */
export function serveMultiplexedStream<Op extends { id: number }, Result, Req, Res>(
  call: ServerDuplexStream<Req, Res>,
  options: MultiplexedServerOptions<Op, Result, Req, Res>,
): void {
  let inFlight = 0;
  let ended = false;
  const out = new MicroBatcher<Result>(
    (results) => {
      if (!call.destroyed) call.write(options.response(results));
    },
    options.batchOpsMax,
    setImmediate,
    { bytesOf: (r) => options.resultBytes(r), bytesMax: options.batchBytesMax },
  );
  const finishIfDone = (): void => {
    if (ended && inFlight === 0) {
      out.flushNow();
      call.end();
    }
  };
  const reply = (result: Result): void => {
    inFlight--;
    out.push(result);
    if (ended) finishIfDone();
  };
  call.on('data', (request: Req) => {
    if (isMalformed(request)) {
      call.emit('error', toGrpcStatus(malformedError(request)));
      return;
    }
    for (const op of options.operations(request)) {
      if (inFlight >= options.opsInFlightMax) {
        const err = new OverloadedError(`More than ${options.opsInFlightMax} operations are in flight on one stream`, {
          retryAfterMs: 10,
          limit: options.opsInFlightMax,
        });
        out.push(options.errorResult(op.id, err));
        continue;
      }
      inFlight++;
      options.execute(op, reply);
    }
  });
  call.on('end', () => {
    ended = true;
    finishIfDone();
  });
  call.on('error', (err) => options.onError(err));
}
