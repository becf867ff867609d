/**
 * Routing decisions, pure: which partition a key belongs to, which node leads it at which
 * epoch, and where that node listens, all from the metadata view. A partition that has no
 * leader yet, or whose leader is not registered, is unavailable right now and the request is
 * not sent anywhere.
 */
import { KeyspaceNotFoundError, PartitionUnavailableError, type HashPartitioner, type KeyspaceEntry, type MetadataView } from '@quire/common';

/** Where to send an operation. */
export interface Route {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly epoch: number;
  readonly nodeId: string;
  /** host:port of the leader's DataNode service. */
  readonly address: string;
  /** The map revision this route was computed at. */
  readonly mapRevision: number;
}

/** Returns the keyspace or throws KEYSPACE_NOT_FOUND. */
export function keyspaceOf(view: MetadataView, keyspace: string): KeyspaceEntry {
  const ks = view.keyspace(keyspace);
  if (ks === undefined) {
    if (!view.loaded) throw new PartitionUnavailableError('The router has not loaded the partition map yet');
    throw new KeyspaceNotFoundError(`keyspace "${keyspace}" does not exist`, { field: 'keyspace', mapRevision: view.revision });
  }
  return ks;
}

/** Returns the route to one partition, or throws PARTITION_UNAVAILABLE. */
export function routePartition(view: MetadataView, ks: KeyspaceEntry, partitionId: number): Route {
  const entry = ks.partitions[partitionId];
  const keyspace = ks.record.name;
  if (entry === undefined || entry.record.leader === '') {
    throw new PartitionUnavailableError(`Partition ${keyspace}/${partitionId} has no leader yet (the cluster is still assigning partitions)`, {
      partitionId,
      mapRevision: view.revision,
    });
  }
  const nodeId = entry.record.leader;
  const registration = view.nodes.get(nodeId);
  if (registration === undefined) {
    throw new PartitionUnavailableError(`Partition ${keyspace}/${partitionId} is on node ${nodeId}, which is down`, {
      partitionId,
      mapRevision: view.revision,
      leaderHint: nodeId,
    });
  }
  return { keyspace, partitionId, epoch: entry.record.epoch, nodeId, address: registration.address, mapRevision: view.revision };
}

/** Returns the route for a key of a hash keyspace. */
export function routeKey(view: MetadataView, partitioner: HashPartitioner, keyspace: string, key: Uint8Array): Route {
  const ks = keyspaceOf(view, keyspace);
  return routePartition(view, ks, partitioner.partitionOf(key, ks.record.partitionCount));
}
