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
  NodeOperation,
  OperationResult,
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
import { GroupCommitter, type WriteTrace } from './partition/group-commit.js';
import { PartitionReplica, type WriteRequest, type WriteResult } from './partition/replica.js';
import { FollowerHandler } from './replicate/follower-handler.js';
import { HandOvers, handOverDefaults, type HandOverSettings } from './replicate/hand-over.js';
import { LeaderReplicator } from './replicate/leader-replicator.js';
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
  /** SESSION and STALE reads (RFC 0001 "Follower reads"). */
  readonly followerReads: FollowerReadSettings;
}

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
}

/** An async failpoint as a group-commit gate: undefined (stay synchronous) unless armed. */
export function gateOf(failpoints: Failpoints, name: FailpointName): Promise<void> | undefined {
  return failpoints.isArmed(name) ? failpoints.hitAsync(name) : undefined;
}

/** Old log entries deleted per transaction at most, to spread the cost of retention. */
const logTruncateBatchMax = 1024;

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

  constructor(
    private readonly settings: DataNodeSettings,
    private readonly deps: DataNodeDeps,
  ) {
    this.rpc = new RpcMetrics(deps.meter, 'datanode', 'kv');
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
    this.replicator = new LeaderReplicator(
      {
        appendEntriesMax: settings.writeBatchOpsMax,
        sendAheadEntriesMax: settings.writeBatchOpsMax * 4,
        streamBatchBytesMax: settings.limits.streamBatchBytesMax,
        isrLagTimeMs: settings.isrLagTimeMs,
        followerSilenceMs: settings.followerSilenceMs,
        tickMs: 50,
        heartbeatMs: 250,
      },
      {
        nodeId: settings.nodeId,
        view: deps.view,
        clock: deps.clock,
        log: deps.log,
        committer: this.committer,
        openReplica,
        ...(deps.alterIsr === undefined ? {} : { alterIsr: deps.alterIsr }),
        ...(deps.transferLeader === undefined ? {} : { transferLeader: deps.transferLeader }),
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
    this.snapshots = new SnapshotSource(deps.snapshotSource ?? snapshotSourceDefaults, {
      nodeId: settings.nodeId,
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      keepLogForSnapshot: (keyspace, partitionId, epoch, follower, fromIndex) => this.replicator.keepLogForSnapshot(keyspace, partitionId, epoch, follower, fromIndex),
      openReplica,
      openReader: (keyspace, partitionId) => deps.engine.partition(keyspace, partitionId).snapshotReader(),
    });
    this.follower = new FollowerHandler({
      nodeId: settings.nodeId,
      view: deps.view,
      committer: this.committer,
      log: deps.log,
      openReplica,
      installSnapshot: (request) => this.installer.request(request),
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
    const admission = this.replicator.admit(keyspace, op.partitionId);
    if (!admission.ok) throw admission.error;
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

  private openReplica(keyspace: string, partitionId: number): PartitionReplica {
    const id = `${keyspace}/${partitionId}`;
    let replica = this.replicas.get(id);
    if (replica === undefined) {
      const store = this.deps.engine.partition(keyspace, partitionId);
      // Followers or not is fixed by the partition's replica set (a replication factor change
      // would re-open it; RFC 0001 step 4).
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
    for (const name of this.deps.view.keyspaceNames()) {
      const ks = this.deps.view.keyspace(name);
      for (const entry of ks?.partitions ?? []) {
        if (entry?.record.replicas.includes(this.settings.nodeId)) this.openReplica(name, entry.record.partitionId);
      }
    }
    for (const replica of this.replicas.values()) this.syncLeadership(replica);
    this.replicator.sync();
  }

  /**
   * Tells a replica the epoch this node leads it at by the view (0: not leading). When the
   * leadership moves elsewhere, the writes still waiting for acknowledgement are answered
   * AMBIGUOUS_RESULT: they are in the log and may survive on the new leader, or not.
   */
  private syncLeadership(replica: PartitionReplica): void {
    const entry = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId];
    const leading = entry !== undefined && entry.record.leader === this.settings.nodeId ? entry.record.epoch : 0;
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
      const range = scanRange(req.start, req.end, Buffer.alloc(0));
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
    // Snapshot pulls stop first: their partial installs stay marked and are discarded on the next open.
    this.installer.close();
    // Writes waiting for followers keep being answered while the committer drains.
    await this.committer.stop();
    this.replicator.close();
    this.snapshotClients?.close();
  }
}
