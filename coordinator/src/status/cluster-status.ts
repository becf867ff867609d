/**
 * Builds the Admin API's views of the cluster (ClusterStatus, PartitionMap, KeyspaceInfo) from the
 * metadata view and, for follower lag, what the partition leaders reported
 * (Replication.GetFollowerProgress). Pure: the same inputs always give the same answer.
 */
import {
  PartitionScheme,
  type ClusterStatusResponse,
  type FollowerLag,
  type KeyspaceInfo,
  type LedPartitionProgress,
  type MoveInfo,
  type NodeInfo,
  type PartitionMap,
  type PartitionRecord,
} from '@quire/proto';
import { initialRanges, type KeyspaceEntry, type MetadataView } from '@quire/common';

/**
 * What each asked leader node reported: its led partitions, or undefined when it did not
 * answer. A node not in the map was not asked.
 */
export type FollowerProgressByNode = ReadonlyMap<string, readonly LedPartitionProgress[] | undefined>;

/**
 * Returns each follower's lag for one partition, in replica order: known only when its leader
 * answered and reported the partition at the record's epoch with that follower. While the leader
 * serves the follower a snapshot (a move's new replica, a re-seed), the snapshot's bytes and keys
 * sent, its estimate (never below the bytes sent) and its rate since it began, in bytes per second.
 */
export function followerLagsOf(record: PartitionRecord, progress: FollowerProgressByNode): FollowerLag[] {
  if (record.leader === '' || record.replicas.length <= 1) return [];
  const led = progress.get(record.leader)?.find((p) => p.keyspace === record.keyspace && p.partitionId === record.partitionId && p.epoch === record.epoch);
  return record.replicas
    .filter((nodeId) => nodeId !== record.leader)
    .map((nodeId) => {
      const f = led?.followers.find((x) => x.nodeId === nodeId);
      if (led === undefined || f === undefined) return { nodeId, known: false, lagEntries: 0, lagMs: 0, durableIndex: 0, mode: '', ...noSnapshot };
      return {
        nodeId,
        known: true,
        lagEntries: Math.max(0, led.logEnd - f.durableIndex),
        lagMs: f.lagMs,
        durableIndex: f.durableIndex,
        mode: f.mode,
        snapshotBytesSent: f.snapshotBytesSent,
        snapshotBytesEstimate: Math.max(f.snapshotBytesEstimate, f.snapshotBytesSent),
        snapshotKeysSent: f.snapshotKeysSent,
        snapshotBytesPerSecond: Math.round((f.snapshotBytesSent * 1000) / Math.max(1, f.snapshotElapsedMs)),
      };
    });
}

/** The snapshot fields of a follower not being sent one. */
const noSnapshot: Pick<FollowerLag, 'snapshotBytesSent' | 'snapshotBytesEstimate' | 'snapshotKeysSent' | 'snapshotBytesPerSecond'> = {
  snapshotBytesSent: 0,
  snapshotBytesEstimate: 0,
  snapshotKeysSent: 0,
  snapshotBytesPerSecond: 0,
};

const noProgress: FollowerProgressByNode = new Map();

/** A keyspace's settings as the Admin API reports them (PartitionMap and KeyspaceInfo share them). */
function keyspaceSettingsOf(keyspace: KeyspaceEntry): Pick<KeyspaceInfo, 'keyspace' | 'scheme' | 'partitionCount' | 'replicationFactor' | 'ackPolicy' | 'minIsr'> {
  const r = keyspace.record;
  return { keyspace: r.name, scheme: r.scheme, partitionCount: r.partitionCount, replicationFactor: r.replicationFactor, ackPolicy: r.ackPolicy, minIsr: r.minIsr };
}

/**
 * Returns the partition map of one keyspace. Each partition carries its key range: from its
 * record, or for a RANGE keyspace's initial partition not placed yet, from the keyspace's split
 * keys (empty for HASH keyspaces).
 */
export function partitionMapOf(view: MetadataView, keyspace: KeyspaceEntry, progress: FollowerProgressByNode = noProgress): PartitionMap {
  const initial = keyspace.record.scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? initialRanges(keyspace.record.splitKeys) : [];
  return {
    ...keyspaceSettingsOf(keyspace),
    revision: view.revision,
    partitions: keyspace.partitions.map((entry, partitionId) => ({
      partitionId,
      startKey: entry?.record.startKey ?? initial[partitionId]?.start ?? Buffer.alloc(0),
      endKey: entry?.record.endKey ?? initial[partitionId]?.end ?? Buffer.alloc(0),
      replicas: entry?.record.replicas ?? [],
      leader: entry?.record.leader ?? '',
      epoch: entry?.record.epoch ?? 0,
      leaderLive: entry !== undefined && view.nodes.has(entry.record.leader),
      isr: entry?.record.isr ?? [],
      followers: entry === undefined ? [] : followerLagsOf(entry.record, progress),
    })),
  };
}

/** Returns the node ids that lead a partition with followers: whom to ask for follower progress. */
export function leadersWithFollowers(view: MetadataView): string[] {
  const leaders = new Set<string>();
  for (const name of view.keyspaceNames()) {
    for (const entry of view.keyspace(name)?.partitions ?? []) {
      if (entry !== undefined && entry.record.leader !== '' && entry.record.replicas.length > 1) leaders.add(entry.record.leader);
    }
  }
  return [...leaders].sort();
}

/** Returns the whole cluster status; follower lag from `progress` (unknown where it says nothing). */
export function clusterStatusOf(view: MetadataView, progress: FollowerProgressByNode = noProgress): ClusterStatusResponse {
  const keyspaces = view.keyspaceNames().flatMap((name) => {
    const ks = view.keyspace(name);
    return ks === undefined ? [] : [partitionMapOf(view, ks, progress)];
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
      partitionsMax: reg?.partitionsMax ?? 0,
      zone: reg?.zone ?? '',
      draining: view.drains.has(nodeId),
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
    moves: movesOf(view),
  };
}

/** The moves in flight as etcd records them (the leader's last recorded phase), by keyspace and partition. */
export function movesOf(view: MetadataView): MoveInfo[] {
  return [...view.moves.values()]
    .flatMap((entry) => (entry.record.move === undefined ? [] : [entry.record.move]))
    .sort((a, b) => (a.keyspace < b.keyspace ? -1 : a.keyspace > b.keyspace ? 1 : a.partitionId - b.partitionId));
}

/** Finished moves, newest first. */
export function moveHistoryOf(view: MetadataView): MoveInfo[] {
  return [...view.moveHistory]
    .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
    .flatMap(([, entry]) => (entry.record.move === undefined ? [] : [entry.record.move]));
}

/** One keyspace's settings and how many of its partitions are placed and led by a live node. */
export function keyspaceInfoOf(view: MetadataView, keyspace: KeyspaceEntry): KeyspaceInfo {
  let assigned = 0;
  let led = 0;
  for (const entry of keyspace.partitions) {
    if (entry === undefined) continue;
    assigned++;
    if (view.nodes.has(entry.record.leader)) led++;
  }
  return {
    ...keyspaceSettingsOf(keyspace),
    partitionsAssigned: assigned,
    partitionsLed: led,
  };
}

/**
 * Partitions whose ISR is smaller than their keyspace's replication factor, by keyspace (every
 * keyspace listed, 0 included): copies are missing until a follower catches up or, once moves
 * run, a replica is re-created. Unassigned partitions do not count.
 */
export function underReplicatedByKeyspace(view: MetadataView): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of view.keyspaceNames()) {
    const ks = view.keyspace(name);
    if (ks === undefined) continue;
    const factor = Math.max(1, ks.record.replicationFactor);
    out.set(name, ks.partitions.filter((entry) => entry !== undefined && entry.record.isr.length < factor).length);
  }
  return out;
}
