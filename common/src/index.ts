/**
 * @quire/common: the pure foundations every package shares, the client library included:
 * typed errors and their one gRPC mapping, limits, bytes, option parsing, hashing, the
 * metadata view, Clock/Rng, the Logger interface, failpoints, and the client side of gRPC
 * (channel options, the multiplexed operation stream). It starts no server, opens no port,
 * installs no process handler and depends on no logger, metrics SDK, etcd client or native
 * module: those process-level adapters live in @quire/runtime.
 */
export * from './assert.js';
export * from './bytes.js';
export * from './clock.js';
export * from './rng.js';
export * from './limits.js';
export * from './version.js';
export * from './errors/quire-error.js';
export * from './errors/grpc-status.js';
export * from './errors/operation-effect.js';
export * from './config/options.js';
export * from './failpoint/failpoints.js';
export * from './log/logger.js';
export * from './grpc/channels.js';
export * from './grpc/micro-batcher.js';
export * from './grpc/multiplexed-stream.js';
export * from './grpc/operation-stream.js';
export * from './hashing/partitioner.js';
export * from './metadata/keys.js';
export * from './metadata/metadata-view.js';
export * from './metadata/records.js';
export * from './metadata/key-ranges.js';
export * from './view-wait.js';
export * from './grpc/idle-timeout.js';
export * from './reads/read-consistency.js';
export * from './tracing/span-record.js';
