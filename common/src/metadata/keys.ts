/**
 * The layout of cluster metadata in etcd. Everything lives under one prefix so a single
 * watch sees every change in revision order:
 *
 *   /quire/v1/cluster                               ClusterRecord (once, at bootstrap)
 *   /quire/v1/keyspaces/<name>                      KeyspaceRecord
 *   /quire/v1/partitions/<keyspace>/<id, 5 digits>  PartitionRecord
 *   /quire/v1/nodes/<node id>                       NodeRegistration, on the node's lease
 *   /quire/v1/known-nodes/<node id>                 KnownNode (no lease)
 *   /quire/v1/coordinator/leader                    CoordinatorLeaderRecord, on the leader's lease
 *   /quire/v1/moves/<keyspace>/<id, 5 digits>       MoveRecord, while a move of the partition is in flight
 *   /quire/v1/move-history/<ended ms, 16 digits>-<keyspace>-<id>-<started ms>   MoveRecord of a finished move
 *   /quire/v1/drains/<node id>                      DrainRecord, while the node is being drained
 *   /quire/v1/dropped-keyspaces/<name>              DroppedKeyspaceRecord, forever (the name is not reused)
 *
 * Values are protobuf-encoded records from proto/quire/v1/internal/metadata.proto.
 */

/** The prefix all metadata keys share. */
export const metadataPrefix = '/quire/v1/';

/** Key of the cluster record. */
export const clusterKey = `${metadataPrefix}cluster`;
/** Key of the coordinator leader record. */
export const coordinatorLeaderKey = `${metadataPrefix}coordinator/leader`;
/** Prefix of keyspace records. */
export const keyspacesPrefix = `${metadataPrefix}keyspaces/`;
/** Prefix of partition records. */
export const partitionsPrefix = `${metadataPrefix}partitions/`;
/** Prefix of live node registrations. */
export const nodesPrefix = `${metadataPrefix}nodes/`;
/** Prefix of known-node records. */
export const knownNodesPrefix = `${metadataPrefix}known-nodes/`;

/** Prefix of in-flight move records. */
export const movesPrefix = `${metadataPrefix}moves/`;
/** Prefix of finished move records. */
export const moveHistoryPrefix = `${metadataPrefix}move-history/`;
/** Prefix of drain records. */
export const drainsPrefix = `${metadataPrefix}drains/`;
/** Prefix of dropped-keyspace records. */
export const droppedKeyspacesPrefix = `${metadataPrefix}dropped-keyspaces/`;

/** Returns the key of a dropped-keyspace record. */
export function droppedKeyspaceKey(name: string): string {
  return `${droppedKeyspacesPrefix}${name}`;
}

/** Returns the key of a keyspace record. */
export function keyspaceKey(name: string): string {
  return `${keyspacesPrefix}${name}`;
}

/** Returns the key of a partition record. Ids are zero-padded so keys sort numerically. */
export function partitionKey(keyspace: string, partitionId: number): string {
  return `${partitionsPrefix}${keyspace}/${String(partitionId).padStart(5, '0')}`;
}

/** Returns the key of a node registration. */
export function nodeKey(nodeId: string): string {
  return `${nodesPrefix}${nodeId}`;
}

/** Returns the key of a known-node record. */
export function knownNodeKey(nodeId: string): string {
  return `${knownNodesPrefix}${nodeId}`;
}

/** Returns the key of a partition's in-flight move record. */
export function moveKey(keyspace: string, partitionId: number): string {
  return `${movesPrefix}${keyspace}/${String(partitionId).padStart(5, '0')}`;
}

/**
 * Returns the key of a finished move record: keys sort by the time the move ended; the start time
 * makes it unique (a partition has one move at a time).
 */
export function moveHistoryKey(endedAtMs: number, keyspace: string, partitionId: number, startedAtMs: number): string {
  return `${moveHistoryPrefix}${String(endedAtMs).padStart(16, '0')}-${keyspace}-${partitionId}-${startedAtMs}`;
}

/** Returns the key of a drain record. */
export function drainKey(nodeId: string): string {
  return `${drainsPrefix}${nodeId}`;
}

/** A parsed metadata key. */
export type ParsedKey =
  | { readonly kind: 'cluster' }
  | { readonly kind: 'coordinator-leader' }
  | { readonly kind: 'keyspace'; readonly keyspace: string }
  | { readonly kind: 'partition'; readonly keyspace: string; readonly partitionId: number }
  | { readonly kind: 'node'; readonly nodeId: string }
  | { readonly kind: 'known-node'; readonly nodeId: string }
  | { readonly kind: 'move'; readonly keyspace: string; readonly partitionId: number }
  | { readonly kind: 'move-history'; readonly key: string }
  | { readonly kind: 'drain'; readonly nodeId: string }
  | { readonly kind: 'dropped-keyspace'; readonly keyspace: string }
  | { readonly kind: 'unknown' };

/** Classifies a metadata key. Unknown keys (from newer versions) are ignored by readers. */
export function parseKey(key: string): ParsedKey {
  if (key === clusterKey) return { kind: 'cluster' };
  if (key === coordinatorLeaderKey) return { kind: 'coordinator-leader' };
  if (key.startsWith(keyspacesPrefix)) return { kind: 'keyspace', keyspace: key.slice(keyspacesPrefix.length) };
  if (key.startsWith(partitionsPrefix)) {
    const parsed = keyspaceAndId(key.slice(partitionsPrefix.length));
    return parsed === undefined ? { kind: 'unknown' } : { kind: 'partition', ...parsed };
  }
  if (key.startsWith(movesPrefix)) {
    const parsed = keyspaceAndId(key.slice(movesPrefix.length));
    return parsed === undefined ? { kind: 'unknown' } : { kind: 'move', ...parsed };
  }
  if (key.startsWith(moveHistoryPrefix)) return { kind: 'move-history', key };
  if (key.startsWith(drainsPrefix)) return { kind: 'drain', nodeId: key.slice(drainsPrefix.length) };
  if (key.startsWith(droppedKeyspacesPrefix)) return { kind: 'dropped-keyspace', keyspace: key.slice(droppedKeyspacesPrefix.length) };
  if (key.startsWith(nodesPrefix)) return { kind: 'node', nodeId: key.slice(nodesPrefix.length) };
  if (key.startsWith(knownNodesPrefix)) return { kind: 'known-node', nodeId: key.slice(knownNodesPrefix.length) };
  return { kind: 'unknown' };
}

/** Splits `<keyspace>/<id>`; undefined when it is not that shape. */
function keyspaceAndId(rest: string): { keyspace: string; partitionId: number } | undefined {
  const slash = rest.lastIndexOf('/');
  const id = Number(rest.slice(slash + 1));
  return slash > 0 && Number.isInteger(id) && id >= 0 ? { keyspace: rest.slice(0, slash), partitionId: id } : undefined;
}
