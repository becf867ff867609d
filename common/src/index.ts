/**
 * @quire/common: the foundations every component shares. Pure modules (errors, limits,
 * metadata view, config parsing) and the single construction points for the process-level
 * adapters (gRPC servers and channels, the logger, the metrics endpoint).
 */
export * from './assert.js';
export * from './bytes.js';
export * from './clock.js';
export * from './rng.js';
export * from './limits.js';
export * from './version.js';
export * from './errors/quire-error.js';
export * from './errors/grpc-status.js';
export * from './config/options.js';
export * from './config/server-options.js';
export * from './failpoint/failpoints.js';
export * from './failpoint/debug-service.js';
export * from './log/logger.js';
export * from './metrics/metrics.js';
export * from './grpc/channels.js';
export * from './grpc/micro-batcher.js';
export * from './grpc/multiplexed-stream.js';
export * from './grpc/malformed.js';
export * from './grpc/flow-control.js';
export * from './grpc/multiplexed-stream-server.js';
export * from './grpc/operation-stream.js';
export * from './process/lifecycle.js';
export * from './hashing/partitioner.js';
export * from './metadata/keys.js';
export * from './metadata/metadata-view.js';
export * from './metadata/records.js';
export * from './grpc/idle-timeout.js';
export * from './grpc/unary-handler.js';
export * from './reads/read-consistency.js';
