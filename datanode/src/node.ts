/**
 * DataNode: the request logic of one data node, independent of gRPC. It validates each
 * operation (limits first, so a bad request changes nothing), checks that this node leads
 * the partition at the request's epoch, serves reads from committed state and hands writes
 * to the group committer, which acknowledges them only after their transaction is durable.
 *
 * Critical invariants:
 *  - No write is acknowledged before the storage transaction that holds it has fsynced
 *    (the datanode.groupCommit.ackBeforeDurable failpoint breaks this on purpose, for tests
 *    that prove the checkers notice).
 *  - A request for a partition this node does not lead (by its metadata view) is refused
 *    with a routing error carrying the node's map revision, and changes nothing.
 *  - Reads see only committed (durable) state, so a read never returns a value that a crash
 *    could take back.
 *  - A replica whose snapshot install was cut off (found pending on open) is discarded to an
 *    empty one before anything else touches it (its data is partial); leaders re-seed it.
 *  - A partition being handed over (replicate/hand-over.ts) admits no write and serves no read:
 *    both are refused with NOT_LEADER naming the target until the hand-over fails or the view
 *    ends this node's tenure. A new leader serves reads only once it has acknowledged the log it
 *    took over (LeaderReplicator.readRefusal).
 *  - SESSION and STALE reads (RFC 0001 "Follower reads") may be served by a follower: only from
 *    acknowledged state (PartitionReplica.read), and only as replication/read-serving.ts decides;
 *    a SESSION read that waits re-checks everything after the wait, and at most
 *    sessionReadWaitersMax of them wait at once.
 *  - A replica's `replicated` setting follows its partition's current replica set on every view
 *    change (RFC 0003 moves): a sole replica acknowledges its durable log, one with followers
 *    waits for its leader's progress; no write waits for a follower that is no longer there.
 *  - A replica is deleted only when the metadata view is loaded, names the cluster this data
 *    directory is bound to and holds this node's own registration, and no longer lists this node
 *    among the partition's replicas (or the partition or keyspace no longer exists). Before the
 *    deletion everything holding the replica lets go of it (leader and follower sides, snapshot
 *    pulls and serves), and it is unavailable here — no new replica of the partition is opened —
 *    until the deletion is durable. Deletions run one at a time, as group-committer
 *    retirements; a replica the view gives a node whose open replicas and replicas being deleted
 *    already reach --partitions-max opens once a deletion made room (never beyond the bound).
 */
import { SpanKind, SpanStatusCode, type Attributes, type Counter, type Meter, type Span } from '@opentelemetry/api';
import type {
  AlterIsrRequest,
  AlterIsrResponse,
  CoordinationTransferLeaderRequest,
  CoordinationTransferLeaderResponse,
  DataNodeScanRequest,
  GetRequest,
  GetResponse,
  KeyValue,
  LedPartitionProgress,
  NodeOperation,
  OperationResult,
  RequestSplitRequest,
  RequestSplitResponse,
  SnapshotRequest,
} from '@quire/proto';
import {
  InvalidArgumentError,
  OverloadedError,
  AmbiguousResultError,
  PartitionUnavailableError,
  ReplicaBehindError,
  assert,
  ShuttingDownError,
  WrongPartitionError,
  consistencyOf,
  resolveKeyspaceName,
  scanRange,
  toErrorInfo,
  validateKey,
  validateRequestId,
  validateScanBound,
  validateValue,
  recordOwnsKey,
  intersectRange,
  type Clock,
  type Consistency,
  type FailpointName,
  type Failpoints,
  type Limits,
  type Logger,
  type MetadataView,
  type QuireError,
} from '@quire/common';
import { RpcMetrics, batchSizeBuckets, contextFromTraceparent, latencyBucketsMs, traceparentOf, tracer, tracingOn } from '@quire/runtime';
import { checkOwnership, checkReplica } from './partition/ownership.js';
import { Splits, type SplitSettings } from './replicate/splits.js';
import { GroupCommitter, type WriteTrace } from './partition/group-commit.js';
import { PartitionReplica, type SplitHost, type WriteRequest, type WriteResult } from './partition/replica.js';
import { FollowerHandler } from './replicate/follower-handler.js';
import { HandOvers, handOverDefaults, type HandOverSettings } from './replicate/hand-over.js';
import { LeaderReplicator, type LeaderReplicatorDeps } from './replicate/leader-replicator.js';
import { decideRead, type ReadAsk, type StalenessReport } from './replication/read-serving.js';
import { SnapshotClients, SnapshotInstaller, snapshotInstallerDefaults, type SnapshotInstallerSettings, type SnapshotStream } from './replicate/snapshot-installer.js';
import { SnapshotSource, snapshotSourceDefaults, type SnapshotSourceSettings } from './replicate/snapshot-source.js';
import type { StorageEngine } from './storage/engine.js';

let dataNodeTracerCached: ReturnType<typeof tracer> | undefined;
/** The data node's tracer (made on first use, after tracing started). */
const dataNodeTracer = (): ReturnType<typeof tracer> => (dataNodeTracerCached ??= tracer('datanode'));

/** Settings the request logic needs. */
export interface DataNodeSettings {
  readonly nodeId: string;
  readonly limits: Limits;
  /**
   * Most partitions open at once (--partitions-max, the storage engine's own bound): while a
   * deletion still holds a partition's store, a new replica waits for it rather than exceed this.
   */
  readonly partitionsMax: number;
  readonly writeQueueOpsMax: number;
  readonly writeBatchOpsMax: number;
  /** Commit pacing of the group committer (GroupCommitterLimits.pacing); absent: none. */
  readonly commitPacing?: { readonly opsMin: number; readonly lingerMs: number };
  readonly logRetainEntries: number;
  /** Most appended but unapplied writes per partition (the pending view). */
  readonly pendingEntriesMax: number;
  /** Most key and value bytes of those writes. */
  readonly pendingBytesMax: number;
  /** How long a write request id is remembered per partition, in ms (RFC 0001 "Request ids and router buffering"). */
  readonly dedupWindowMs: number;
  /** Most write request ids remembered per partition. */
  readonly dedupEntriesMax: number;
  /** Keys per scan chunk. */
  readonly scanChunkKeysMax: number;
  /** Bytes per scan chunk. */
  readonly scanChunkBytesMax: number;
  /** A follower lacking an entry durable on the leader for longer than this lags (ISR). */
  readonly isrLagTimeMs: number;
  /** A follower that answers nothing for this long leaves the ISR (when the ISR can spare it). */
  readonly followerSilenceMs: number;
  /** A follower with an empty log gets a snapshot once the leader applied this many entries (0: never for that reason). */
  readonly newReplicaSnapshotEntries: number;
  /** SESSION and STALE reads (RFC 0001 "Follower reads"). */
  readonly followerReads: FollowerReadSettings;
  /** Split thresholds of RANGE partitions (splitDefaults when absent: tests). */
  readonly splits?: SplitSettings;
}

/** Split settings of a node built without them (tests): the data node's defaults. */
export const splitDefaults: SplitSettings = { sizeBytes: 64 * 1024 * 1024, loadOpsPerSecond: 2500, loadWindowMs: 60_000, checkIntervalMs: 10_000 };

/** Limits of SESSION and STALE reads on this node. */
export interface FollowerReadSettings {
  /** How long a SESSION read waits for the replica's acknowledged index to reach the session index. */
  readonly sessionReadWaitMs: number;
  /** Most SESSION reads waiting at once; beyond it, a read that would wait is refused at once. */
  readonly sessionReadWaitersMax: number;
}

/** How often a waiting SESSION read looks at the replica's acknowledged index again. */
const sessionReadPollMs = 2;

/** Attributes of quire_datanode_reads, by consistency, role and outcome. */
type ReadOutcome = 'served' | 'served_after_wait' | 'refused';
type ReadRole = 'leader' | 'follower';
type ReadAttributes = Readonly<{ consistency: Consistency; role: ReadRole; outcome: ReadOutcome }>;

/** Every combination, built once and frozen, so recording a read allocates nothing. */
const readAttributes: ReadonlyMap<string, ReadAttributes & Attributes> = new Map(
  (['linearizable', 'session', 'stale'] as const).flatMap((consistency) =>
    (['leader', 'follower'] as const).flatMap((role) =>
      (['served', 'served_after_wait', 'refused'] as const).map((outcome) => [`${consistency}/${role}/${outcome}`, Object.freeze({ consistency, role, outcome })] as const),
    ),
  ),
);

function readAttributesOf(consistency: Consistency, role: ReadRole, outcome: ReadOutcome): ReadAttributes & Attributes {
  const attributes = readAttributes.get(`${consistency}/${role}/${outcome}`);
  assert(attributes !== undefined, `No read metric attributes for ${consistency}/${role}/${outcome}`);
  return attributes;
}

/** A get's answer: the entry read, the position it reflects and, for SESSION and STALE, its staleness. */
function getResponseOf(entry: { readonly value: Buffer; readonly version: number } | undefined, partitionId: number, index: number, staleness: StalenessReport | undefined): GetResponse {
  return {
    found: entry !== undefined,
    value: entry?.value ?? Buffer.alloc(0),
    version: entry?.version ?? 0,
    position: { partitionId, index },
    staleness,
  };
}

/** Dependencies injected by main.ts. */
export interface DataNodeDeps {
  readonly engine: StorageEngine;
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly meter: Meter;
  /** Schedules a callback after the current turn (setImmediate). */
  readonly schedule: (callback: () => void) => void;
  /** Stops the process: a commit failed and memory is ahead of disk. */
  readonly onFatal: (err: unknown) => void;
  /** The process's failpoints (Failpoints.disabled() when there are none). */
  readonly failpoints: Failpoints;
  /**
   * Whether this node's leader lease holds now (RFC 0001 "Leader leases"): its etcd
   * registration provably exists, and its view has caught up with that registration. Reads of
   * replicated partitions are served only while it does. Absent: always (tests).
   */
  readonly leaseHolds?: () => boolean;
  /** Sends AlterIsr to the coordinator leader (absent in tests that run no coordinator). */
  readonly alterIsr?: (address: string, request: AlterIsrRequest) => Promise<AlterIsrResponse>;
  /**
   * The cluster id this data directory is bound to (node.json), '' while unbound. Replicas the
   * view does not give this node are deleted only while the view names this same cluster;
   * absent: never (tests that do not exercise deletion).
   */
  readonly boundClusterId?: () => string;
  /** Sends RequestSplit to the coordinator leader (absent: RANGE partitions are not split by size or load). */
  readonly requestSplit?: (address: string, request: RequestSplitRequest) => Promise<RequestSplitResponse>;
  /** Sends TransferLeader to the coordinator leader (absent: leaderships are never handed over). */
  readonly transferLeader?: (address: string, request: CoordinationTransferLeaderRequest) => Promise<CoordinationTransferLeaderResponse>;
  /** Hand-over deadlines and pacing (handOverDefaults when absent). */
  readonly handOver?: HandOverSettings;
  /** Snapshot serving limits (snapshotSourceDefaults when absent). */
  readonly snapshotSource?: SnapshotSourceSettings;
  /** Snapshot install limits and pacing (snapshotInstallerDefaults when absent). */
  readonly snapshotInstaller?: SnapshotInstallerSettings;
  /** Opens Replication.Snapshot on a leader (absent: real gRPC clients, SnapshotClients). */
  readonly openSnapshotStream?: (address: string, request: SnapshotRequest, deadlineMs: number) => SnapshotStream;
  /** Creates the replication link to a follower node (absent: a PeerLink over gRPC; tests link nodes in process). */
  readonly createLink?: LeaderReplicatorDeps['createLink'];
}

/** An async failpoint as a group-commit gate: undefined (stay synchronous) unless armed. */
export function gateOf(failpoints: Failpoints, name: FailpointName): Promise<void> | undefined {
  return failpoints.isArmed(name) ? failpoints.hitAsync(name) : undefined;
}

/** How long a split's new partition waits to be carved here before its leader may seed it with a snapshot instead. */
const carveWaitMaxMs = 10_000;

/** Old log entries deleted per transaction at most, to spread the cost of retention. */
const logTruncateBatchMax = 1024;

/** Why a replica is deleted (the `reason` of its log lines). */
type DeletionReason = 'not-a-replica' | 'partition-gone' | 'keyspace-gone';

/** A replica being deleted: the partition, and the replica object when it was open. */
interface Deletion {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly replica: PartitionReplica | undefined;
  readonly reason: DeletionReason;
}

/** Where scan chunks go; resolves when the consumer can take more (backpressure). */
export type ScanSink = (items: KeyValue[]) => Promise<void>;

/** The data node's request logic. */
export class DataNode {
  private readonly replicas = new Map<string, PartitionReplica>();
  /** Replicas with a log trim queued (trimLogFor). */
  private readonly trimming = new Set<PartitionReplica>();
  private readonly committer: GroupCommitter;
  /** The leader side of replication: partitions this node leads with followers. */
  readonly replicator: LeaderReplicator;
  /** The follower side of replication: messages from the leaders of partitions this node follows. */
  readonly follower: FollowerHandler;
  /** Leadership hand-overs (Replication.HandOver, and every led partition on SIGTERM). */
  readonly handOvers: HandOvers;
  /** The leader side of snapshots: serves Replication.Snapshot. */
  readonly snapshots: SnapshotSource;
  /** The follower side of snapshots: pulls and installs them on InstallSnapshot. */
  private readonly installer: SnapshotInstaller;
  /** The gRPC clients of snapshot pulls, when this node made them. */
  private readonly snapshotClients: SnapshotClients | undefined;
  private readonly rpc: RpcMetrics;
  /** Reads by consistency, serving role and outcome (quire_datanode_reads). */
  private readonly reads: Counter;
  /** SESSION reads waiting for their replica's acknowledged index. */
  private sessionReadWaiters = 0;
  private stopping = false;
  /** Replicas being deleted, by keyspace/id, in the order they were found; the first one runs. */
  private readonly deletions = new Map<string, Deletion>();
  /** Whether the deletion queue is being worked through. */
  private deleting = false;
  /** Whether the partitions stored on disk were checked against the view (once, at start-up). */
  private storedChecked = false;
  /** Replicas deleted (quire_datanode_replicas_deleted). */
  private readonly replicasDeleted: Counter;
  private readonly splits: Splits;
  private readonly splitHost: SplitHost;
  private readonly splitTimer: ReturnType<typeof setInterval>;
  /** When this node first found each split's new partition waiting to be carved here (awaitsCarve). */
  private readonly carveWaits = new Map<string, number>();

  constructor(
    private readonly settings: DataNodeSettings,
    private readonly deps: DataNodeDeps,
  ) {
    this.rpc = new RpcMetrics(deps.meter, 'datanode', 'kv');
    this.replicasDeleted = deps.meter.createCounter('quire_datanode_replicas_deleted', {
      description: 'Partition replicas this node deleted because the partition map no longer lists it among their replicas (RFC 0003 moves)',
    });
    this.reads = deps.meter.createCounter('quire_datanode_reads', {
      description: 'Gets by consistency (linearizable, session, stale), serving role (leader, follower) and outcome (served, served_after_wait, refused)',
    });
    const batchOps = deps.meter.createHistogram('quire_datanode_commit_batch_ops', {
      description: 'Writes per fsynced storage transaction (group commit batch size)',
      advice: { explicitBucketBoundaries: [...batchSizeBuckets] },
    });
    const commitMs = deps.meter.createHistogram('quire_datanode_commit_duration_ms', {
      description: 'Latency of fsynced storage transactions, in milliseconds',
      unit: 'ms',
      advice: { explicitBucketBoundaries: [...latencyBucketsMs] },
    });
    const overloaded = deps.meter.createCounter('quire_datanode_write_queue_full', {
      description: 'Writes refused with OVERLOADED because the write queue was full',
    });
    this.overloaded = () => overloaded.add(1);
    this.committer = new GroupCommitter(
      {
        write: (body) => deps.engine.write(body),
        schedule: deps.schedule,
        scheduleAfter: (ms, callback) => setTimeout(callback, ms),
        monotonicMs: () => deps.clock.monotonicMs(),
        onCommitted: (ops, ms) => {
          batchOps.record(ops);
          commitMs.record(ms);
        },
        onFatal: deps.onFatal,
        onLogDurable: (replica) => this.replicator.logDurable(replica as PartitionReplica),
        onLogAppended: (replica) => this.replicator.logAppended(replica as PartitionReplica),
        failpoints: {
          beforeCommit: () => gateOf(deps.failpoints, 'datanode.groupCommit.beforeCommit'),
          afterCommit: () => gateOf(deps.failpoints, 'datanode.groupCommit.afterCommit'),
          ackBeforeDurable: () => deps.failpoints.isOn('datanode.groupCommit.ackBeforeDurable'),
        },
      },
      { queueOpsMax: settings.writeQueueOpsMax, batchOpsMax: settings.writeBatchOpsMax, ...(settings.commitPacing === undefined ? {} : { pacing: settings.commitPacing }) },
    );
    const openReplica = (keyspace: string, partitionId: number): PartitionReplica => this.openReplica(keyspace, partitionId);
    /** For the replication sides: undefined instead of a refusal while the partition's old replica is being deleted. */
    const openAvailable = (keyspace: string, partitionId: number): PartitionReplica | undefined =>
      this.deletions.has(`${keyspace}/${partitionId}`) || this.waitsForDeletion(`${keyspace}/${partitionId}`) ? undefined : this.openReplica(keyspace, partitionId);
    this.replicator = new LeaderReplicator(
      {
        appendEntriesMax: settings.writeBatchOpsMax,
        sendAheadEntriesMax: settings.writeBatchOpsMax * 4,
        streamBatchBytesMax: settings.limits.streamBatchBytesMax,
        isrLagTimeMs: settings.isrLagTimeMs,
        followerSilenceMs: settings.followerSilenceMs,
        newReplicaSnapshotEntries: settings.newReplicaSnapshotEntries,
        tickMs: 50,
        heartbeatMs: 250,
      },
      {
        nodeId: settings.nodeId,
        view: deps.view,
        clock: deps.clock,
        log: deps.log,
        committer: this.committer,
        openReplica: openAvailable,
        ...(deps.alterIsr === undefined ? {} : { alterIsr: deps.alterIsr }),
        ...(deps.transferLeader === undefined ? {} : { transferLeader: deps.transferLeader }),
        ...(deps.createLink === undefined ? {} : { createLink: deps.createLink }),
      },
    );
    this.snapshotClients = deps.openSnapshotStream === undefined ? new SnapshotClients() : undefined;
    const clients = this.snapshotClients;
    this.installer = new SnapshotInstaller(deps.snapshotInstaller ?? snapshotInstallerDefaults, {
      nodeId: settings.nodeId,
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      committer: this.committer,
      openStream: deps.openSnapshotStream ?? ((address, request, deadlineMs) => (clients as SnapshotClients).open(address, request, deadlineMs)),
    });
    const snapshotBytesSent = deps.meter.createCounter('quire_datanode_snapshot_bytes_sent', {
      description: 'Key and value bytes of the snapshot chunks this node served to followers (the bytes copied by replica moves and re-seeds)',
    });
    this.snapshots = new SnapshotSource(deps.snapshotSource ?? snapshotSourceDefaults, {
      nodeId: settings.nodeId,
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      keepLogForSnapshot: (keyspace, partitionId, epoch, follower, fromIndex) => this.replicator.keepLogForSnapshot(keyspace, partitionId, epoch, follower, fromIndex),
      openReplica,
      openReader: (keyspace, partitionId) => deps.engine.partition(keyspace, partitionId).snapshotReader(),
      onChunkSent: (bytes) => snapshotBytesSent.add(bytes),
    });
    this.follower = new FollowerHandler({
      nodeId: settings.nodeId,
      view: deps.view,
      committer: this.committer,
      log: deps.log,
      openReplica: openAvailable,
      installSnapshot: (request) => this.installer.request(request),
      awaitsCarve: (replica) => this.awaitsCarve(replica),
      breakStreams: () => deps.failpoints.isOn('datanode.replication.breakStreams'),
    });
    this.handOvers = new HandOvers(deps.handOver ?? handOverDefaults, {
      nodeId: settings.nodeId,
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      replicator: this.replicator,
      ...(deps.transferLeader === undefined ? {} : { transferLeader: deps.transferLeader }),
    });
    deps.meter
      .createObservableGauge('quire_datanode_write_queue_ops', { description: 'Writes waiting for a commit' })
      .addCallback((r) => r.observe(this.committer.queuedOps));
    // Per partition led here with followers (issue 15): ISR size and each follower's lag.
    const isrSize = deps.meter.createObservableGauge('quire_datanode_isr_size', { description: 'In-sync replicas (leader included) of each partition this node leads, as confirmed in etcd' });
    const lagEntries = deps.meter.createObservableGauge('quire_datanode_replication_lag_entries', { description: "Entries of each led partition's log a follower has not acknowledged as durable" });
    const lagMs = deps.meter.createObservableGauge('quire_datanode_replication_lag_ms', { description: 'How long a follower has lacked an entry durable on this leader (0 when caught up)', unit: 'ms' });
    deps.meter.addBatchObservableCallback(
      (r) => {
        for (const p of this.replicator.followerProgress()) {
          const partition = { keyspace: p.keyspace, partition: String(p.partitionId) };
          r.observe(isrSize, p.followers.filter((f) => f.inIsr).length + 1, partition);
          for (const f of p.followers) {
            const attributes = { ...partition, follower: f.nodeId };
            r.observe(lagEntries, Math.max(0, p.durableIndex - f.durableIndex), attributes);
            r.observe(lagMs, f.lagMs, attributes);
          }
        }
      },
      [isrSize, lagEntries, lagMs],
    );
    deps.meter
      .createObservableGauge('quire_datanode_partitions', { description: 'Partition replicas open on this node' })
      .addCallback((r) => r.observe(this.replicas.size));
    this.splits = new Splits(settings.splits ?? splitDefaults, {
      nodeId: settings.nodeId,
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      meter: deps.meter,
      committer: this.committer,
      openReplica: (keyspace, partitionId) => this.replicas.get(`${keyspace}/${partitionId}`),
      admits: (keyspace, partitionId) => this.replicator.admit(keyspace, partitionId).ok,
      ...(deps.requestSplit === undefined ? {} : { requestSplit: deps.requestSplit }),
      ...(deps.alterIsr === undefined ? {} : { alterIsr: deps.alterIsr }),
    });
    this.splitHost = {
      // Only a child open here and listed with this node among its replicas takes the keys: a
      // replica that replays a marker it was never meant to carve for just drops them.
      childFor: (parent, childPartitionId) => {
        const record = this.deps.view.keyspace(parent.keyspace)?.partitions[childPartitionId]?.record;
        // The child's record was written before any marker for it: a view without it is behind.
        if (record === undefined) return 'unknown';
        if (!record.replicas.includes(this.settings.nodeId)) return 'not-held';
        const child = this.replicas.get(`${parent.keyspace}/${childPartitionId}`);
        // Held but not open here yet (its old replica still being deleted): wait for the open.
        if (child === undefined) return 'unknown';
        return child.retired ? 'not-held' : child;
      },
      childSeeded: (parent, child) => {
        this.deps.log.info('Carved a split partition from its parent', { keyspace: child.keyspace, partitionId: child.partitionId, parentPartitionId: parent.partitionId, appliedIndex: child.appliedIndex });
        // It may be led and served now.
        this.deps.schedule(() => this.openOwnedPartitions());
      },
    };
    this.splitTimer = setInterval(() => {
      if (!this.stopping) this.splits.tick();
    }, 1000);
    this.splitTimer.unref();
  }

  private readonly overloaded: () => void;

  /** Executes one operation; `reply` is called exactly once, possibly later. */
  execute(op: NodeOperation, replyTo: (result: OperationResult) => void): void {
    const startedMs = this.deps.clock.monotonicMs();
    const method = op.op?.$case ?? 'none';
    // A span per operation while tracing is on: its events say where a write waited here
    // (appended: its transaction ran; durable: fsynced here; the end: the ack policy was met).
    const span = tracingOn()
      ? dataNodeTracer().startSpan(`datanode.${method}`, { kind: SpanKind.SERVER, attributes: { 'quire.partition': op.partitionId, 'quire.epoch': op.epoch } }, contextFromTraceparent(op.traceparent))
      : undefined;
    const reply =
      span === undefined
        ? replyTo
        : (result: OperationResult): void => {
            const code = result.result?.$case === 'error' ? result.result.value.code : 'OK';
            span.setAttribute('quire.code', code);
            if (code !== 'OK') span.setStatus({ code: SpanStatusCode.ERROR, message: code });
            span.end();
            replyTo(result);
          };
    const fail = (err: unknown): void => {
      const error = toErrorInfo(err);
      this.rpc.record(method, error.code, this.deps.clock.monotonicMs() - startedMs);
      reply({ id: op.id, result: { $case: 'error', value: error } });
    };
    try {
      if (this.stopping) throw new ShuttingDownError(`Data node ${this.settings.nodeId} is shutting down`);
      switch (op.op?.$case) {
        case 'get': {
          const req = op.op.value;
          const keyspace = resolveKeyspaceName(req.keyspace, this.settings.limits);
          validateKey(req.key, this.settings.limits);
          const consistency = consistencyOf(req.consistency);
          if (consistency !== 'linearizable') {
            this.readAnyReplica(keyspace, op, req, consistency, startedMs, reply, fail);
            return;
          }
          const replica = this.replicaFor(keyspace, op.partitionId, op.epoch);
          this.checkKeyOwned(keyspace, op.partitionId, req.key);
          // Read and index in one synchronous step: the answer reflects exactly that index.
          const index = replica.acknowledgedIndex;
          const entry = replica.read(req.key);
          this.reads.add(1, readAttributesOf(consistency, 'leader', 'served'));
          this.rpc.record(method, 'OK', this.deps.clock.monotonicMs() - startedMs);
          reply({ id: op.id, result: { $case: 'get', value: getResponseOf(entry, op.partitionId, index, undefined) } });
          return;
        }
        case 'put': {
          const req = op.op.value;
          const keyspace = resolveKeyspaceName(req.keyspace, this.settings.limits);
          validateKey(req.key, this.settings.limits);
          validateValue(req.value, this.settings.limits);
          validateRequestId(req.requestId);
          const write: WriteRequest = { kind: 'put', key: req.key, value: req.value, expectedVersion: req.expectedVersion, requestId: req.requestId };
          this.submitWrite(keyspace, op, write, span, (result) => {
            if (!result.ok) return fail(result.error);
            this.rpc.record(method, 'OK', this.deps.clock.monotonicMs() - startedMs);
            reply({ id: op.id, result: { $case: 'put', value: { version: result.version, position: { partitionId: op.partitionId, index: result.version } } } });
          });
          return;
        }
        case 'delete': {
          const req = op.op.value;
          const keyspace = resolveKeyspaceName(req.keyspace, this.settings.limits);
          validateKey(req.key, this.settings.limits);
          validateRequestId(req.requestId);
          const write: WriteRequest = { kind: 'delete', key: req.key, value: Buffer.alloc(0), expectedVersion: req.expectedVersion, requestId: req.requestId };
          const replica = this.submitWrite(keyspace, op, write, span, (result) => {
            if (!result.ok) return fail(result.error);
            this.rpc.record(method, 'OK', this.deps.clock.monotonicMs() - startedMs);
            // A delete that found nothing is answered once the index it was decided against is
            // acknowledged: the acknowledged index now is at least that one.
            const index = result.version > 0 ? result.version : replica.acknowledgedIndex;
            reply({ id: op.id, result: { $case: 'delete', value: { found: result.found, version: result.version, position: { partitionId: op.partitionId, index } } } });
          });
          return;
        }
        case undefined:
          throw new InvalidArgumentError('operation has no get, put or delete', { field: 'op' });
      }
    } catch (err) {
      fail(err);
    }
  }

  /** Submits a write to the partition's replica (returned) or throws the refusal. */
  private submitWrite(keyspace: string, op: NodeOperation, request: WriteRequest, span: Span | undefined, done: (result: WriteResult) => void): PartitionReplica {
    const owner = checkOwnership(this.deps.view, this.settings.nodeId, keyspace, op.partitionId, op.epoch);
    if (!owner.ok) throw owner.error;
    const replica = this.openReplica(keyspace, op.partitionId);
    this.checkSeeded(replica, owner.entry.record.epoch);
    this.checkKeyOwned(keyspace, op.partitionId, request.key);
    const admission = this.replicator.admit(keyspace, op.partitionId);
    if (!admission.ok) throw admission.error;
    this.splits.noteWrite(keyspace, op.partitionId);
    const trace = span === undefined ? undefined : this.writeTrace(span, keyspace, op.partitionId);
    const accepted = this.committer.submit({ replica, request, epoch: owner.entry.record.epoch, done, ...(trace === undefined ? {} : { trace }) });
    if (!accepted) {
      this.overloaded();
      throw this.stopping
        ? new ShuttingDownError(`Data node ${this.settings.nodeId} is shutting down`)
        : new OverloadedError(`Data node ${this.settings.nodeId} has ${this.committer.queuedOps} writes waiting (the limit is ${this.settings.writeQueueOpsMax})`, {
            retryAfterMs: 10,
            limit: this.settings.writeQueueOpsMax,
          });
    }
    return replica;
  }

  /** The hooks that put a traced write's stages on its span, and tell the replicator its index. */
  private writeTrace(span: Span, keyspace: string, partitionId: number): WriteTrace {
    return {
      appended: (index) => {
        span.addEvent('appended', { 'quire.index': index });
        if (index > 0) this.replicator.noteTraced(keyspace, partitionId, index, traceparentOf(span));
      },
      durable: () => span.addEvent('durable'),
    };
  }

  /**
   * Serves a SESSION or STALE get from this node's replica, leader or follower
   * (replication/read-serving.ts decides), waiting a bounded time for a follower's acknowledged
   * index to reach the session index. Every attempt re-checks ownership and state from scratch,
   * so a wait never serves from a view or replica state it did not check.
   */
  private readAnyReplica(
    keyspace: string,
    op: NodeOperation,
    req: GetRequest,
    consistency: Exclude<Consistency, 'linearizable'>,
    startedMs: number,
    reply: (result: OperationResult) => void,
    fail: (err: unknown) => void,
  ): void {
    const ask: ReadAsk = {
      consistency,
      minIndex: consistency === 'session' ? op.minIndex : 0,
      maxStalenessMs: consistency === 'stale' ? req.maxStalenessMs : 0,
      arrivedMs: startedMs,
    };
    /** Whether it waited at all (the metric), and whether it is counted in sessionReadWaiters now. */
    let waited = false;
    let waiting = false;
    const stopWaiting = (): void => {
      if (!waiting) return;
      waiting = false;
      this.sessionReadWaiters--;
    };
    const attempt = (): void => {
      let role: ReadRole = 'follower';
      try {
        if (this.stopping) throw new ShuttingDownError(`Data node ${this.settings.nodeId} is shutting down`);
        const owner = checkReplica(this.deps.view, this.settings.nodeId, keyspace, op.partitionId, op.epoch);
        if (!owner.ok) throw owner.error;
        const record = owner.entry.record;
        role = record.leader === this.settings.nodeId ? 'leader' : 'follower';
        // A leader serves only as it serves linearizable reads: lease held, its tenure's log acknowledged.
        const replica = role === 'leader' ? this.replicaFor(keyspace, op.partitionId, op.epoch) : this.openReplica(keyspace, op.partitionId);
        this.checkSeeded(replica, record.epoch);
        this.checkKeyOwned(keyspace, op.partitionId, req.key);
        const nowMs = this.deps.clock.monotonicMs();
        const decision = decideRead(
          {
            role,
            installingSnapshot: replica.installingSnapshot,
            acknowledgedIndex: replica.acknowledgedIndex,
            viewEpoch: record.epoch,
            inIsr: record.isr.includes(this.settings.nodeId),
            contact: replica.leaderContact,
          },
          ask,
          nowMs,
          this.settings.followerReads.sessionReadWaitMs,
        );
        const where = `Partition ${keyspace}/${op.partitionId} on node ${this.settings.nodeId}`;
        switch (decision.kind) {
          case 'serve': {
            stopWaiting();
            const entry = replica.read(req.key);
            this.reads.add(1, readAttributesOf(consistency, role, waited ? 'served_after_wait' : 'served'));
            this.rpc.record('get', 'OK', nowMs - startedMs);
            reply({ id: op.id, result: { $case: 'get', value: getResponseOf(entry, op.partitionId, decision.staleness.index, decision.staleness) } });
            return;
          }
          case 'wait':
            if (!waiting && this.sessionReadWaiters >= this.settings.followerReads.sessionReadWaitersMax) {
              throw new ReplicaBehindError(`${where} cannot serve this SESSION read yet, and ${this.sessionReadWaiters} reads already wait (the limit is ${this.settings.followerReads.sessionReadWaitersMax})`, {
                partitionId: op.partitionId,
                epoch: record.epoch,
                leaderHint: record.leader,
                limit: this.settings.followerReads.sessionReadWaitersMax,
              });
            }
            if (!waiting) {
              waiting = true;
              this.sessionReadWaiters++;
            }
            waited = true;
            this.deps.clock.after(Math.min(sessionReadPollMs, Math.max(0, decision.untilMs - nowMs)), attempt);
            return;
          case 'refuse':
            throw new ReplicaBehindError(`${where} cannot serve this ${consistency.toUpperCase()} read: ${decision.message}; ask the leader ${record.leader || '(none)'}`, {
              partitionId: op.partitionId,
              epoch: record.epoch,
              leaderHint: record.leader,
            });
          case 'invalid':
            throw new InvalidArgumentError(decision.message, { field: 'session.index', limit: replica.acknowledgedIndex, actual: ask.minIndex });
        }
      } catch (err) {
        stopWaiting();
        this.reads.add(1, readAttributesOf(consistency, role, 'refused'));
        fail(err);
      }
    };
    attempt();
  }

  /** The replica to read from: this node leads it at `epoch`, and for a replicated partition its lease holds. */
  private replicaFor(keyspace: string, partitionId: number, epoch: number): PartitionReplica {
    const owner = checkOwnership(this.deps.view, this.settings.nodeId, keyspace, partitionId, epoch);
    if (!owner.ok) throw owner.error;
    const replica = this.openReplica(keyspace, partitionId);
    this.checkSeeded(replica, owner.entry.record.epoch);
    // Being handed over (the new leader may serve as soon as etcd names it), or a new tenure that
    // has not acknowledged the log it took over yet.
    const refusal = this.replicator.readRefusal(keyspace, partitionId);
    if (refusal !== undefined) throw refusal;
    if (replica.replicated && this.deps.leaseHolds !== undefined && !this.deps.leaseHolds()) {
      // Another replica may lead by now (a pause, a cut from etcd): no linearizable read here.
      throw new PartitionUnavailableError(`Node ${this.settings.nodeId} does not hold its leader lease for partition ${keyspace}/${partitionId}; it serves no reads until it renews it`, {
        partitionId,
        epoch: owner.entry.record.epoch,
        retryAfterMs: 100,
      });
    }
    return replica;
  }

  /**
   * Refuses a request to a partition made by a split whose replica here has not been seeded yet
   * (the parent's split marker is not applied here): PARTITION_UNAVAILABLE, which routers retry.
   */
  private checkSeeded(replica: PartitionReplica, epoch: number): void {
    if (!this.awaitsSplit(replica)) return;
    throw new PartitionUnavailableError(`Partition ${replica.keyspace}/${replica.partitionId} was just split off; its data is being carved from its parent on node ${this.settings.nodeId}`, {
      partitionId: replica.partitionId,
      epoch,
      retryAfterMs: 20,
    });
  }

  /**
   * Whether a split's new partition is about to be carved here: unseeded, its parent's replica
   * open on this node (whose split marker will carve it), for at most carveWaitMaxMs since this
   * node first found it so — past that, its leader's snapshot seeds it instead.
   */
  private awaitsCarve(replica: PartitionReplica): boolean {
    const id = `${replica.keyspace}/${replica.partitionId}`;
    const origin = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId]?.record.splitFrom;
    if (origin === undefined || !replica.unseeded || !this.replicas.has(`${replica.keyspace}/${origin.parentPartitionId}`)) {
      this.carveWaits.delete(id);
      return false;
    }
    const nowMs = this.deps.clock.monotonicMs();
    const since = this.carveWaits.get(id) ?? nowMs;
    this.carveWaits.set(id, since);
    return nowMs - since < carveWaitMaxMs;
  }

  /** Whether a replica is of a partition made by a split and is still unseeded here: it is neither led nor served until it is. */
  private awaitsSplit(replica: PartitionReplica): boolean {
    if (!replica.unseeded) return false;
    return this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId]?.record.splitFrom !== undefined;
  }

  /** Refuses a key outside the partition's range in this node's view (a RANGE keyspace's router used another map): WRONG_PARTITION. */
  private checkKeyOwned(keyspace: string, partitionId: number, key: Uint8Array): void {
    const record = this.deps.view.keyspace(keyspace)?.partitions[partitionId]?.record;
    if (record === undefined || recordOwnsKey(record, key)) return;
    throw new WrongPartitionError(`Key is outside partition ${keyspace}/${partitionId}'s range at map revision ${this.deps.view.revision}`, {
      partitionId,
      epoch: record.epoch,
      mapRevision: this.deps.view.revision,
    });
  }

  private openReplica(keyspace: string, partitionId: number): PartitionReplica {
    const id = `${keyspace}/${partitionId}`;
    let replica = this.replicas.get(id);
    if (replica === undefined) {
      if (this.deletions.has(id)) {
        // Its previous replica here is being deleted; a new one opens once that is durable.
        throw new PartitionUnavailableError(`Partition ${id} is being deleted on node ${this.settings.nodeId}; try again shortly`, { partitionId, retryAfterMs: 50 });
      }
      if (this.waitsForDeletion(id)) {
        throw new PartitionUnavailableError(`Node ${this.settings.nodeId} holds ${this.settings.partitionsMax} partitions (--partitions-max) until a replica it no longer holds is deleted; try again shortly`, {
          partitionId,
          retryAfterMs: 50,
          limit: this.settings.partitionsMax,
        });
      }
      const store = this.deps.engine.partition(keyspace, partitionId);
      // Followers or not follows the partition's replica set (syncReplicated on every view change).
      const replicas = this.deps.view.keyspace(keyspace)?.partitions[partitionId]?.record.replicas.length ?? 1;
      replica = new PartitionReplica(store, {
        replicated: replicas > 1,
        logRetainEntriesMax: this.settings.logRetainEntries,
        logTruncateBatchMax: logTruncateBatchMax,
        applyEntriesMax: this.settings.writeBatchOpsMax * 2,
        pending: { pendingEntriesMax: this.settings.pendingEntriesMax, pendingBytesMax: this.settings.pendingBytesMax, retryAfterMs: 10 },
        dedup: { dedupEntriesMax: this.settings.dedupEntriesMax, dedupWindowMs: this.settings.dedupWindowMs },
      }, this.deps.clock);
      this.replicas.set(id, replica);
      replica.setSplitHost(this.splitHost);
      this.syncKeyRange(replica);
      this.syncLeadership(replica);
      this.deps.log.info('Opened partition replica', { keyspace, partitionId, appliedIndex: replica.appliedIndex, logEndIndex: replica.logEndIndex });
      // Entries appended before a restart but not yet applied are applied now.
      this.committer.applyNeeded(replica);
      if (replica.installingSnapshot) {
        // Cut off mid-install: what was loaded is unknown. Start empty; the leader re-seeds it.
        this.deps.log.warn('Found an unfinished snapshot install; discarding it, the replica starts empty', { keyspace, partitionId });
        const discard = replica;
        this.committer.submitTask({ replica, run: () => discard.discardSnapshotInstall(), done: () => undefined });
      }
    }
    return replica;
  }

  /**
   * The storage engine wants this replica's log trimmed to what it must keep (the WAL engine's
   * retention bound, PartitionReplica.trimLog). One trim at a time per replica; a replica not
   * open here is left alone.
   */
  trimLogFor(keyspace: string, partitionId: number): void {
    const replica = this.replicas.get(`${keyspace}/${partitionId}`);
    if (replica === undefined || this.trimming.has(replica)) return;
    this.trimming.add(replica);
    const queued = this.committer.submitTask({ replica, run: () => replica.trimLog(), done: () => this.trimming.delete(replica) });
    if (!queued) this.trimming.delete(replica);
  }

  /**
   * Opens every partition the view says this node holds (so start-up cost is paid early), and
   * brings the leader side of replication in line with the view.
   */
  openOwnedPartitions(): void {
    if (this.stopping) return;
    // Replicas the view took away first: a full node opens what it was given in their place.
    const mayDelete = this.deletionAllowed();
    if (mayDelete) this.queueUnowned();
    for (const name of this.deps.view.keyspaceNames()) {
      const ks = this.deps.view.keyspace(name);
      for (const entry of ks?.partitions ?? []) {
        if (entry === undefined || !entry.record.replicas.includes(this.settings.nodeId)) continue;
        // A partition whose old replica is still being deleted, or that would need the store of one
        // being deleted, is opened once that is done (runDeletions runs this again).
        const id = `${name}/${entry.record.partitionId}`;
        if (!this.deletions.has(id) && !this.waitsForDeletion(id)) this.openReplica(name, entry.record.partitionId);
      }
    }
    for (const replica of this.replicas.values()) {
      this.syncKeyRange(replica);
      this.syncLeadership(replica);
      this.syncReplicated(replica);
      // A split marker waiting for this view to show its child is applied now.
      replica.retrySplit();
      this.committer.applyNeeded(replica);
    }
    this.replicator.sync();
    this.splits.appendMarkers();
    if (mayDelete) this.deleteUnowned();
  }

  /** Gives a replica its partition's key range from the view (RANGE keyspaces; every key for HASH). */
  private syncKeyRange(replica: PartitionReplica): void {
    const record = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId]?.record;
    if (record !== undefined) replica.setKeyRange(record.startKey, record.endKey);
  }

  /**
   * Makes a replica's `replicated` setting follow its partition's replica set (RFC 0003: a move
   * adds a learner to a one-replica partition, or leaves a partition with one replica). Going
   * unreplicated, what is durable is acknowledged at once and the writes waiting for followers
   * are answered.
   */
  private syncReplicated(replica: PartitionReplica): void {
    const entry = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId];
    if (entry === undefined || !entry.record.replicas.includes(this.settings.nodeId)) return;
    const replicated = entry.record.replicas.length > 1;
    if (replica.replicated === replicated) return;
    const moved = replica.setReplicated(replicated);
    this.deps.log.info(replicated ? 'Partition replica has followers now' : 'Partition replica is the only one now', {
      keyspace: replica.keyspace,
      partitionId: replica.partitionId,
      epoch: entry.record.epoch,
      replicas: entry.record.replicas,
      acknowledgedIndex: replica.acknowledgedIndex,
    });
    if (moved) this.committer.acknowledged(replica);
  }

  /**
   * Whether opening partition `id` must wait for a deletion: the stores still held by replicas
   * being deleted and the open ones reach --partitions-max (a move that takes a replica from a
   * full node and gives it another in one view change). Without deletions under way the storage
   * engine's own bound applies as before.
   */
  private waitsForDeletion(id: string): boolean {
    if (this.deletions.size === 0 || this.replicas.has(id)) return false;
    let held = this.replicas.size;
    for (const deletion of this.deletions.values()) if (deletion.replica !== undefined) held++;
    return held >= this.settings.partitionsMax;
  }

  /** Whether this node may delete replicas by its view now (see the header). */
  private deletionAllowed(): boolean {
    const view = this.deps.view;
    const bound = this.deps.boundClusterId?.();
    return !this.stopping && view.loaded && bound !== undefined && bound !== '' && view.cluster?.clusterId === bound && view.nodes.has(this.settings.nodeId);
  }

  /** Why the view does not give this node a replica of the partition, or undefined when it does. */
  private unowned(keyspace: string, partitionId: number): DeletionReason | undefined {
    const ks = this.deps.view.keyspace(keyspace);
    if (ks === undefined) return 'keyspace-gone';
    const entry = partitionId < ks.record.partitionCount ? ks.partitions[partitionId] : undefined;
    if (entry === undefined) return 'partition-gone';
    return entry.record.replicas.includes(this.settings.nodeId) ? undefined : 'not-a-replica';
  }

  /** Queues the deletion of every open replica the view no longer gives this node (deletion allowed). */
  private queueUnowned(): void {
    for (const [id, replica] of [...this.replicas]) {
      const reason = this.unowned(replica.keyspace, replica.partitionId);
      if (reason !== undefined) this.queueDeletion(id, { keyspace: replica.keyspace, partitionId: replica.partitionId, replica, reason });
    }
  }

  /**
   * The first time deletion is allowed (start-up), queues the deletion of every partition stored
   * on disk that the view does not give this node (one that returns after its replicas were moved
   * away); then works through the queue (deletion allowed).
   */
  private deleteUnowned(): void {
    if (!this.storedChecked) {
      this.storedChecked = true;
      for (const p of this.deps.engine.storedPartitions()) {
        const id = `${p.keyspace}/${p.partitionId}`;
        if (this.replicas.has(id)) continue;
        const reason = this.unowned(p.keyspace, p.partitionId);
        if (reason !== undefined) this.queueDeletion(id, { keyspace: p.keyspace, partitionId: p.partitionId, replica: undefined, reason });
      }
    }
    if (!this.deleting && this.deletions.size > 0) {
      this.deleting = true;
      void this.runDeletions();
    }
  }

  /**
   * Takes a replica out of service for its deletion: nothing here hands it out again, and the
   * leader and follower sides forget it. Its queued and waiting writes are answered by the
   * retirement (appends refused; waiting ones AMBIGUOUS_RESULT, as when a leadership moves).
   */
  private queueDeletion(id: string, deletion: Deletion): void {
    if (this.deletions.has(id)) return;
    this.deletions.set(id, deletion);
    const { keyspace, partitionId, replica } = deletion;
    if (replica !== undefined) {
      // Not led here (a removed node never leads): writes waiting for it are answered now.
      this.syncLeadership(replica);
      this.replicas.delete(id);
      this.trimming.delete(replica);
    }
    this.replicator.release(keyspace, partitionId);
    this.follower.forget(keyspace, partitionId);
    const entry = this.deps.view.keyspace(keyspace)?.partitions[partitionId];
    this.deps.log.info('Deleting a partition replica this node no longer holds', {
      keyspace,
      partitionId,
      reason: deletion.reason,
      epoch: entry?.record.epoch,
      replicas: entry?.record.replicas,
      open: replica !== undefined,
      appliedIndex: replica?.appliedIndex,
      logEndIndex: replica?.logEndIndex,
    });
  }

  /** Deletes the queued replicas one at a time (each a retirement in the group committer). */
  private async runDeletions(): Promise<void> {
    try {
      for (;;) {
        const next = this.deletions.entries().next();
        if (next.done === true || this.stopping) return;
        const [id, deletion] = next.value;
        const { keyspace, partitionId, replica } = deletion;
        // Nothing may read it when it goes: pulls into it stop, serves of it end.
        await Promise.all([this.installer.cancel(keyspace, partitionId), this.snapshots.release(keyspace, partitionId)]);
        const error = new AmbiguousResultError(`Partition ${id} was removed from node ${this.settings.nodeId} before this write was acknowledged; it may or may not have been applied`, { partitionId });
        const deleted = await new Promise<boolean>((resolve) => {
          const queued = this.committer.submitRetirement({
            replica,
            error,
            run: () => {
              replica?.retire();
              this.deps.engine.dropPartition(keyspace, partitionId);
            },
            done: () => resolve(true),
          });
          if (!queued) resolve(false);
        });
        // Stopping: the replica stays on disk, and the next start deletes it.
        if (!deleted) return;
        this.deletions.delete(id);
        this.replicasDeleted.add(1, { reason: deletion.reason });
        this.deps.log.info('Deleted partition replica', { keyspace, partitionId, reason: deletion.reason, appliedIndex: replica?.appliedIndex, logEndIndex: replica?.logEndIndex });
        // The view may give this node the partition again by now: a new, empty replica opens.
        this.openOwnedPartitions();
      }
    } finally {
      this.deleting = false;
    }
  }

  /**
   * Tells a replica the epoch this node leads it at by the view (0: not leading). When the
   * leadership moves elsewhere, the writes still waiting for acknowledgement are answered
   * AMBIGUOUS_RESULT: they are in the log and may survive on the new leader, or not.
   */
  private syncLeadership(replica: PartitionReplica): void {
    const entry = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId];
    // A split's new partition is led here only once its data is carved here.
    const leading = entry !== undefined && entry.record.leader === this.settings.nodeId && !this.awaitsSplit(replica) ? entry.record.epoch : 0;
    const before = replica.leadingEpoch;
    if (before === leading) return;
    replica.setLeading(leading);
    if (leading > 0) {
      this.committer.resume(replica);
    } else if (before !== undefined && before > 0) {
      const abandoned = this.committer.abandon(
        replica,
        new AmbiguousResultError(`Partition ${replica.keyspace}/${replica.partitionId} changed leader (now ${entry?.record.leader || 'none'}) before this write was acknowledged; it may or may not have been applied`, {
          partitionId: replica.partitionId,
          ...(entry === undefined ? {} : { epoch: entry.record.epoch, leaderHint: entry.record.leader }),
        }),
      );
      this.deps.log.info('No longer leading partition', { keyspace: replica.keyspace, partitionId: replica.partitionId, epoch: entry?.record.epoch, leader: entry?.record.leader, writesAbandoned: abandoned });
    }
  }

  /** One replica's log end and indexes (Replication.GetLogEnd), read in one synchronous step. */
  logEnd(keyspace: string, partitionId: number): { logEnd: { epoch: number; index: number }; durableIndex: number; appliedIndex: number; knownEpoch: number } {
    if (this.stopping) throw new ShuttingDownError(`Data node ${this.settings.nodeId} is shutting down`);
    const entry = this.deps.view.keyspace(keyspace)?.partitions[partitionId];
    if (entry === undefined || !entry.record.replicas.includes(this.settings.nodeId)) {
      throw new WrongPartitionError(`Partition ${keyspace}/${partitionId} has no replica on node ${this.settings.nodeId} at map revision ${this.deps.view.revision}`, {
        mapRevision: this.deps.view.revision,
        partitionId,
      });
    }
    const replica = this.openReplica(keyspace, partitionId);
    replica.noteEpoch(entry.record.epoch);
    return { logEnd: replica.logEndPair, durableIndex: replica.durableIndex, appliedIndex: replica.appliedIndex, knownEpoch: replica.knownEpoch };
  }

  /**
   * Every partition led here with followers and each follower's progress, with the snapshot being
   * served to it if any (Replication.GetFollowerProgress), in one synchronous step.
   */
  followerProgress(): LedPartitionProgress[] {
    return this.replicator.followerProgress((keyspace, partitionId, follower) => this.snapshots.progressOf(keyspace, partitionId, follower));
  }

  /** Whether the node is shutting down. */
  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Streams one partition's keys in [start, end) in chunks, re-checking ownership before each
   * chunk. Each chunk reads a consistent snapshot; the scan as a whole is not one snapshot.
   */
  async scan(req: DataNodeScanRequest, sink: ScanSink, cancelled: () => boolean): Promise<void> {
    const startedMs = this.deps.clock.monotonicMs();
    try {
      const keyspace = resolveKeyspaceName(req.keyspace, this.settings.limits);
      validateScanBound(req.start, this.settings.limits, 'start');
      validateScanBound(req.end, this.settings.limits, 'end');
      const record = this.deps.view.keyspace(keyspace)?.partitions[req.partitionId]?.record;
      // A RANGE partition's scan never leaves its range (its data may still hold keys a split gave away, until the marker is applied).
      const asked = scanRange(req.start, req.end, Buffer.alloc(0));
      const range = asked === undefined || record === undefined ? asked : intersectRange(asked, record.startKey, record.endKey);
      let remaining = req.limit === 0 ? Number.POSITIVE_INFINITY : req.limit;
      let start = range?.start;
      while (start !== undefined && range !== undefined && remaining > 0 && !cancelled()) {
        if (this.stopping) throw new ShuttingDownError(`Data node ${this.settings.nodeId} is shutting down`);
        const replica = this.replicaFor(keyspace, req.partitionId, req.epoch);
        const wanted = Math.min(remaining, this.settings.scanChunkKeysMax);
        const { entries, next } = replica.range({ start, end: range.end, limit: wanted, bytesMax: this.settings.scanChunkBytesMax, keysOnly: req.keysOnly });
        remaining -= entries.length;
        if (entries.length > 0) await sink(entries.map((e) => ({ key: e.key, value: e.value, version: e.version })));
        // The replica says where the next chunk starts; undefined means the range is exhausted.
        start = next;
      }
      this.rpc.record('scan', 'OK', this.deps.clock.monotonicMs() - startedMs);
    } catch (err) {
      const code = (err as Partial<QuireError>).code ?? 'INTERNAL';
      this.rpc.record('scan', code, this.deps.clock.monotonicMs() - startedMs);
      throw err;
    }
  }

  /** Refuses new requests and waits until every accepted write is durable. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.splitTimer);
    // Snapshot pulls stop first: their partial installs stay marked and are discarded on the next open.
    this.installer.close();
    // Writes waiting for followers keep being answered while the committer drains.
    await this.committer.stop();
    this.replicator.close();
    this.snapshotClients?.close();
  }
}
