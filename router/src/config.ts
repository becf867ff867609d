/**
 * Router configuration: flags, then QUIRE_* environment variables, then defaults; validated
 * once at start.
 */
import { ConfigError, defaultLimits, grpcMessageBytesMax, parseOptions, type Env, type Limits, type LogLevel } from '@quire/common';
import {
  etcdOption,
  failpointsAdminOption,
  failpointsOption,
  logLevelOption,
  metricsListenOption,
  validateAddress,
  validateEtcdEndpoints,
  validateFailpoints,
} from '@quire/runtime';

/** The options `quire router` accepts. */
export const routerOptions = {
  routerId: { kind: 'string', flag: 'router-id', env: 'QUIRE_ROUTER_ID', default: 'router-1', description: 'Id of this router process (logs and metrics)' },
  listen: { kind: 'string', flag: 'listen', env: 'QUIRE_LISTEN', default: '127.0.0.1:7000', description: 'host:port of the public KV and Admin gRPC services (port 0 picks one)' },
  metricsListen: metricsListenOption,
  etcd: etcdOption,
  requestTimeoutMs: { kind: 'integer', flag: 'request-timeout-ms', env: 'QUIRE_REQUEST_TIMEOUT_MS', default: 10_000, min: 100, max: 600_000, description: 'Deadline of one operation inside the router' },
  connectTimeoutMs: { kind: 'integer', flag: 'connect-timeout-ms', env: 'QUIRE_CONNECT_TIMEOUT_MS', default: 1_000, min: 10, max: 60_000, description: 'How long an operation waits for a data node connection' },
  staleMapWaitMs: { kind: 'integer', flag: 'stale-map-wait-ms', env: 'QUIRE_STALE_MAP_WAIT_MS', default: 2_000, min: 10, max: 60_000, description: 'How long a retry waits for the partition map to catch up' },
  followerReadTimeoutMs: { kind: 'integer', flag: 'follower-read-timeout-ms', env: 'QUIRE_FOLLOWER_READ_TIMEOUT_MS', default: 500, min: 10, max: 600_000, description: 'Deadline of one attempt of a SESSION or STALE get on a follower; past it the router asks another replica (a paused follower does not hold a read for the whole request timeout)' },
  failoverWaitMs: { kind: 'integer', flag: 'failover-wait-ms', env: 'QUIRE_FAILOVER_WAIT_MS', default: 10_000, min: 0, max: 600_000, description: 'How long a request is held while its partition has no usable leader (failover), never past its deadline; 0 holds none' },
  nodeOpsInFlightMax: { kind: 'integer', flag: 'node-ops-in-flight-max', env: 'QUIRE_NODE_OPS_IN_FLIGHT_MAX', default: 8192, min: 1, max: 1_000_000, description: 'Most unanswered operations per data node' },
  clientOpsInFlightMax: { kind: 'integer', flag: 'client-ops-in-flight-max', env: 'QUIRE_CLIENT_OPS_IN_FLIGHT_MAX', default: 8192, min: 1, max: 1_000_000, description: 'Most unanswered operations per client stream' },
  keyBytesMax: { kind: 'integer', flag: 'key-bytes-max', env: 'QUIRE_KEY_BYTES_MAX', default: defaultLimits.keyBytesMax, min: 1, max: 16384, description: 'Longest key accepted' },
  valueBytesMax: { kind: 'integer', flag: 'value-bytes-max', env: 'QUIRE_VALUE_BYTES_MAX', default: defaultLimits.valueBytesMax, min: 0, max: 4 * 1024 * 1024, description: 'Longest value accepted' },
  logLevel: logLevelOption,
  failpoints: failpointsOption,
  failpointsAdmin: failpointsAdminOption,
} as const;

/** Validated router configuration. */
export interface RouterConfig {
  readonly routerId: string;
  readonly listen: string;
  readonly metricsListen: string;
  readonly etcdEndpoints: readonly string[];
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly staleMapWaitMs: number;
  /** How long a request waits for a partition without a usable leader to get one; bounded by requestTimeoutMs per request. */
  readonly failoverWaitMs: number;
  readonly followerReadTimeoutMs: number;
  readonly nodeOpsInFlightMax: number;
  readonly clientOpsInFlightMax: number;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  /** Failpoints armed at start ('' for none); tests and chaos runs only. */
  readonly failpoints: string;
  /** Whether the Debug service (runtime arming of failpoints) is served. */
  readonly failpointsAdmin: boolean;
}

/** Parses and validates the router configuration. */
export function loadRouterConfig(argv: readonly string[], env: Env): Readonly<RouterConfig> {
  const o = parseOptions(routerOptions, argv, env);
  const config: RouterConfig = {
    routerId: o.routerId,
    listen: o.listen,
    metricsListen: o.metricsListen,
    etcdEndpoints: o.etcd,
    requestTimeoutMs: o.requestTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    staleMapWaitMs: o.staleMapWaitMs,
    failoverWaitMs: o.failoverWaitMs,
    followerReadTimeoutMs: o.followerReadTimeoutMs,
    nodeOpsInFlightMax: o.nodeOpsInFlightMax,
    clientOpsInFlightMax: o.clientOpsInFlightMax,
    limits: { ...defaultLimits, keyBytesMax: o.keyBytesMax, valueBytesMax: o.valueBytesMax },
    logLevel: o.logLevel as LogLevel,
    failpoints: o.failpoints ?? '',
    failpointsAdmin: o.failpointsAdmin,
  };
  validateEtcdEndpoints(config.etcdEndpoints);
  validateAddress('listen', config.listen);
  validateAddress('metrics-listen', config.metricsListen);
  validateFailpoints('router', config.failpoints);
  if (config.connectTimeoutMs >= config.requestTimeoutMs) {
    throw new ConfigError(`--connect-timeout-ms (${config.connectTimeoutMs}) must be below --request-timeout-ms (${config.requestTimeoutMs})`);
  }
  if (config.limits.keyBytesMax + config.limits.valueBytesMax + 1024 > grpcMessageBytesMax) {
    throw new ConfigError(`--key-bytes-max plus --value-bytes-max must leave room in a ${grpcMessageBytesMax}-byte gRPC message`);
  }
  return Object.freeze(config);
}
