/**
 * The single place where gRPC servers and client channels are created, so transport
 * security (mTLS, planned) slots in here and nowhere else. Options are explicit rather than
 * library defaults: message size limits follow the request limits, keepalive detects dead
 * peers within seconds, and reconnect backoff is short because peers restart quickly.
 */
import { ChannelCredentials, Server, ServerCredentials, type ChannelOptions, type ServerOptions } from '@grpc/grpc-js';
import { grpcMessageBytesMax } from '../limits.js';

/** Keepalive ping interval on idle connections. */
const keepaliveTimeMs = 10_000;
/** How long to wait for a keepalive ack before declaring the connection dead. */
const keepaliveTimeoutMs = 5_000;

/** Options every Quire gRPC server uses. */
export const grpcServerOptions: ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': grpcMessageBytesMax,
  'grpc.max_send_message_length': grpcMessageBytesMax,
  'grpc.keepalive_time_ms': keepaliveTimeMs,
  'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
  'grpc.keepalive_permit_without_calls': 1,
  // Clients ping every keepaliveTimeMs; allow it so servers do not send GOAWAY(too_many_pings).
  'grpc.http2.min_ping_interval_without_data_ms': keepaliveTimeMs / 2,
});

/** Options every Quire gRPC client channel uses. */
export const grpcClientOptions: ChannelOptions = Object.freeze({
  'grpc.max_receive_message_length': grpcMessageBytesMax,
  'grpc.max_send_message_length': grpcMessageBytesMax,
  'grpc.keepalive_time_ms': keepaliveTimeMs,
  'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.min_reconnect_backoff_ms': 100,
  // Retries happen in exactly one layer (the router), never inside grpc-js.
  'grpc.enable_retries': 0,
});

/** Credentials for client channels (plaintext until mTLS lands). */
export function clientCredentials(): ChannelCredentials {
  return ChannelCredentials.createInsecure();
}

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
