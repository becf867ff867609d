/**
 * The single place where gRPC servers are created, bound and shut down, so transport security
 * (mTLS, planned) slots in here and in @quire/common's grpc/channels.ts and nowhere else.
 * Options are explicit rather than library defaults: message size limits follow the request
 * limits, and keepalive matches the channels' so dead peers are found within seconds.
 */
import { Server, ServerCredentials, type ServerOptions } from '@grpc/grpc-js';
import { grpcKeepaliveTimeMs, grpcKeepaliveTimeoutMs, grpcMessageBytesMax } from '@quire/common';

/** Options every Quire gRPC server uses. */
export const grpcServerOptions: ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': grpcMessageBytesMax,
  'grpc.max_send_message_length': grpcMessageBytesMax,
  'grpc.keepalive_time_ms': grpcKeepaliveTimeMs,
  'grpc.keepalive_timeout_ms': grpcKeepaliveTimeoutMs,
  'grpc.keepalive_permit_without_calls': 1,
  // Clients ping every grpcKeepaliveTimeMs; allow it so servers do not send GOAWAY(too_many_pings).
  'grpc.http2.min_ping_interval_without_data_ms': grpcKeepaliveTimeMs / 2,
});

/** Creates a server with the standard options. */
export function createGrpcServer(): Server {
  return new Server(grpcServerOptions);
}

/** Binds `server` to host:port (port 0 picks a free one) and returns the bound host:port. */
export async function bindGrpcServer(server: Server, address: string): Promise<string> {
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  const host = address.slice(0, address.lastIndexOf(':'));
  return `${host}:${port}`;
}

/** Stops accepting calls, waits up to `graceMs` for running ones, then cancels the rest. */
export async function shutdownGrpcServer(server: Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
