/**
 * Flow control for server-streaming responses: write a message and, when gRPC's buffer is
 * full, wait until it drains (or the call is cancelled) before producing more, so a slow
 * reader bounds the server's memory instead of growing it.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';

/** Writes `message`; resolves at once if there is room, else when the stream drains or is cancelled. */
export async function writeWithBackpressure<Req, Res>(call: ServerWritableStream<Req, Res>, message: Res): Promise<void> {
  if (call.write(message) || call.cancelled) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}
