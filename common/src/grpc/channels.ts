/**
 * The single place where gRPC client channels are configured, so transport security (mTLS,
 * planned) slots in here and nowhere else; servers are made in @quire/runtime
 * (grpc/servers.ts) from the same keepalive settings. Options are explicit rather than library
 * defaults: message size limits follow the request limits, keepalive detects dead peers within
 * seconds, and reconnect backoff is short because peers restart quickly.
 */
import { ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { grpcMessageBytesMax } from '../limits.js';

/** Keepalive ping interval on idle connections, for channels and servers alike. */
export const grpcKeepaliveTimeMs = 10_000;
/** How long to wait for a keepalive ack before declaring the connection dead. */
export const grpcKeepaliveTimeoutMs = 5_000;

/** Options every Quire gRPC client channel uses. */
export const grpcClientOptions: ChannelOptions = Object.freeze({
  'grpc.max_receive_message_length': grpcMessageBytesMax,
  'grpc.max_send_message_length': grpcMessageBytesMax,
  'grpc.keepalive_time_ms': grpcKeepaliveTimeMs,
  'grpc.keepalive_timeout_ms': grpcKeepaliveTimeoutMs,
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
