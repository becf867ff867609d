/**
 * Data node configuration: flags, then QUIRE_* environment variables, then defaults;
 * validated once at start (relationships included) with an error that names the option.
 */
import { ConfigError, defaultLimits, grpcMessageBytesMax, parseOptions, required, zoneNamePattern, zoneNameRule, type Env, type Limits, type LogLevel } from '@quire/common';
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
import type { StorageEngineSetting } from './storage/engine-choice.js';
import { walRetentionBytesDefault } from './storage/wal-engine.js';
import type { SplitSettings } from './replicate/splits.js';

/** The options `quire datanode` accepts. */
export const dataNodeOptions = {
  nodeId: { kind: 'string', flag: 'node-id', env: 'QUIRE_NODE_ID', description: 'Stable node id (stored in the data directory on first start)' },
  dataDir: { kind: 'string', flag: 'data-dir', env: 'QUIRE_DATA_DIR', description: 'Directory of the node identity and LMDB files' },
  listen: { kind: 'string', flag: 'listen', env: 'QUIRE_LISTEN', default: '127.0.0.1:0', description: 'host:port of the internal gRPC service (port 0 picks one)' },
  advertise: { kind: 'string', flag: 'advertise', env: 'QUIRE_ADVERTISE', description: 'host:port routers dial, when it differs from --listen' },
  metricsListen: metricsListenOption,
  etcd: etcdOption,
  leaseTtlSeconds: leaseTtlOption(10, 'TTL of the etcd lease that keeps the node registered'),
  zone: { kind: 'string', flag: 'zone', env: 'QUIRE_ZONE', default: '', description: "The node's failure domain (a zone, rack or host group: 1..63 of a-z, 0-9, '.', '_', '-'); placement puts a partition's replicas in distinct zones while there are enough. Empty: the node is a zone of its own" },
  storageEngine: {
    kind: 'string',
    flag: 'storage-engine',
    env: 'QUIRE_STORAGE_ENGINE',
    default: 'auto',
    choices: ['auto', 'lmdb', 'wal'],
    description: 'How a replica stores its log: wal (a node-wide write-ahead log, LMDB applied in the background; RFC 0002) or lmdb (log and data in LMDB, one LMDB commit per group commit). auto: the engine that wrote the data directory, wal for a new one. A data directory keeps the engine that created it',
  },
  walRetentionBytes: {
    kind: 'integer',
    flag: 'wal-retention-bytes',
    env: 'QUIRE_WAL_RETENTION_BYTES',
    default: walRetentionBytesDefault,
    min: 128 * 1024 * 1024,
    max: 1024 * 1024 * 1024 * 1024,
    description: 'WAL engine: the live write-ahead log beyond which the partitions holding its oldest segment have their logs copied forward, or, when too long to copy, trimmed to what they must keep (from the applied index, or what an in-sync follower lacks), so the segment can be deleted; it caps --log-retain-entries',
  },
  partitionsMax: { kind: 'integer', flag: 'partitions-max', env: 'QUIRE_PARTITIONS_MAX', default: 1024, min: 1, max: 16384, description: 'Most partition replicas this node can hold' },
  writeQueueOpsMax: { kind: 'integer', flag: 'write-queue-ops-max', env: 'QUIRE_WRITE_QUEUE_OPS_MAX', default: 16384, min: 1, max: 1_000_000, description: 'Writes waiting for a commit before new ones get OVERLOADED' },
  commitLingerUs: { kind: 'integer', flag: 'commit-linger-us', env: 'QUIRE_COMMIT_LINGER_US', default: 0, min: 0, max: 100_000, description: 'Commit pacing: when a commit ends with fewer than --commit-ops-min writes and replica tasks queued, wait up to this many microseconds for more before the next one (0: never wait; RFC 0002)' },
  commitOpsMin: { kind: 'integer', flag: 'commit-ops-min', env: 'QUIRE_COMMIT_OPS_MIN', default: 8, min: 1, max: 100_000, description: 'Commit pacing: queued work that starts the next commit at once (see --commit-linger-us)' },
  writeBatchOpsMax: { kind: 'integer', flag: 'write-batch-ops-max', env: 'QUIRE_WRITE_BATCH_OPS_MAX', default: 2048, min: 1, max: 100_000, description: 'Most writes in one fsynced transaction' },
  streamOpsInFlightMax: { kind: 'integer', flag: 'stream-ops-in-flight-max', env: 'QUIRE_STREAM_OPS_IN_FLIGHT_MAX', default: 8192, min: 1, max: 1_000_000, description: 'Most unanswered operations per router stream' },
  pendingEntriesMax: { kind: 'integer', flag: 'pending-entries-max', env: 'QUIRE_PENDING_ENTRIES_MAX', default: 65_536, min: 1, max: 10_000_000, description: 'Most appended but not yet applied writes per partition before new ones get OVERLOADED' },
  pendingBytesMax: { kind: 'integer', flag: 'pending-bytes-max', env: 'QUIRE_PENDING_BYTES_MAX', default: 256 * 1024 * 1024, min: 1024, max: 16 * 1024 * 1024 * 1024, description: 'Most key and value bytes of appended but not yet applied writes per partition' },
  dedupWindowMs: { kind: 'integer', flag: 'dedup-window-ms', env: 'QUIRE_DEDUP_WINDOW_MS', default: 60_000, min: 1_000, max: 3_600_000, description: 'How long a write request id is remembered per partition, so a retry of that write is answered with its first result instead of applied again' },
  dedupEntriesMax: { kind: 'integer', flag: 'dedup-entries-max', env: 'QUIRE_DEDUP_ENTRIES_MAX', default: 65_536, min: 1, max: 10_000_000, description: 'Most write request ids remembered per partition (the oldest are forgotten first, even within --dedup-window-ms)' },
  logRetainEntries: { kind: 'integer', flag: 'log-retain-entries', env: 'QUIRE_LOG_RETAIN_ENTRIES', default: 100_000, min: 1, max: 100_000_000, description: 'Newest log entries kept per partition' },
  keyBytesMax: { kind: 'integer', flag: 'key-bytes-max', env: 'QUIRE_KEY_BYTES_MAX', default: defaultLimits.keyBytesMax, min: 1, max: 16384, description: 'Longest key accepted' },
  valueBytesMax: { kind: 'integer', flag: 'value-bytes-max', env: 'QUIRE_VALUE_BYTES_MAX', default: defaultLimits.valueBytesMax, min: 0, max: 4 * 1024 * 1024, description: 'Longest value accepted' },
  isrLagTimeMs: { kind: 'integer', flag: 'isr-lag-time-ms', env: 'QUIRE_ISR_LAG_TIME_MS', default: 2000, min: 100, max: 600_000, description: 'A follower lacking an entry durable on the leader for longer than this lags behind the ISR' },
  newReplicaSnapshotEntries: { kind: 'integer', flag: 'new-replica-snapshot-entries', env: 'QUIRE_NEW_REPLICA_SNAPSHOT_ENTRIES', default: 1000, min: 0, max: 1_000_000_000, description: "A follower whose log is empty (a new replica: a move's target, a replica re-created after a node was lost) is sent a snapshot of the partition's data rather than the whole log once the leader has applied at least this many entries; 0: only when the log no longer reaches back (the log then holds every write ever made, the data only the latest of each key)" },
  snapshotBytesPerSecond: { kind: 'integer', flag: 'snapshot-bytes-per-second', env: 'QUIRE_SNAPSHOT_BYTES_PER_SECOND', default: 64 * 1024 * 1024, min: 0, max: 1024 * 1024 * 1024 * 1024, description: 'Key and value bytes per second over every snapshot this node serves (a replica move\'s new replica, a follower too far behind), so foreground traffic keeps its share; 0: no limit' },
  splitSizeBytes: { kind: 'integer', flag: 'split-size-bytes', env: 'QUIRE_SPLIT_SIZE_BYTES', default: 64 * 1024 * 1024, min: 0, max: 1024 * 1024 * 1024, description: 'A RANGE partition led here whose data takes more than this many bytes on disk is split at the key that halves it; 0: never by size' },
  splitLoadOpsPerSecond: { kind: 'integer', flag: 'split-load-ops-per-second', env: 'QUIRE_SPLIT_LOAD_OPS_PER_SECOND', default: 2500, min: 0, max: 10_000_000, description: 'A RANGE partition led here that takes more writes per second than this for --split-load-window-ms is split at the key that halves its bytes; 0: never by load' },
  splitLoadWindowMs: { kind: 'integer', flag: 'split-load-window-ms', env: 'QUIRE_SPLIT_LOAD_WINDOW_MS', default: 60_000, min: 1_000, max: 3_600_000, description: 'How long the write rate must stay above --split-load-ops-per-second before a split' },
  splitCheckIntervalMs: { kind: 'integer', flag: 'split-check-interval-ms', env: 'QUIRE_SPLIT_CHECK_INTERVAL_MS', default: 10_000, min: 100, max: 3_600_000, description: 'How often the leader of each RANGE partition checks its size and write rate against the split thresholds' },
  followerSilenceMs: { kind: 'integer', flag: 'follower-silence-ms', env: 'QUIRE_FOLLOWER_SILENCE_MS', default: 200, min: 20, max: 600_000, description: 'Under the sync ack policy, a follower that answers nothing for this long after its leader sent it something (paused, cut off) leaves the ISR, as does one whose replication stream breaks (at once), while the ISR keeps min_isr without it' },
  sessionReadWaitMs: { kind: 'integer', flag: 'session-read-wait-ms', env: 'QUIRE_SESSION_READ_WAIT_MS', default: 100, min: 0, max: 10_000, description: 'How long a SESSION read waits on a follower for its acknowledged index to reach the session index before it is refused and the router asks the leader' },
  sessionReadWaitersMax: { kind: 'integer', flag: 'session-read-waiters-max', env: 'QUIRE_SESSION_READ_WAITERS_MAX', default: 16_384, min: 0, max: 1_000_000, description: 'Most SESSION reads waiting on this node at once; beyond it a read that would wait is refused at once' },
  shutdownGraceMs: { kind: 'integer', flag: 'shutdown-grace-ms', env: 'QUIRE_SHUTDOWN_GRACE_MS', default: 5000, min: 0, max: 600_000, description: 'How long SIGTERM waits for in-flight requests' },
  logLevel: logLevelOption,
  failpoints: failpointsOption,
  failpointsAdmin: failpointsAdminOption,
} as const;

/** Validated data node configuration. */
export interface DataNodeConfig {
  /** Undefined means "read it from the data directory". */
  readonly nodeId: string | undefined;
  readonly dataDir: string;
  readonly listen: string;
  readonly advertise: string | undefined;
  /** The node's failure domain ('' when not given). */
  readonly zone: string;
  readonly metricsListen: string;
  readonly etcdEndpoints: readonly string[];
  readonly leaseTtlSeconds: number;
  /** The storage engine (storage/lmdb-engine.ts or storage/wal-engine.ts). */
  readonly storageEngine: StorageEngineSetting;
  readonly walRetentionBytes: number;
  readonly partitionsMax: number;
  readonly writeQueueOpsMax: number;
  readonly writeBatchOpsMax: number;
  /** Commit pacing (0 µs: off). */
  readonly commitLingerUs: number;
  readonly commitOpsMin: number;
  readonly streamOpsInFlightMax: number;
  readonly logRetainEntries: number;
  readonly pendingEntriesMax: number;
  readonly pendingBytesMax: number;
  readonly dedupWindowMs: number;
  readonly dedupEntriesMax: number;
  readonly limits: Limits;
  readonly isrLagTimeMs: number;
  readonly followerSilenceMs: number;
  readonly newReplicaSnapshotEntries: number;
  readonly snapshotBytesPerSecond: number;
  /** Split thresholds of RANGE partitions led here (RFC 0003 "Splits"). */
  readonly splits: SplitSettings;
  readonly sessionReadWaitMs: number;
  readonly sessionReadWaitersMax: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  /** Failpoints armed at start ('' for none); tests and chaos runs only. */
  readonly failpoints: string;
  /** Whether the Debug service (runtime arming of failpoints) is served. */
  readonly failpointsAdmin: boolean;
}

const nodeIdPattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;

/** Parses and validates the data node configuration. */
export function loadDataNodeConfig(argv: readonly string[], env: Env): Readonly<DataNodeConfig> {
  const o = parseOptions(dataNodeOptions, argv, env);
  const config: DataNodeConfig = {
    nodeId: o.nodeId,
    dataDir: required(o.dataDir, dataNodeOptions.dataDir),
    listen: o.listen,
    advertise: o.advertise,
    zone: o.zone,
    metricsListen: o.metricsListen,
    etcdEndpoints: o.etcd,
    leaseTtlSeconds: o.leaseTtlSeconds,
    storageEngine: o.storageEngine === 'wal' || o.storageEngine === 'lmdb' ? o.storageEngine : 'auto',
    walRetentionBytes: o.walRetentionBytes,
    partitionsMax: o.partitionsMax,
    writeQueueOpsMax: o.writeQueueOpsMax,
    writeBatchOpsMax: o.writeBatchOpsMax,
    commitLingerUs: o.commitLingerUs,
    commitOpsMin: o.commitOpsMin,
    streamOpsInFlightMax: o.streamOpsInFlightMax,
    logRetainEntries: o.logRetainEntries,
    pendingEntriesMax: o.pendingEntriesMax,
    pendingBytesMax: o.pendingBytesMax,
    dedupWindowMs: o.dedupWindowMs,
    dedupEntriesMax: o.dedupEntriesMax,
    limits: { ...defaultLimits, keyBytesMax: o.keyBytesMax, valueBytesMax: o.valueBytesMax },
    isrLagTimeMs: o.isrLagTimeMs,
    followerSilenceMs: o.followerSilenceMs,
    newReplicaSnapshotEntries: o.newReplicaSnapshotEntries,
    snapshotBytesPerSecond: o.snapshotBytesPerSecond,
    splits: { sizeBytes: o.splitSizeBytes, loadOpsPerSecond: o.splitLoadOpsPerSecond, loadWindowMs: o.splitLoadWindowMs, checkIntervalMs: o.splitCheckIntervalMs },
    sessionReadWaitMs: o.sessionReadWaitMs,
    sessionReadWaitersMax: o.sessionReadWaitersMax,
    shutdownGraceMs: o.shutdownGraceMs,
    logLevel: o.logLevel as LogLevel,
    failpoints: o.failpoints ?? '',
    failpointsAdmin: o.failpointsAdmin,
  };
  validate(config);
  return Object.freeze(config);
}

function validate(c: DataNodeConfig): void {
  if (c.nodeId !== undefined && !nodeIdPattern.test(c.nodeId)) {
    throw new ConfigError(`--node-id "${c.nodeId}" is invalid: use 1..63 characters of letters, digits, '.', '_' and '-'`);
  }
  validateEtcdEndpoints(c.etcdEndpoints);
  if (c.writeBatchOpsMax > c.pendingEntriesMax) {
    throw new ConfigError(`--write-batch-ops-max (${c.writeBatchOpsMax}) must not exceed --pending-entries-max (${c.pendingEntriesMax}): one batch must fit in the pending view`);
  }
  if (c.dedupEntriesMax < c.pendingEntriesMax) {
    throw new ConfigError(
      `--dedup-entries-max (${c.dedupEntriesMax}) must be at least --pending-entries-max (${c.pendingEntriesMax}): every write not yet applied must keep its request id, or a retry of it could be applied twice`,
    );
  }
  if (c.writeBatchOpsMax > c.writeQueueOpsMax) {
    throw new ConfigError(`--write-batch-ops-max (${c.writeBatchOpsMax}) must not exceed --write-queue-ops-max (${c.writeQueueOpsMax})`);
  }
  if (c.limits.keyBytesMax + c.limits.valueBytesMax + 1024 > grpcMessageBytesMax) {
    throw new ConfigError(`--key-bytes-max plus --value-bytes-max must leave room in a ${grpcMessageBytesMax}-byte gRPC message`);
  }
  validateAddress('listen', c.listen);
  validateAddress('metrics-listen', c.metricsListen);
  validateAdvertise(c.listen, c.advertise);
  if (c.zone !== '' && !zoneNamePattern.test(c.zone)) throw new ConfigError(`--zone "${c.zone}" is invalid: use ${zoneNameRule}`);
  validateFailpoints('datanode', c.failpoints);
}
