/**
 * The Coordination service (`quire.v1.internal.Coordination`, RFC 0001 "ISR changes" and
 * "Leadership transfer"): a partition leader asks the coordinator leader to change its
 * partition's ISR (AlterIsr), or — once it has stopped serving the partition and the target
 * holds its whole log — to make an ISR member the leader at epoch + 1 (TransferLeader), or — once
 * its RANGE partition passed a size or load threshold — to split it (RequestSplit, judged and
 * written by the `SplitWriter` as Admin.SplitPartition is, plus the requester's epoch and
 * leadership). Each
 * request is checked against the partition record in the view by a pure planner (`planAlterIsr`,
 * `planTransferLeader`), and an actual change is written through the controller's fenced path,
 * comparing the record's mod revision and this coordinator's term; the answer comes only once
 * the transaction is committed in etcd.
 *
 * Invariants:
 *  - Only the leader answers: a standby refuses with NOT_LEADER naming the leader's address
 *    (as Admin does), or COORDINATOR_UNAVAILABLE when no leader is elected.
 *  - AlterIsr writes nothing unless the ISR changes (or, with it, a split's carving ends:
 *    splitFrom is cleared), and never changes the epoch; TransferLeader
 *    changes only the leader and bumps the epoch by one.
 *  - A TransferLeader whose caller has given up (its deadline passed or it cancelled) is not
 *    written, so a late request cannot hand over a partition its leader serves again. A
 *    transaction whose outcome etcd left unknown is AMBIGUOUS_RESULT, never a plain failure.
 *  - A write refused because the record moved is CONDITION_FAILED with the record's current
 *    mod revision as `currentVersion`; the leader decides what to ask next (nobody retries here).
 *  - A request computed from a record revision newer than the view waits, bounded, for the
 *    view to catch up before it is judged, so a leader is not refused for this coordinator's lag.
 */
import type { Meter } from '@opentelemetry/api';
import {
  PartitionRecord,
  type AlterIsrRequest,
  type AlterIsrResponse,
  type CoordinationServer,
  type CoordinationTransferLeaderRequest,
  type CoordinationTransferLeaderResponse,
  type RequestSplitRequest,
  type RequestSplitResponse,
} from '@quire/proto';
import {
  AmbiguousResultError,
  ConditionFailedError,
  CoordinatorUnavailableError,
  DeadlineExceededError,
  InvalidArgumentError,
  WrongPartitionError,
  partitionKey,
  resolveKeyspaceName,
  type Clock,
  type Limits,
  type Logger,
  type MetadataView,
  type PartitionEntry,
} from '@quire/common';
import { recordedUnaryHandler, type RpcMetrics } from '@quire/runtime';
import type { FencedChange, FencedResult, MetadataWatcher } from '@quire/metastore';
import { replicationFactorMax } from '../config.js';
import { planAlterIsr, planTransferLeader } from '../failover/index.js';
import type { SplitReason } from '../keyspaces/split.js';
import type { SplitWriter } from '../split-writer.js';
import { coordinatorNotLeaderError } from './not-leader.js';

/** How long a request waits for the view to reach a revision it names or a refused write saw. */
const viewCatchUpWaitMs = 1_000;

/** What the service writes through: the controller, which holds the term. */
export interface IsrWriter {
  /** Whether this coordinator currently leads. */
  readonly isLeader: boolean;
  /** Writes `changes` in one transaction fenced by the current term and each change's expected revision. */
  applyFenced(changes: readonly FencedChange[]): Promise<FencedResult>;
}

/** Dependencies of the Coordination service. */
export interface CoordinationServiceDeps {
  readonly view: MetadataView;
  readonly watcher: Pick<MetadataWatcher, 'waitForRevision'>;
  readonly writer: IsrWriter;
  readonly limits: Limits;
  /** `quire_coordinator_coordination_*` request metrics. */
  readonly metrics: RpcMetrics;
  readonly meter: Meter;
  readonly clock: Clock;
  readonly log: Logger;
  /** Judges and writes RequestSplit's splits (shared with Admin.SplitPartition). */
  readonly splits: Pick<SplitWriter, 'split'>;
}

/** Builds the Coordination service implementation. */
export function createCoordinationService(deps: CoordinationServiceDeps): CoordinationServer {
  const { view, clock, metrics } = deps;
  const isrChanges = deps.meter.createCounter('quire_coordinator_isr_changes', {
    description: 'Partition ISR changes written on behalf of partition leaders (AlterIsr)',
  });
  const leaderTransfers = deps.meter.createCounter('quire_coordinator_leader_transfers', {
    description: 'Partition leaderships handed over at the request of their leaders (TransferLeader)',
  });

  const ensureLeader = (): void => {
    if (deps.writer.isLeader) return;
    if (view.coordinatorLeader === undefined) {
      throw new CoordinatorUnavailableError('This coordinator is not the leader and no leader is elected', { mapRevision: view.revision });
    }
    throw coordinatorNotLeaderError(view);
  };

  /**
   * The partition's entry to judge a leader's request by. A leader that saw a newer record than
   * this view has is judged once the view caught up (bounded by viewCatchUpWaitMs).
   */
  async function currentEntry(request: AlterIsrRequest | CoordinationTransferLeaderRequest, what: string): Promise<PartitionEntry> {
    const entry = partitionEntry(view, request, what);
    if (request.recordRevision <= entry.modRevision || request.recordRevision <= view.revision) return entry;
    await deps.watcher.waitForRevision(request.recordRevision, viewCatchUpWaitMs);
    ensureLeader();
    return partitionEntry(view, request, what);
  }

  async function alterIsr(request: AlterIsrRequest): Promise<AlterIsrResponse> {
    ensureLeader();
    validate(request, deps.limits);
    const entry = await currentEntry(request, 'AlterIsr');
    const planned = planAlterIsr(entry, {
      requester: request.leaderNodeId,
      epoch: request.epoch,
      isr: request.isr,
      expectedRevision: request.recordRevision,
    });
    if (!planned.ok) throw planned.error;
    const { plan } = planned;
    if (!plan.changed) return { record: entry.record, recordRevision: entry.modRevision, changed: false };

    const { record } = plan;
    let result: FencedResult;
    try {
      result = await deps.writer.applyFenced([
        { key: partitionKey(record.keyspace, record.partitionId), value: PartitionRecord.encode(record).finish(), expectedModRevision: plan.expectedRevision },
      ]);
    } catch (err) {
      throw new CoordinatorUnavailableError(`Cannot write the ISR change of partition ${record.keyspace}/${record.partitionId} to etcd`, {}, { cause: err });
    }
    if (result.applied) {
      isrChanges.add(1);
      deps.log.info('Partition ISR changed', {
        keyspace: record.keyspace,
        partitionId: record.partitionId,
        leader: record.leader,
        epoch: record.epoch,
        isr: record.isr,
        added: plan.added,
        removed: plan.removed,
        ...(plan.splitCarved ? { splitCarved: true } : {}),
        revision: result.revision,
      });
      return { record, recordRevision: result.revision, changed: true };
    }
    // Another coordinator holds the term: the controller is stepping down.
    if (result.reason === 'term') throw coordinatorNotLeaderError(view);
    // The record moved between the check and the write: answer with its revision now.
    await deps.watcher.waitForRevision(result.revision, viewCatchUpWaitMs);
    const current = partitionEntry(view, request, 'AlterIsr');
    throw new ConditionFailedError(
      `AlterIsr for partition ${record.keyspace}/${record.partitionId} was computed from record revision ${plan.expectedRevision}, but the record changed to revision ${current.modRevision}`,
      { partitionId: record.partitionId, epoch: current.record.epoch, leaderHint: current.record.leader, currentVersion: current.modRevision },
    );
  }

  async function transferLeader(request: CoordinationTransferLeaderRequest, callerGone: () => boolean): Promise<CoordinationTransferLeaderResponse> {
    ensureLeader();
    validateTransfer(request, deps.limits);
    const entry = await currentEntry(request, 'TransferLeader');
    const planned = planTransferLeader(
      entry,
      { requester: request.leaderNodeId, epoch: request.epoch, target: request.targetNodeId, expectedRevision: request.recordRevision },
      new Set(view.nodes.keys()),
    );
    if (!planned.ok) throw planned.error;
    const { record, expectedRevision } = planned.plan;
    const name = `${record.keyspace}/${record.partitionId}`;
    // The leader resumes serving once its deadline has passed without an answer; a transfer
    // written after that would give the partition two serving leaders.
    if (callerGone()) throw new DeadlineExceededError(`TransferLeader for partition ${name}: the caller gave up before the transfer was written; nothing was written`);
    let result: FencedResult;
    try {
      result = await deps.writer.applyFenced([{ key: partitionKey(record.keyspace, record.partitionId), value: PartitionRecord.encode(record).finish(), expectedModRevision: expectedRevision }]);
    } catch (err) {
      throw new AmbiguousResultError(`The leadership transfer of partition ${name} was sent to etcd, but its outcome is unknown`, { partitionId: record.partitionId }, { cause: err });
    }
    if (result.applied) {
      leaderTransfers.add(1);
      deps.log.info('Partition leadership transferred', {
        keyspace: record.keyspace,
        partitionId: record.partitionId,
        oldLeader: request.leaderNodeId,
        leader: record.leader,
        epoch: record.epoch,
        isr: record.isr,
        revision: result.revision,
      });
      return { record, recordRevision: result.revision };
    }
    if (result.reason === 'term') throw coordinatorNotLeaderError(view);
    await deps.watcher.waitForRevision(result.revision, viewCatchUpWaitMs);
    const current = partitionEntry(view, request, 'TransferLeader');
    throw new ConditionFailedError(`TransferLeader for partition ${name} was prepared at record revision ${expectedRevision}, but the record changed to revision ${current.modRevision}`, {
      partitionId: record.partitionId,
      epoch: current.record.epoch,
      leaderHint: current.record.leader,
      currentVersion: current.modRevision,
    });
  }

  async function requestSplit(request: RequestSplitRequest): Promise<RequestSplitResponse> {
    ensureLeader();
    const reason = validateSplit(request, deps.limits);
    const done = await deps.splits.split(
      { keyspace: request.keyspace, at: request.splitKey, partitionId: request.partitionId, atField: 'split_key', leader: { nodeId: request.leaderNodeId, epoch: request.epoch } },
      reason,
    );
    return { rightPartitionId: done.child.partitionId, epoch: done.parent.epoch };
  }

  function handle<Req, Res>(method: string, body: (request: Req, callerGone: () => boolean) => Promise<Res>) {
    return recordedUnaryHandler<Req, Res>(metrics, clock, method, (call) => {
      const callerGone = (): boolean => {
        if (call.cancelled) return true;
        const deadline = call.getDeadline();
        const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
        return Number.isFinite(deadlineMs) && deadlineMs <= clock.nowMs();
      };
      return body(call.request, callerGone);
    });
  }

  return {
    alterIsr: handle<AlterIsrRequest, AlterIsrResponse>('AlterIsr', alterIsr),
    transferLeader: handle<CoordinationTransferLeaderRequest, CoordinationTransferLeaderResponse>('TransferLeader', transferLeader),
    requestSplit: handle<RequestSplitRequest, RequestSplitResponse>('RequestSplit', requestSplit),
  };
}

/** Refuses requests that cannot name a partition change, before looking anything up. */
function validate(request: AlterIsrRequest, limits: Limits): void {
  if (request.keyspace === '') throw new InvalidArgumentError('AlterIsr needs the keyspace name (it is never empty)', { field: 'keyspace' });
  resolveKeyspaceName(request.keyspace, limits);
  if (request.leaderNodeId === '') throw new InvalidArgumentError('AlterIsr needs the requester node id', { field: 'leader_node_id' });
  if (request.isr.length > replicationFactorMax) {
    throw new InvalidArgumentError(`AlterIsr names ${request.isr.length} ISR members; a partition has at most ${replicationFactorMax} replicas`, {
      field: 'isr',
      limit: replicationFactorMax,
      actual: request.isr.length,
    });
  }
}

/** Refuses TransferLeader requests that cannot name a transfer, before looking anything up. */
function validateTransfer(request: CoordinationTransferLeaderRequest, limits: Limits): void {
  if (request.keyspace === '') throw new InvalidArgumentError('TransferLeader needs the keyspace name (it is never empty)', { field: 'keyspace' });
  resolveKeyspaceName(request.keyspace, limits);
  if (request.leaderNodeId === '') throw new InvalidArgumentError('TransferLeader needs the requester node id', { field: 'leader_node_id' });
  if (request.targetNodeId === '') throw new InvalidArgumentError('TransferLeader needs the target node id', { field: 'target_node_id' });
}

/** Refuses RequestSplit requests that cannot name a split, before looking anything up; returns the reason to count. */
function validateSplit(request: RequestSplitRequest, limits: Limits): Exclude<SplitReason, 'manual'> {
  if (request.keyspace === '') throw new InvalidArgumentError('RequestSplit needs the keyspace name (it is never empty)', { field: 'keyspace' });
  resolveKeyspaceName(request.keyspace, limits);
  if (request.leaderNodeId === '') throw new InvalidArgumentError('RequestSplit needs the requester node id', { field: 'leader_node_id' });
  if (request.reason !== 'size' && request.reason !== 'load') {
    throw new InvalidArgumentError(`RequestSplit reason is "${request.reason.slice(0, 40)}"; it is "size" or "load"`, { field: 'reason' });
  }
  return request.reason;
}

/** Returns the partition the request names: WRONG_PARTITION if the view has no such keyspace or record. */
function partitionEntry(view: MetadataView, request: { readonly keyspace: string; readonly partitionId: number }, what: string): PartitionEntry {
  const keyspace = view.keyspace(request.keyspace);
  const name = `${request.keyspace}/${request.partitionId}`;
  if (keyspace === undefined) {
    throw new WrongPartitionError(`${what} for partition ${name}: keyspace "${request.keyspace}" does not exist`, {
      field: 'keyspace',
      partitionId: request.partitionId,
      mapRevision: view.revision,
    });
  }
  if (request.partitionId >= keyspace.partitions.length) {
    throw new InvalidArgumentError(`${what} for partition ${name}: keyspace "${request.keyspace}" has partitions 0..${keyspace.partitions.length - 1}`, {
      field: 'partition_id',
      limit: keyspace.partitions.length - 1,
      actual: request.partitionId,
    });
  }
  const entry = keyspace.partitions[request.partitionId];
  if (entry === undefined) {
    throw new WrongPartitionError(`${what} for partition ${name}: the partition is not assigned`, {
      field: 'partition_id',
      partitionId: request.partitionId,
      mapRevision: view.revision,
    });
  }
  return entry;
}
