/**
 * The placement planner: a pure function from the cluster as the metadata view shows it to
 * the partition records that should be created. It only proposes; the controller applies the
 * proposal in one fenced etcd transaction (PD's checker/operator split).
 *
 * Rules (partitioned store, no replication yet):
 *  - An unassigned partition goes to the live node holding the fewest partitions (ties by
 *    node id), one replica, which leads it at epoch 1 and is its whole ISR.
 *  - Nothing is assigned until at least `nodesMin` nodes are live, so a cluster bootstrapping
 *    its nodes one by one does not pile every partition onto the first.
 *  - An assigned partition never moves: its data lives only on its node, so a down node's
 *    partitions wait for it to return (moving them needs replication and data movement).
 */
import type { PartitionRecord } from '@quire/proto';
import type { MetadataView } from '@quire/common';

/** Planner settings. */
export interface PlacementSettings {
  /** Live nodes required before any partition is assigned. */
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
  const load = new Map<string, number>();
  for (const nodeId of [...view.nodes.keys()].sort()) load.set(nodeId, 0);
  const missing: { keyspace: string; partitionId: number }[] = [];
  for (const name of view.keyspaceNames()) {
    const ks = view.keyspace(name);
    if (ks === undefined) continue;
    ks.partitions.forEach((entry, partitionId) => {
      if (entry === undefined) {
        missing.push({ keyspace: name, partitionId });
        return;
      }
      for (const replica of entry.record.replicas) {
        if (load.has(replica)) load.set(replica, (load.get(replica) ?? 0) + 1);
      }
    });
  }
  if (missing.length === 0) return { assignments: [], unassigned: 0, waitingFor: undefined };
  if (load.size < settings.nodesMin) {
    return {
      assignments: [],
      unassigned: missing.length,
      waitingFor: `${load.size} of ${settings.nodesMin} data nodes are live`,
    };
  }
  const assignments: Assignment[] = [];
  for (const { keyspace, partitionId } of missing) {
    let best: string | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const [nodeId, n] of load) {
      if (n < bestLoad) {
        best = nodeId;
        bestLoad = n;
      }
    }
    if (best === undefined) break;
    load.set(best, bestLoad + 1);
    assignments.push({ record: { keyspace, partitionId, replicas: [best], leader: best, epoch: 1, isr: [best] } });
  }
  return { assignments, unassigned: missing.length - assignments.length, waitingFor: undefined };
}
