/**
 * Builds the Admin API's views of the cluster (ClusterStatus, PartitionMap) from the
 * metadata view. Pure: the same view always gives the same answer.
 */
import {
  type ClusterStatusResponse,
  type NodeInfo,
  type PartitionMap,
} from '@quire/proto';
import type { KeyspaceEntry, MetadataView } from '@quire/common';

/** Returns the partition map of one keyspace. */
export function partitionMapOf(view: MetadataView, keyspace: KeyspaceEntry): PartitionMap {
  return {
    keyspace: keyspace.record.name,
    scheme: keyspace.record.scheme,
    partitionCount: keyspace.record.partitionCount,
    replicationFactor: keyspace.record.replicationFactor,
    ackPolicy: keyspace.record.ackPolicy,
    minIsr: keyspace.record.minIsr,
    revision: view.revision,
    partitions: keyspace.partitions.map((entry, partitionId) => ({
      partitionId,
      replicas: entry?.record.replicas ?? [],
      leader: entry?.record.leader ?? '',
      epoch: entry?.record.epoch ?? 0,
      leaderLive: entry !== undefined && view.nodes.has(entry.record.leader),
      isr: entry?.record.isr ?? [],
    })),
  };
}

/** Returns the whole cluster status. */
export function clusterStatusOf(view: MetadataView): ClusterStatusResponse {
  const keyspaces = view.keyspaceNames().flatMap((name) => {
    const ks = view.keyspace(name);
    return ks === undefined ? [] : [partitionMapOf(view, ks)];
  });
  const replicaCount = new Map<string, number>();
  const leaderCount = new Map<string, number>();
  for (const map of keyspaces) {
    for (const p of map.partitions) {
      for (const r of p.replicas) replicaCount.set(r, (replicaCount.get(r) ?? 0) + 1);
      if (p.leader !== '') leaderCount.set(p.leader, (leaderCount.get(p.leader) ?? 0) + 1);
    }
  }
  const ids = new Set<string>([...view.knownNodes.keys(), ...view.nodes.keys(), ...replicaCount.keys()]);
  const nodes: NodeInfo[] = [...ids].sort().map((nodeId) => {
    const reg = view.nodes.get(nodeId);
    return {
      nodeId,
      address: reg?.address ?? '',
      live: reg !== undefined,
      replicaCount: replicaCount.get(nodeId) ?? 0,
      leaderCount: leaderCount.get(nodeId) ?? 0,
      metricsAddress: reg?.metricsAddress ?? '',
    };
  });
  const leader = view.coordinatorLeader;
  return {
    clusterId: view.cluster?.clusterId ?? '',
    mapRevision: view.revision,
    coordinator:
      leader === undefined
        ? undefined
        : { coordinatorId: leader.record.coordinatorId, address: leader.record.address, term: leader.term },
    nodes,
    keyspaces,
  };
}
