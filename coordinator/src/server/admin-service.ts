/**
 * The Admin service. The coordinator leader answers from its metadata view; a standby
 * answers NOT_LEADER with the leader's address as the hint so the caller can go there.
 * TransferLeader (RFC 0001, "Leadership transfer") picks the target with the pure
 * `chooseTransferTarget` and asks the partition's leader data node to hand over
 * (Replication.HandOver); the leader writes the transfer itself through
 * Coordination.TransferLeader once the target holds its whole log, and the answer is the
 * record written. CreateKeyspace decides with the pure `planCreateKeyspace` and writes the
 * keyspace record through the controller's fenced path (`applyFenced`, the key expected
 * absent); placement assigns its partitions on the next reconcile, and the answer waits (at most
 * `createKeyspaceWaitMs`) until every partition has a live leader. DecommissionNode decides with
 * the pure `planDecommission` and writes the drain record, CancelDecommission deletes it (both
 * through `applyFenced`); Rebalance asks the controller's move executor to plan (and start)
 * moves. SplitPartition has the `SplitWriter` judge (the pure `planSplit`) and write a split of a
 * RANGE partition in one fenced transaction. Nothing else here writes etcd.
 */
import {
  DroppedKeyspaceRecord,
  KeyspaceRecord,
  type AdminServer,
  type ClusterStatusRequest,
  type ClusterStatusResponse,
  type CreateKeyspaceRequest,
  type CreateKeyspaceResponse,
  type CancelDecommissionRequest,
  type CancelDecommissionResponse,
  type DecommissionNodeRequest,
  type DropKeyspaceRequest,
  type DropKeyspaceResponse,
  type ForgetNodeRequest,
  type ForgetNodeResponse,
  type DecommissionNodeResponse,
  type ListMovesRequest,
  type ListMovesResponse,
  type MoveInfo,
  type RebalanceRequest,
  type RebalanceResponse,
  type SplitPartitionRequest,
  type SplitPartitionResponse,
  type GetPartitionMapRequest,
  type GetPartitionMapResponse,
  type ListKeyspacesRequest,
  type ListKeyspacesResponse,
  type TransferLeaderRequest,
  type TransferLeaderResponse,
} from '@quire/proto';
import type { FencedChange, FencedResult } from '@quire/metastore';
import {
  AlreadyExistsError,
  drainKey,
  droppedKeyspaceKey,
  knownNodeKey,
  FailedPreconditionError,
  keyspaceKey,
  InvalidArgumentError,
  KeyspaceNotFoundError,
  PartitionUnavailableError,
  InternalError,
  resolveKeyspaceName,
  waitForView,
  toQuireError,
  type Clock,
  type Limits,
  type Logger,
  type MetadataView,
} from '@quire/common';
import { recordedUnaryHandler, type RpcMetrics } from '@quire/runtime';
import { chooseTransferTarget, countLeaderships } from '../failover/index.js';
import type { FollowerProgressSource } from '../follower-progress-client.js';
import type { HandOverSource } from '../hand-over-client.js';
import { describeKeyspace, planCreateKeyspace, planDropKeyspace, type KeyspaceDefaults } from '../keyspaces/create-keyspace.js';
import { capacityOf } from '../placement/planner.js';
import { clusterStatusOf, keyspaceInfoOf, leadersWithFollowers, moveHistoryOf, movesOf, partitionMapOf } from '../status/cluster-status.js';
import { drainChange } from '../move-executor.js';
import { checkNodeId, planDecommission, planForgetNode } from '../moves/decommission.js';
import { replicaCounts, wirePhaseOf } from '../moves/move-records.js';
import type { SplitWriter } from '../split-writer.js';
import type { ProposedMove } from '../placement/rebalance.js';
import { coordinatorNotLeaderError } from './not-leader.js';

/** Deadline of the call asking a partition leader to hand over: its catch-up wait (5 s) and the transfer call, with margin. */
const handOverCallDeadlineMs = 9_000;

/** How long CreateKeyspace waits for every new partition to have a live leader before answering. */
export const createKeyspaceWaitMs = 5_000;

/** What CreateKeyspace needs beyond the view: the fenced write path and what 0 fields mean. */
export interface AdminKeyspaceDeps {
  /** The controller's fenced write (its term; a term refusal steps it down). */
  readonly writer: { applyFenced(changes: readonly FencedChange[]): Promise<FencedResult> };
  readonly defaults: KeyspaceDefaults;
}

/** What TransferLeader and ClusterStatus need beyond the view. */
export interface AdminTransferDeps {
  readonly handOver: HandOverSource;
  readonly log: Logger;
  /** Partition leaders' follower progress for ClusterStatus (absent: follower lag shows as unknown). */
  readonly followerProgress?: FollowerProgressSource;
  /** Deadline of each GetFollowerProgress call ClusterStatus makes (all run in parallel). */
  readonly followerProgressDeadlineMs?: number;
}

/** What DecommissionNode, Rebalance and ListMoves need: the controller's move executor. */
export interface AdminMoveDeps {
  /** Plans the moves a rebalance starts now; starts them unless `dryRun`. */
  rebalance(dryRun: boolean): Promise<ProposedMove[]>;
  /** Moves in flight (counted in a Rebalance answer). */
  inFlightCount(): number;
}

/** Builds the Admin service implementation. */
export function createAdminService(
  view: MetadataView,
  isLeader: () => boolean,
  limits: Limits,
  metrics: RpcMetrics,
  clock: Clock,
  transfers: AdminTransferDeps,
  keyspaces: AdminKeyspaceDeps,
  moves: AdminMoveDeps,
  splits: Pick<SplitWriter, 'split' | 'keyspaceName'>,
): AdminServer {
  const ensureLeader = (): void => {
    if (!isLeader()) throw coordinatorNotLeaderError(view);
  };

  async function transferLeader(request: TransferLeaderRequest): Promise<TransferLeaderResponse> {
    ensureLeader();
    const name = resolveKeyspaceName(request.keyspace, limits);
    const ks = view.keyspace(name);
    if (ks === undefined) throw new KeyspaceNotFoundError(`keyspace "${name}" does not exist`, { field: 'keyspace' });
    if (request.partitionId >= ks.record.partitionCount) {
      throw new InvalidArgumentError(`partition_id ${request.partitionId} is out of range: keyspace "${name}" has partitions 0..${ks.record.partitionCount - 1}`, {
        field: 'partition_id',
        limit: ks.record.partitionCount - 1,
        actual: request.partitionId,
      });
    }
    const entry = ks.partitions[request.partitionId];
    if (entry === undefined) {
      throw new PartitionUnavailableError(`Partition ${name}/${request.partitionId} is not assigned yet`, { partitionId: request.partitionId });
    }
    const records = view.keyspaceNames().flatMap((n) => (view.keyspace(n)?.partitions ?? []).flatMap((p) => (p === undefined ? [] : [p.record])));
    const choice = chooseTransferTarget(entry, request.targetNodeId, new Set(view.nodes.keys()), countLeaderships(records));
    if (!choice.ok) throw choice.error;
    const { record } = entry;
    if (choice.kind === 'already-leads') return { leader: record.leader, epoch: record.epoch };
    const address = view.nodes.get(record.leader)?.address ?? '';
    const fields = { keyspace: name, partitionId: record.partitionId, epoch: record.epoch, leader: record.leader, target: choice.target };
    transfers.log.info('Asking a partition leader to hand over', fields);
    try {
      const response = await transfers.handOver.handOver(
        record.leader,
        address,
        { keyspace: name, partitionId: record.partitionId, epoch: record.epoch, targetNodeId: choice.target },
        handOverCallDeadlineMs,
      );
      const written = response.record;
      if (written === undefined) throw new InternalError(`Data node ${record.leader} answered HandOver without the record it wrote`);
      return { leader: written.leader, epoch: written.epoch };
    } catch (err) {
      transfers.log.warn('A partition leader did not hand over', { ...fields, code: toQuireError(err).code, err: String(err) });
      throw err;
    }
  }

  /**
   * The status from the view, with each follower's lag as its live leader reports it: every
   * leader is asked in parallel with one deadline, so a node that does not answer delays the
   * status by that deadline at most and shows its followers' lag as unknown.
   */
  async function clusterStatus(): Promise<ClusterStatusResponse> {
    ensureLeader();
    const source = transfers.followerProgress;
    if (source === undefined) return clusterStatusOf(view);
    const asked = leadersWithFollowers(view).flatMap((nodeId) => {
      const address = view.nodes.get(nodeId)?.address;
      return address === undefined ? [] : [{ nodeId, address }];
    });
    const progress = await source.progressOf(asked, transfers.followerProgressDeadlineMs ?? 0);
    // Built from the view as it is now; lags reported for another epoch show as unknown.
    return clusterStatusOf(view, progress);
  }

  async function createKeyspace(request: CreateKeyspaceRequest): Promise<CreateKeyspaceResponse> {
    ensureLeader();
    const decision = planCreateKeyspace(request, {
      exists: (name) => view.keyspace(name) !== undefined,
      dropped: (name) => view.droppedKeyspaces.has(name),
      nodeRoom: nodeRoomOf(view),
      limits,
      defaults: keyspaces.defaults,
    });
    if (!decision.ok) throw decision.error;
    const { record } = decision;
    const result = await keyspaces.writer.applyFenced([{ key: keyspaceKey(record.name), value: KeyspaceRecord.encode(record).finish(), expectedModRevision: 0 }]);
    if (!result.applied) {
      // Nothing was written: another leader holds the term, or the name was taken meanwhile.
      if (result.reason === 'term') throw coordinatorNotLeaderError(view);
      throw new AlreadyExistsError(`keyspace "${record.name}" already exists; nothing changed`, { field: 'keyspace' });
    }
    transfers.log.info('Keyspace created', { keyspace: record.name, settings: describeKeyspace(record), revision: result.revision });
    const led = await waitForView(view, (v) => {
      const ks = v.keyspace(record.name);
      return ks !== undefined && keyspaceInfoOf(v, ks).partitionsLed === record.partitionCount;
    }, createKeyspaceWaitMs);
    // Written either way: a view that has not caught up answers with no partition placed yet.
    const ks = view.keyspace(record.name) ?? { record, modRevision: result.revision, partitions: new Array<undefined>(record.partitionCount).fill(undefined) };
    if (!led) transfers.log.warn('A new keyspace has partitions without a live leader yet', { ...keyspaceInfoOf(view, ks) });
    return { map: partitionMapOf(view, ks) };
  }

  async function dropKeyspace(request: DropKeyspaceRequest): Promise<DropKeyspaceResponse> {
    ensureLeader();
    const decision = planDropKeyspace(request.keyspace, (name) => {
      const ks = view.keyspace(name);
      return ks === undefined ? undefined : { modRevision: ks.modRevision, partitionCount: ks.record.partitionCount };
    }, limits);
    if (!decision.ok) throw decision.error;
    const result = await keyspaces.writer.applyFenced([
      { key: keyspaceKey(decision.name), value: undefined, expectedModRevision: decision.modRevision },
      { key: droppedKeyspaceKey(decision.name), value: DroppedKeyspaceRecord.encode({ name: decision.name, droppedAtMs: clock.nowMs() }).finish(), expectedModRevision: 'any' },
    ]);
    if (!result.applied) {
      if (result.reason === 'term') throw coordinatorNotLeaderError(view);
      throw new KeyspaceNotFoundError(`keyspace "${decision.name}" changed or was dropped meanwhile; nothing changed by this call`, { field: 'keyspace' });
    }
    transfers.log.warn('Keyspace dropped: its partition records and replicas are deleted next', { keyspace: decision.name, partitions: decision.partitionCount, revision: result.revision });
    return { partitionCount: decision.partitionCount, revision: result.revision };
  }

  async function decommissionNode(request: DecommissionNodeRequest): Promise<DecommissionNodeResponse> {
    ensureLeader();
    const decision = planDecommission(view, request.nodeId);
    if (!decision.ok) throw decision.error;
    if (decision.alreadyDraining) return { replicaCount: decision.replicaCount };
    const result = await keyspaces.writer.applyFenced([drainChange(request.nodeId, clock.nowMs())]);
    if (!result.applied) {
      if (result.reason === 'term') throw coordinatorNotLeaderError(view);
      // Written concurrently by another call: the node drains either way.
    }
    transfers.log.info('Data node draining', { nodeId: request.nodeId, replicaCount: decision.replicaCount });
    return { replicaCount: decision.replicaCount };
  }

  async function cancelDecommission(request: CancelDecommissionRequest): Promise<CancelDecommissionResponse> {
    ensureLeader();
    const drain = view.drains.get(request.nodeId);
    if (drain === undefined) {
      const bad = checkNodeId(view, request.nodeId);
      if (bad !== undefined) throw bad;
      return { wasDraining: false };
    }
    const result = await keyspaces.writer.applyFenced([{ key: drainKey(request.nodeId), value: undefined, expectedModRevision: drain.modRevision }]);
    if (!result.applied && result.reason === 'term') throw coordinatorNotLeaderError(view);
    transfers.log.info('Data node drain cancelled', { nodeId: request.nodeId });
    return { wasDraining: true };
  }

  async function forgetNode(request: ForgetNodeRequest): Promise<ForgetNodeResponse> {
    ensureLeader();
    const decision = planForgetNode(view, request.nodeId);
    if (!decision.ok) throw decision.error;
    const changes: FencedChange[] = [{ key: knownNodeKey(request.nodeId), value: undefined, expectedModRevision: 'any' }];
    if (decision.drainRevision !== undefined) changes.push({ key: drainKey(request.nodeId), value: undefined, expectedModRevision: decision.drainRevision });
    const result = await keyspaces.writer.applyFenced(changes);
    if (!result.applied) {
      if (result.reason === 'term') throw coordinatorNotLeaderError(view);
      throw new FailedPreconditionError(`Data node ${request.nodeId} changed meanwhile (its drain was cancelled or recorded again); nothing changed. Try again`, { field: 'node_id' });
    }
    transfers.log.info('Data node forgotten', { nodeId: request.nodeId });
    return {};
  }

  async function rebalance(request: RebalanceRequest): Promise<RebalanceResponse> {
    ensureLeader();
    const planned = await moves.rebalance(request.dryRun);
    const startedAtMs = request.dryRun ? 0 : clock.nowMs();
    const phase = wirePhaseOf('adding');
    return {
      moves: planned.map((m): MoveInfo => ({ keyspace: m.keyspace, partitionId: m.partitionId, source: m.source, target: m.target, phase, reason: m.reason, startedAtMs, endedAtMs: 0, outcome: '' })),
      inFlight: Math.max(0, moves.inFlightCount() - (request.dryRun ? 0 : planned.length)),
    };
  }

  /** Splits the RANGE partition holding `at` (the one named, when partition_id is set); answers once the change is in etcd. */
  async function splitPartition(request: SplitPartitionRequest): Promise<SplitPartitionResponse> {
    ensureLeader();
    const keyspace = splits.keyspaceName(request.keyspace);
    const done = await splits.split({ keyspace, at: request.at, partitionId: request.partitionId }, 'manual');
    return { leftPartitionId: done.parent.partitionId, rightPartitionId: done.child.partitionId, epoch: done.parent.epoch, revision: done.revision };
  }

  /** Admin methods answered from the view: only the leader's view is authoritative. */
  function handle<Req, Res>(method: string, body: (request: Req) => Res) {
    return recordedUnaryHandler<Req, Res>(metrics, clock, method, (call) => {
      ensureLeader();
      return body(call.request);
    });
  }
  return {
    transferLeader: recordedUnaryHandler<TransferLeaderRequest, TransferLeaderResponse>(metrics, clock, 'TransferLeader', (call) => transferLeader(call.request)),
    clusterStatus: recordedUnaryHandler<ClusterStatusRequest, ClusterStatusResponse>(metrics, clock, 'ClusterStatus', () => clusterStatus()),
    createKeyspace: recordedUnaryHandler<CreateKeyspaceRequest, CreateKeyspaceResponse>(metrics, clock, 'CreateKeyspace', (call) => createKeyspace(call.request)),
    dropKeyspace: recordedUnaryHandler<DropKeyspaceRequest, DropKeyspaceResponse>(metrics, clock, 'DropKeyspace', (call) => dropKeyspace(call.request)),
    forgetNode: recordedUnaryHandler<ForgetNodeRequest, ForgetNodeResponse>(metrics, clock, 'ForgetNode', (call) => forgetNode(call.request)),
    decommissionNode: recordedUnaryHandler<DecommissionNodeRequest, DecommissionNodeResponse>(metrics, clock, 'DecommissionNode', (call) => decommissionNode(call.request)),
    cancelDecommission: recordedUnaryHandler<CancelDecommissionRequest, CancelDecommissionResponse>(metrics, clock, 'CancelDecommission', (call) => cancelDecommission(call.request)),
    rebalance: recordedUnaryHandler<RebalanceRequest, RebalanceResponse>(metrics, clock, 'Rebalance', (call) => rebalance(call.request)),
    splitPartition: recordedUnaryHandler<SplitPartitionRequest, SplitPartitionResponse>(metrics, clock, 'SplitPartition', (call) => splitPartition(call.request)),
    listMoves: handle<ListMovesRequest, ListMovesResponse>('ListMoves', () => ({ inFlight: movesOf(view), recent: moveHistoryOf(view) })),
    listKeyspaces: handle<ListKeyspacesRequest, ListKeyspacesResponse>('ListKeyspaces', () => ({
      keyspaces: view.keyspaceNames().flatMap((name) => {
        const ks = view.keyspace(name);
        return ks === undefined ? [] : [keyspaceInfoOf(view, ks)];
      }),
      mapRevision: view.revision,
    })),
    getPartitionMap: handle<GetPartitionMapRequest, GetPartitionMapResponse>('GetPartitionMap', (request) => {
      const name = resolveKeyspaceName(request.keyspace, limits);
      const ks = view.keyspace(name);
      if (ks === undefined) throw new KeyspaceNotFoundError(`keyspace "${name}" does not exist`, { field: 'keyspace' });
      return { map: partitionMapOf(view, ks) };
    }),
  };
}

/** Room for more replicas on each live data node: its partitions_max less the replicas it holds. */
function nodeRoomOf(view: MetadataView): number[] {
  const held = replicaCounts(view);
  return [...view.nodes.values()].map((reg) => Math.max(0, capacityOf(reg.partitionsMax) - (held.get(reg.nodeId) ?? 0)));
}
