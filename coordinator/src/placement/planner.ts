/**
 * The placement planner: a pure function from the cluster as the metadata view shows it to
 * the partition records that should be created. It only proposes; the controller applies the
 * proposal in one fenced etcd transaction (PD's checker/operator split).
 *
 * Rules (initial placement only; nothing is ever moved):
 *  - An unassigned partition of a keyspace with replication factor R gets R distinct live
 *    nodes, chosen one at a time: first a node in a zone holding the fewest of the partition's
 *    replicas chosen so far (so replicas go to distinct zones while there are enough; a node
 *    without a zone is a zone of its own), then the one holding the fewest replicas, then by
 *    node id. Its leader is the chosen node
 *    leading the fewest partitions (ties by node id), so leaderships spread evenly. The record
 *    is `{replicas: [leader, ...the others in the chosen order], leader, epoch: 1, isr: all R
 *    replicas}`. A keyspace whose replication factor reads 0 is placed as R = 1.
 *  - Replica and leader counts include partitions assigned earlier in the same plan, and count
 *    only live nodes: a down node's partitions add nothing to anyone's load.
 *  - A node never gets more replicas than its registration's partitions_max (its
 *    --partitions-max; 0 means no limit known): a partition that cannot find R live nodes with
 *    room waits, and the plan says why, rather than crashing a node that was given too many.
 *  - Nothing of a keyspace is assigned until at least max(nodesMin, R) nodes are live, so a
 *    cluster bootstrapping its nodes one by one does not pile every partition onto the first
 *    ones, and no partition is created with fewer replicas than its keyspace asks for.
 *  - An assigned partition never moves and its record is never rewritten here: moving replicas
 *    needs data movement, and changing leaders or the ISR is failover's job (failover/).
 *  - A RANGE keyspace's initial partitions 0..len(splitKeys) get the ranges its split keys
 *    bound (`initialRanges`); a HASH keyspace's get empty start and end keys. Partitions a split
 *    created are written with their record by the split, so placement never creates a record for
 *    a RANGE id beyond the initial ones (it has no range for it).
 *
 * Invariant: every proposed record has R distinct replicas and leader ∈ isr ⊆ replicas
 * (asserted before it is returned).
 */
import { PartitionScheme, type PartitionRecord } from '@quire/proto';
import { assert, initialRanges, type MetadataView } from '@quire/common';
import { assertPartitionRecord } from '../failover/record-invariant.js';

/** Planner settings. */
export interface PlacementSettings {
  /** Live nodes required before any partition is assigned (a keyspace also waits for its replication factor). */
  readonly nodesMin: number;
}

/** A proposed new partition record. */
export interface Assignment {
  readonly record: PartitionRecord;
}

/** The planner's answer, with the reason when it proposes nothing for unassigned partitions. */
export interface PlacementPlan {
  readonly assignments: readonly Assignment[];
  /** Partitions still unassigned after this plan. */
  readonly unassigned: number;
  /** Why unassigned partitions were left alone, if any were. */
  readonly waitingFor: string | undefined;
}

/** Plans assignments for every unassigned partition of every keyspace. */
export function planPlacement(view: MetadataView, settings: PlacementSettings): PlacementPlan {
  // Both maps iterate in node-id order, which the tie-breaks below rely on.
  const replicaLoad = new Map<string, number>();
  const leaderLoad = new Map<string, number>();
  const capacity = new Map<string, number>();
  const zones = new Map<string, string>();
  for (const nodeId of [...view.nodes.keys()].sort()) {
    replicaLoad.set(nodeId, 0);
    leaderLoad.set(nodeId, 0);
    const registration = view.nodes.get(nodeId);
    capacity.set(nodeId, capacityOf(registration?.partitionsMax ?? 0));
    // A node without a zone is a failure domain of its own.
    zones.set(nodeId, registration?.zone ? `zone:${registration.zone}` : `node:${nodeId}`);
  }
  const missing: { keyspace: string; partitionId: number; replicationFactor: number; range: KeyRange }[] = [];
  for (const name of view.keyspaceNames()) {
    const ks = view.keyspace(name);
    if (ks === undefined) continue;
    const replicationFactor = Math.max(1, ks.record.replicationFactor);
    const ranges = ks.record.scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? initialRanges(ks.record.splitKeys) : undefined;
    ks.partitions.forEach((entry, partitionId) => {
      if (entry === undefined) {
        const range = ranges === undefined ? hashRange() : ranges[partitionId];
        // A RANGE id past the initial ones came from a split, which wrote its record: never guess a range.
        if (range !== undefined) missing.push({ keyspace: name, partitionId, replicationFactor, range });
        return;
      }
      for (const replica of entry.record.replicas) increment(replicaLoad, replica);
      increment(leaderLoad, entry.record.leader);
    });
  }
  if (missing.length === 0) return { assignments: [], unassigned: 0, waitingFor: undefined };

  const live = replicaLoad.size;
  const assignments: Assignment[] = [];
  let waitingFor: string | undefined;
  let waitingForNodes = 0;
  for (const { keyspace, partitionId, replicationFactor, range } of missing) {
    const nodesNeeded = Math.max(settings.nodesMin, replicationFactor);
    if (live < nodesNeeded) {
      // Report the largest requirement, first keyspace first among equals.
      if (nodesNeeded > waitingForNodes) {
        waitingForNodes = nodesNeeded;
        const because = replicationFactor > 1 && replicationFactor >= settings.nodesMin ? ` (replication factor ${replicationFactor})` : '';
        waitingFor = `${live} of ${nodesNeeded} data nodes are live${because}`;
      }
      continue;
    }
    const chosen = chooseReplicas({ load: replicaLoad, capacity, zones }, replicationFactor);
    if (chosen.length < replicationFactor) {
      if (waitingFor === undefined) {
        waitingFor = `${chosen.length} of the ${replicationFactor} data nodes ${keyspace}/${partitionId} needs have room for another replica (--partitions-max)`;
      }
      continue;
    }
    const leader = fewestLeaderships(leaderLoad, chosen);
    const replicas = [leader, ...chosen.filter((nodeId) => nodeId !== leader)];
    const record: PartitionRecord = { keyspace, partitionId, replicas, leader, epoch: 1, isr: [...replicas], startKey: range.start, endKey: range.end, splitFrom: undefined };
    assertPartitionRecord(record, 'placement proposed');
    for (const nodeId of replicas) increment(replicaLoad, nodeId);
    increment(leaderLoad, leader);
    assignments.push({ record });
  }
  return { assignments, unassigned: missing.length - assignments.length, waitingFor };
}

/** A partition's key range: [start, end), empty meaning unbounded (a HASH partition's is empty-empty). */
interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/** The range of a HASH keyspace's partitions: none (both keys empty). */
function hashRange(): KeyRange {
  return { start: Buffer.alloc(0), end: Buffer.alloc(0) };
}

/** Adds one to a live node's count; nodes that are not live are not counted. */
function increment(load: Map<string, number>, nodeId: string): void {
  const n = load.get(nodeId);
  if (n !== undefined) load.set(nodeId, n + 1);
}

/** A registration's partitions_max as a capacity: 0 (not known) is no limit. */
export function capacityOf(partitionsMax: number): number {
  return partitionsMax === 0 ? Number.POSITIVE_INFINITY : partitionsMax;
}

/** What choosing a partition's replicas looks at, by live node id (each map in node-id order). */
interface NodeFacts {
  readonly load: ReadonlyMap<string, number>;
  readonly capacity: ReadonlyMap<string, number>;
  readonly zones: ReadonlyMap<string, string>;
}

/**
 * Returns up to `count` distinct nodes with room (load below capacity), one at a time: the node
 * whose zone holds the fewest of those already chosen, then the fewest replicas, ties by node id
 * (`load` iterates in node-id order and strict comparisons keep the first). O(count × nodes).
 */
function chooseReplicas(facts: NodeFacts, count: number): string[] {
  const chosen: string[] = [];
  const perZone = new Map<string, number>();
  while (chosen.length < count) {
    let best: string | undefined;
    let bestZoneUse = Number.POSITIVE_INFINITY;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const [nodeId, n] of facts.load) {
      if (n >= (facts.capacity.get(nodeId) ?? Number.POSITIVE_INFINITY) || chosen.includes(nodeId)) continue;
      const zoneUse = perZone.get(facts.zones.get(nodeId) ?? nodeId) ?? 0;
      if (zoneUse < bestZoneUse || (zoneUse === bestZoneUse && n < bestLoad)) {
        best = nodeId;
        bestZoneUse = zoneUse;
        bestLoad = n;
      }
    }
    if (best === undefined) break;
    chosen.push(best);
    const zone = facts.zones.get(best) ?? best;
    perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
  }
  return chosen;
}

/** Returns the node of `candidates` (non-empty) leading the fewest partitions, ties by node id. */
function fewestLeaderships(leaderLoad: ReadonlyMap<string, number>, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (const nodeId of candidates) {
    const n = leaderLoad.get(nodeId) ?? 0;
    if (n < bestLoad || (n === bestLoad && best !== undefined && nodeId < best)) {
      best = nodeId;
      bestLoad = n;
    }
  }
  assert(best !== undefined, 'placement chose a leader from no candidates');
  return best;
}
