/**
 * Routing decisions, pure: which partition a key belongs to, which node leads it at which
 * epoch, and where that node listens, all from the metadata view. A partition that has no
 * leader yet, or whose leader is not registered, is unavailable right now and the request is
 * not sent anywhere.
 *
 * A HASH keyspace's key goes to xxhash64(key) mod partition_count. A RANGE keyspace's key goes
 * to the placed partition whose [start_key, end_key) holds it (RangeIndex, common
 * key-ranges.ts); its partition ids are in creation order, not key order, and a split moves
 * keys to a new id, so a caller that routes again after a refusal must compute the partition
 * from the key again, never keep the id it had.
 *
 * Invariant: one RangeIndex per KeyspaceEntry object. MetadataView builds a new entry after
 * every change of the view, so an index never outlives the map revision it was built from.
 */
import {
  KeyspaceNotFoundError,
  PartitionUnavailableError,
  RangeIndex,
  displayBytes,
  isRangeKeyspace,
  sessionPositionsMax,
  type HashPartitioner,
  type KeyspaceEntry,
  type MetadataView,
} from '@quire/common';
import type { SessionPosition } from '@quire/proto';

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

/** One partition's share of a scan of a RANGE keyspace: its id and where that share ends. */
export interface RangeSegment {
  readonly partitionId: number;
  /** Exclusive; empty: unbounded (the partition is the last and the scan has no end). */
  readonly end: Buffer;
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

/** A key for messages: a JSON string when printable, else 0x hex. */
function keyText(key: Uint8Array): string {
  const shown = displayBytes(key);
  return shown.startsWith('0x') && shown !== Buffer.from(key).toString('utf8') ? shown : JSON.stringify(shown);
}

/** Range indexes by keyspace entry: built once per entry, dropped with it. */
const rangeIndexes = new WeakMap<KeyspaceEntry, RangeIndex>();

/** Returns the RangeIndex of a RANGE keyspace entry, built on first use. */
export function rangeIndexOf(ks: KeyspaceEntry): RangeIndex {
  let index = rangeIndexes.get(ks);
  if (index === undefined) {
    index = new RangeIndex(ks);
    rangeIndexes.set(ks, index);
  }
  return index;
}

/**
 * Returns the partition that holds `key` in this view: by hash for a HASH keyspace, by range for
 * a RANGE one. Throws PARTITION_UNAVAILABLE when no placed partition of a RANGE keyspace holds
 * the key (the client may retry).
 */
export function partitionOfKey(view: MetadataView, ks: KeyspaceEntry, partitioner: HashPartitioner, key: Uint8Array): number {
  if (!isRangeKeyspace(ks)) return partitioner.partitionOf(key, ks.record.partitionCount);
  const partitionId = rangeIndexOf(ks).partitionOf(key);
  if (partitionId === undefined) {
    throw new PartitionUnavailableError(`No partition of keyspace "${ks.record.name}" holding key ${keyText(key)} is placed yet`, { mapRevision: view.revision });
  }
  return partitionId;
}

/**
 * Returns the partition of a RANGE keyspace that holds `from`, and where its share of a scan of
 * [from, end) ends (empty `end`: unbounded). Throws PARTITION_UNAVAILABLE when no placed
 * partition holds `from`: the scan must not skip a range it cannot read.
 */
export function rangeSegmentOf(view: MetadataView, ks: KeyspaceEntry, from: Buffer, end: Buffer): RangeSegment {
  const first = rangeIndexOf(ks).overlapping(from, end)[0];
  if (first === undefined || !first.start.equals(from)) {
    throw new PartitionUnavailableError(`No partition of keyspace "${ks.record.name}" holding key ${keyText(from)} is placed yet`, { mapRevision: view.revision });
  }
  return { partitionId: first.partitionId, end: first.end };
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

/** Returns the route for a key: its partition (by hash or by range) and that partition's leader. */
export function routeKey(view: MetadataView, partitioner: HashPartitioner, keyspace: string, key: Uint8Array): Route {
  const ks = keyspaceOf(view, keyspace);
  return routePartition(view, ks, partitionOfKey(view, ks, partitioner, key));
}

/**
 * The session positions a SESSION get is checked against (sessionIndexFor). A RANGE keyspace
 * gains partitions as it splits, so a client may hold a position for a partition this view does
 * not show yet (another router saw the split first): such a position says nothing about the
 * key's partition, which this view does show, and is left out rather than refused. Everything
 * else (too many positions, ids that are not integers) is left for sessionIndexFor to refuse.
 */
export function sessionPositionsFor(ks: KeyspaceEntry, session: readonly SessionPosition[]): readonly SessionPosition[] {
  if (!isRangeKeyspace(ks) || session.length > sessionPositionsMax) return session;
  const count = ks.record.partitionCount;
  return session.filter((p) => !Number.isSafeInteger(p.partitionId) || p.partitionId < count);
}
