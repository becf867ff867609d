/**
 * Pure glue between the move protocol's core (move-step.ts, placement/rebalance.ts) and what the
 * coordinator stores and shows: the move's phase on the wire and in etcd (MoveRecord wraps
 * quire.v1.MoveInfo), and the planner's view of the cluster built from the metadata view.
 * No I/O: the executor (../move-executor.ts) writes what these functions build.
 */
import { MovePhase as WirePhase, type MoveInfo, type PartitionRecord } from '@quire/proto';
import type { MetadataView } from '@quire/common';
import { capacityOf } from '../placement/planner.js';
import type { MoveInFlight, MoveReason, RebalanceNode, RebalancePartition } from '../placement/rebalance.js';
import type { Move, MovePhase } from './move-step.js';

const toWire: Readonly<Record<MovePhase, WirePhase>> = {
  adding: WirePhase.MOVE_PHASE_ADDING,
  'catching-up': WirePhase.MOVE_PHASE_CATCHING_UP,
  transferring: WirePhase.MOVE_PHASE_TRANSFERRING,
  removing: WirePhase.MOVE_PHASE_REMOVING,
  'rolling-back': WirePhase.MOVE_PHASE_ROLLING_BACK,
  done: WirePhase.MOVE_PHASE_DONE,
  'rolled-back': WirePhase.MOVE_PHASE_ROLLED_BACK,
};

/** The wire phase of a move phase. */
export function wirePhaseOf(phase: MovePhase): WirePhase {
  return toWire[phase];
}

/** The move phase of a wire phase; an unknown one (a newer writer) reads as `adding`, which re-decides from the record. */
export function movePhaseOf(phase: WirePhase): MovePhase {
  for (const [name, wire] of Object.entries(toWire)) if (wire === phase) return name as MovePhase;
  return 'adding';
}

/** What the executor keeps about a move besides its step state. */
export interface MoveBook {
  readonly reason: MoveReason;
  /** Unix ms at which it was planned. */
  readonly startedAtMs: number;
}

/** The stored form of a move (`endedAtMs` 0 while in flight). */
export function moveInfoOf(move: Move, book: MoveBook, endedAtMs = 0): MoveInfo {
  return {
    keyspace: move.keyspace,
    partitionId: move.partitionId,
    source: move.source,
    target: move.target,
    phase: wirePhaseOf(move.phase),
    reason: book.reason,
    startedAtMs: book.startedAtMs,
    endedAtMs,
    outcome: move.reason,
  };
}

/** The step state of a stored move found by a coordinator that did not start it: its phase begins now. */
export function moveOfInfo(info: MoveInfo, nowMs: number): Move {
  return {
    keyspace: info.keyspace,
    partitionId: info.partitionId,
    source: info.source,
    target: info.target,
    phase: movePhaseOf(info.phase),
    phaseSinceMs: nowMs,
    transferAskedMs: 0,
    reason: info.outcome,
  };
}

/** The reason stored with a move, checked. */
export function moveReasonOf(reason: string): MoveReason {
  return reason === 'repair' || reason === 'drain' ? reason : 'balance';
}

/** The cluster as the rebalance planner sees it. */
export interface PlannerInput {
  readonly nodes: RebalanceNode[];
  readonly partitions: RebalancePartition[];
  readonly inFlight: MoveInFlight[];
}

/**
 * Builds the planner's input from the view: every node that ever registered (known nodes and
 * nodes named in a replica set), live or not, with its zone and capacity from its registration,
 * draining when a drain record names it, dead when `dead` says so; every assigned partition,
 * marked moving (never planned) while a move of it is in flight, its leader is not live (nothing
 * to copy from), or a split is being carved: it was carved by a split and still has splitFrom,
 * or it is the parent of a partition that has.
 */
export function plannerInputOf(view: MetadataView, dead: (nodeId: string) => boolean, inFlight: readonly MoveInFlight[], movingKeys: ReadonlySet<string>): PlannerInput {
  const partitions: RebalancePartition[] = [];
  for (const name of view.keyspaceNames()) {
    const entries = view.keyspace(name)?.partitions ?? [];
    const carving = carvingPartitions(entries.map((entry) => entry?.record));
    for (const entry of entries) {
      if (entry === undefined) continue;
      const { record } = entry;
      const key = `${name}/${record.partitionId}`;
      partitions.push({
        keyspace: name,
        partitionId: record.partitionId,
        replicas: record.replicas,
        leader: record.leader,
        moving: movingKeys.has(key) || !view.nodes.has(record.leader) || carving.has(record.partitionId),
      });
    }
  }
  const nodes = [...nodeIdsOf(view)].sort().map((nodeId): RebalanceNode => {
    const reg = view.nodes.get(nodeId);
    return {
      nodeId,
      zone: reg?.zone ?? '',
      capacity: reg === undefined ? Number.POSITIVE_INFINITY : capacityOf(reg.partitionsMax),
      live: reg !== undefined,
      draining: view.drains.has(nodeId),
      dead: reg === undefined && dead(nodeId),
    };
  });
  return { nodes, partitions, inFlight: [...inFlight] };
}

/**
 * Ids of a keyspace's partitions a split is still being carved from or into: those with
 * splitFrom set and their parents. Neither may move until the new partition's data is on
 * enough replicas (the coordinator clears splitFrom then, in AlterIsr).
 */
export function carvingPartitions(records: readonly (Pick<PartitionRecord, 'partitionId' | 'splitFrom'> | undefined)[]): Set<number> {
  const ids = new Set<number>();
  for (const record of records) {
    if (record?.splitFrom === undefined) continue;
    ids.add(record.partitionId);
    ids.add(record.splitFrom.parentPartitionId);
  }
  return ids;
}

/** Every data node a record names: known nodes, live registrations and replica holders. */
export function nodeIdsOf(view: MetadataView): Set<string> {
  return new Set([...view.knownNodes.keys(), ...view.nodes.keys(), ...replicaCounts(view).keys()]);
}

/** Replicas each node holds in the view. */
export function replicaCounts(view: MetadataView): Map<string, number> {
  const held = new Map<string, number>();
  for (const name of view.keyspaceNames()) {
    for (const entry of view.keyspace(name)?.partitions ?? []) {
      for (const nodeId of entry?.record.replicas ?? []) held.set(nodeId, (held.get(nodeId) ?? 0) + 1);
    }
  }
  return held;
}
