/**
 * Coordinator configuration: flags, then QUIRE_* environment variables, then defaults;
 * validated once at start.
 */
import {
  ackPolicyNames,
  isAckPolicyName,
  ConfigError,
  defaultLimits,
  defaultMinIsr,
  parseOptions,
  required,
  type AckPolicyName,
  type Env,
  type Limits,
  type LogLevel,
} from '@quire/common';
import {
  etcdOption,
  failpointsAdminOption,
  failpointsOption,
  leaseTtlOption,
  logLevelOption,
  metricsListenOption,
  validateAddress,
  validateAdvertise,
  validateEtcdEndpoints,
  validateFailpoints,
} from '@quire/runtime';
import { partitionCountMax, replicationFactorMax } from './keyspaces/create-keyspace.js';

export { partitionCountMax, replicationFactorMax };

/** The options `quire coordinator` accepts. */
export const coordinatorOptions = {
  coordinatorId: { kind: 'string', flag: 'coordinator-id', env: 'QUIRE_COORDINATOR_ID', description: 'Stable id of this coordinator process' },
  listen: { kind: 'string', flag: 'listen', env: 'QUIRE_LISTEN', default: '127.0.0.1:0', description: 'host:port of the Admin gRPC service (port 0 picks one)' },
  advertise: { kind: 'string', flag: 'advertise', env: 'QUIRE_ADVERTISE', description: 'host:port others dial, when it differs from --listen' },
  metricsListen: metricsListenOption,
  etcd: etcdOption,
  leaseTtlSeconds: leaseTtlOption(5, 'TTL of the leader lease; a crashed leader is replaced after about this long'),
  nodesMin: { kind: 'integer', flag: 'nodes-min', env: 'QUIRE_NODES_MIN', default: 1, min: 1, max: 10_000, description: 'Live data nodes required before partitions are first assigned' },
  defaultPartitions: { kind: 'integer', flag: 'default-partitions', env: 'QUIRE_DEFAULT_PARTITIONS', default: 16, min: 1, max: partitionCountMax, description: 'Partition count of the default keyspace created at bootstrap' },
  replicationFactor: { kind: 'integer', flag: 'replication-factor', env: 'QUIRE_REPLICATION_FACTOR', default: 1, min: 1, max: replicationFactorMax, description: 'Replicas per partition of the default keyspace created at bootstrap (placement waits for this many live data nodes)' },
  minIsr: { kind: 'integer', flag: 'min-isr', env: 'QUIRE_MIN_ISR', default: 0, min: 0, max: replicationFactorMax, description: 'Min ISR of the default keyspace created at bootstrap, at most --replication-factor; 0 means the default (2 from two replicas on, else 1)' },
  ackPolicy: {
    kind: 'string',
    flag: 'ack-policy',
    env: 'QUIRE_ACK_POLICY',
    default: 'sync',
    choices: ackPolicyNames,
    description:
      'Ack policy of the default keyspace created at bootstrap: sync (every ISR member, at least --min-isr of them), semi-sync (the leader and one ISR follower; writes refused while the ISR has no follower), async (the leader alone); RFC 0001 lists what each loses',
  },
  reconcileIntervalMs: { kind: 'integer', flag: 'reconcile-interval-ms', env: 'QUIRE_RECONCILE_INTERVAL_MS', default: 2000, min: 100, max: 600_000, description: 'Interval of the periodic placement check' },
  failoverLogEndDeadlineMs: { kind: 'integer', flag: 'failover-log-end-deadline-ms', env: 'QUIRE_FAILOVER_LOG_END_DEADLINE_MS', default: 1000, min: 10, max: 60_000, description: 'Deadline of the GetLogEnd call to each live ISR member of a partition whose leader is gone' },
  statusProgressDeadlineMs: { kind: 'integer', flag: 'status-progress-deadline-ms', env: 'QUIRE_STATUS_PROGRESS_DEADLINE_MS', default: 500, min: 10, max: 60_000, description: 'Deadline of the GetFollowerProgress call ClusterStatus makes to each partition leader (in parallel); a leader that does not answer in time shows its followers\' lag as unknown' },
  failoverRetryMs: { kind: 'integer', flag: 'failover-retry-ms', env: 'QUIRE_FAILOVER_RETRY_MS', default: 200, min: 10, max: 60_000, description: 'Delay before planning again a partition left leaderless (no live ISR member answered)' },
  failoverPartitionsMax: { kind: 'integer', flag: 'failover-partitions-max', env: 'QUIRE_FAILOVER_PARTITIONS_MAX', default: 1024, min: 1, max: 1_000_000, description: 'Most partitions whose ISR members one reconcile asks for log ends at once; the rest follow in the next pass' },
  autoRebalance: { kind: 'boolean', flag: 'auto-rebalance', env: 'QUIRE_AUTO_REBALANCE', default: true, description: 'Plan replica moves by itself on every change (nodes joining, draining or dead past --node-dead-after-ms, uneven replica counts); when false, only `quire rebalance` starts them' },
  nodeDeadAfterMs: { kind: 'integer', flag: 'node-dead-after-ms', env: 'QUIRE_NODE_DEAD_AFTER_MS', default: 300_000, min: 1_000, max: 86_400_000, description: 'How long a data node may stay without a registration before its replicas are re-created on other nodes (a node that returns later deletes them)' },
  movesPerNodeMax: { kind: 'integer', flag: 'moves-per-node-max', env: 'QUIRE_MOVES_PER_NODE_MAX', default: 2, min: 1, max: 64, description: 'Most replica moves a data node takes part in at once, as source or target' },
  leaderBalanceDelayMs: { kind: 'integer', flag: 'leader-balance-delay-ms', env: 'QUIRE_LEADER_BALANCE_DELAY_MS', default: 30_000, min: 0, max: 86_400_000, description: "How long the data nodes' leadership counts must stay more than one apart (no move in flight) before leaders hand partitions over to balance them (with --auto-rebalance; quire rebalance does not wait)" },
  moveCatchUpTimeoutMs: { kind: 'integer', flag: 'move-catch-up-timeout-ms', env: 'QUIRE_MOVE_CATCH_UP_TIMEOUT_MS', default: 600_000, min: 1_000, max: 86_400_000, description: "How long a move's new replica may take to join the ISR before the move is rolled back" },
  logLevel: logLevelOption,
  failpoints: failpointsOption,
  failpointsAdmin: failpointsAdminOption,
} as const;

/** Validated coordinator configuration. */
export interface CoordinatorConfig {
  readonly coordinatorId: string;
  readonly listen: string;
  readonly advertise: string | undefined;
  readonly metricsListen: string;
  readonly etcdEndpoints: readonly string[];
  readonly leaseTtlSeconds: number;
  readonly nodesMin: number;
  readonly defaultPartitions: number;
  /** Replication factor of the `default` keyspace created at bootstrap. */
  readonly replicationFactor: number;
  /** Min ISR of the `default` keyspace created at bootstrap (already resolved: never 0). */
  readonly minIsr: number;
  /** Ack policy of the `default` keyspace created at bootstrap. */
  readonly ackPolicy: AckPolicyName;
  readonly reconcileIntervalMs: number;
  /** Deadline of one GetLogEnd call during failover. */
  readonly failoverLogEndDeadlineMs: number;
  /** Delay before replanning a leaderless partition. */
  readonly failoverRetryMs: number;
  readonly statusProgressDeadlineMs: number;
  /** Most partitions asked for log ends per reconcile. */
  readonly failoverPartitionsMax: number;
  /** Whether reconciles plan replica moves by themselves. */
  readonly autoRebalance: boolean;
  /** A node without a registration for this long has its replicas re-created elsewhere. */
  readonly nodeDeadAfterMs: number;
  readonly movesPerNodeMax: number;
  readonly moveCatchUpTimeoutMs: number;
  readonly leaderBalanceDelayMs: number;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  /** Failpoints armed at start ('' for none); tests and chaos runs only. */
  readonly failpoints: string;
  /** Whether the Debug service (runtime arming of failpoints) is served. */
  readonly failpointsAdmin: boolean;
}

/** Parses and validates the coordinator configuration. */
export function loadCoordinatorConfig(argv: readonly string[], env: Env): Readonly<CoordinatorConfig> {
  const o = parseOptions(coordinatorOptions, argv, env);
  const config: CoordinatorConfig = {
    coordinatorId: required(o.coordinatorId, coordinatorOptions.coordinatorId),
    listen: o.listen,
    advertise: o.advertise,
    metricsListen: o.metricsListen,
    etcdEndpoints: o.etcd,
    leaseTtlSeconds: o.leaseTtlSeconds,
    nodesMin: o.nodesMin,
    defaultPartitions: o.defaultPartitions,
    replicationFactor: o.replicationFactor,
    minIsr: o.minIsr === 0 ? defaultMinIsr(o.replicationFactor) : o.minIsr,
    ackPolicy: ackPolicyOption(o.ackPolicy),
    reconcileIntervalMs: o.reconcileIntervalMs,
    failoverLogEndDeadlineMs: o.failoverLogEndDeadlineMs,
    failoverRetryMs: o.failoverRetryMs,
    statusProgressDeadlineMs: o.statusProgressDeadlineMs,
    failoverPartitionsMax: o.failoverPartitionsMax,
    autoRebalance: o.autoRebalance,
    nodeDeadAfterMs: o.nodeDeadAfterMs,
    movesPerNodeMax: o.movesPerNodeMax,
    moveCatchUpTimeoutMs: o.moveCatchUpTimeoutMs,
    leaderBalanceDelayMs: o.leaderBalanceDelayMs,
    limits: defaultLimits,
    logLevel: o.logLevel as LogLevel,
    failpoints: o.failpoints ?? '',
    failpointsAdmin: o.failpointsAdmin,
  };
  validateEtcdEndpoints(config.etcdEndpoints);
  validateAddress('listen', config.listen);
  validateAddress('metrics-listen', config.metricsListen);
  validateAdvertise(config.listen, config.advertise);
  validateFailpoints('coordinator', config.failpoints);
  if (config.minIsr > config.replicationFactor) {
    throw new ConfigError(`--min-isr (${config.minIsr}) must be in 1..--replication-factor (${config.replicationFactor}), or 0 for the default`);
  }
  if (config.ackPolicy === 'semi-sync' && config.replicationFactor < 2) {
    throw new ConfigError(`--ack-policy semi-sync waits for one follower, so it needs --replication-factor 2 or more (it is ${config.replicationFactor}); use sync or async with one replica`);
  }
  return Object.freeze(config);
}

/** The --ack-policy value (parseOptions already checked it is one of the choices). */
function ackPolicyOption(value: string): AckPolicyName {
  if (!isAckPolicyName(value)) throw new ConfigError(`--ack-policy is "${value}"; expected one of ${ackPolicyNames.join(', ')}`);
  return value;
}
