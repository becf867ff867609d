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

/** A parsed metadata key. */
export type ParsedKey =
  | { readonly kind: 'cluster' }
  | { readonly kind: 'coordinator-leader' }
  | { readonly kind: 'keyspace'; readonly keyspace: string }
  | { readonly kind: 'partition'; readonly keyspace: string; readonly partitionId: number }
  | { readonly kind: 'node'; readonly nodeId: string }
  | { readonly kind: 'known-node'; readonly nodeId: string }
  | { readonly kind: 'unknown' };

/** Classifies a metadata key. Unknown keys (from newer versions) are ignored by readers. */
export function parseKey(key: string): ParsedKey {
  if (key === clusterKey) return { kind: 'cluster' };
  if (key === coordinatorLeaderKey) return { kind: 'coordinator-leader' };
  if (key.startsWith(keyspacesPrefix)) return { kind: 'keyspace', keyspace: key.slice(keyspacesPrefix.length) };
  if (key.startsWith(partitionsPrefix)) {
    const rest = key.slice(partitionsPrefix.length);
    const slash = rest.lastIndexOf('/');
    const id = Number(rest.slice(slash + 1));
    if (slash > 0 && Number.isInteger(id) && id >= 0) {
      return { kind: 'partition', keyspace: rest.slice(0, slash), partitionId: id };
    }
    return { kind: 'unknown' };
  }
  if (key.startsWith(nodesPrefix)) return { kind: 'node', nodeId: key.slice(nodesPrefix.length) };
  if (key.startsWith(knownNodesPrefix)) return { kind: 'known-node', nodeId: key.slice(knownNodesPrefix.length) };
  return { kind: 'unknown' };
}
