/**
 * @quire/runtime: what only a server process needs, on top of @quire/common's pure
 * foundations: the pino logger, the Prometheus metrics endpoint and RpcMetrics, gRPC server
 * creation and the server side of its services (request guards, multiplexed streams, unary
 * handlers, flow control), the failpoint Debug service, the options every server shares, the
 * process lifecycle, and runServerProcess, the one start-up and stop sequence of
 * `quire datanode`, `quire coordinator` and `quire router`. The client library never imports it.
 */
export * from './log/pino-logger.js';
export * from './metrics/metrics.js';
export * from './process/lifecycle.js';
export * from './process/server-process.js';
export * from './grpc/servers.js';
export * from './grpc/malformed.js';
export * from './grpc/multiplexed-stream-server.js';
export * from './grpc/flow-control.js';
export * from './grpc/unary-handler.js';
export * from './failpoint/debug-service.js';
export * from './config/server-options.js';
export * from './tracing/tracing.js';
