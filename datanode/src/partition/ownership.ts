/**
 * Decides whether this node may serve an operation on a partition, from its metadata view
 * alone. A refusal is a typed routing error that carries the node's map revision and what it
 * knows about the partition, so the router can tell whether refreshing its own map helps.
 */
import {
  InvalidArgumentError,
  NotLeaderError,
  PartitionUnavailableError,
  StaleEpochError,
  WrongPartitionError,
  type MetadataView,
  type PartitionEntry,
  type QuireError,
} from '@quire/common';

/** The outcome of an ownership check. */
export type Ownership = { readonly ok: true; readonly entry: PartitionEntry } | { readonly ok: false; readonly error: QuireError };

/**
 * Checks that `nodeId` leads `keyspace`/`partitionId` at `epoch` (0 = any epoch) according to
 * `view`.
 */
export function checkOwnership(view: MetadataView, nodeId: string, keyspace: string, partitionId: number, epoch: number): Ownership {
  const mapRevision = view.revision;
  if (!view.loaded) {
    return { ok: false, error: new PartitionUnavailableError('This data node has not loaded the partition map yet', { partitionId }) };
  }
  const ks = view.keyspace(keyspace);
  if (ks === undefined) {
    return {
      ok: false,
      error: new WrongPartitionError(`This data node does not know keyspace "${keyspace}" at map revision ${mapRevision}`, {
        mapRevision,
        partitionId,
      }),
    };
  }
  if (!Number.isInteger(partitionId) || partitionId >= ks.record.partitionCount) {
    return {
      ok: false,
      error: new InvalidArgumentError(`partition_id ${partitionId} is out of range: keyspace "${keyspace}" has ${ks.record.partitionCount} partitions`, {
        field: 'partition_id',
        limit: ks.record.partitionCount - 1,
        actual: partitionId,
      }),
    };
  }
  const entry = ks.partitions[partitionId];
  if (entry === undefined || entry.record.leader !== nodeId) {
    const leader = entry?.record.leader ?? '';
    const details = { mapRevision, partitionId, epoch: entry?.record.epoch ?? 0, leaderHint: leader };
    if (entry !== undefined && entry.record.replicas.includes(nodeId)) {
      return { ok: false, error: new NotLeaderError(`Partition ${keyspace}/${partitionId} is led by ${leader || 'nobody'}, not ${nodeId}`, details) };
    }
    return {
      ok: false,
      error: new WrongPartitionError(`Partition ${keyspace}/${partitionId} is not on node ${nodeId} at map revision ${mapRevision}`, details),
    };
  }
  if (epoch !== 0 && epoch !== entry.record.epoch) {
    return {
      ok: false,
      error: new StaleEpochError(`Request epoch ${epoch} does not match partition ${keyspace}/${partitionId} epoch ${entry.record.epoch}`, {
        mapRevision,
        partitionId,
        epoch: entry.record.epoch,
        leaderHint: entry.record.leader,
      }),
    };
  }
  return { ok: true, entry };
}

/**
 * Checks that `nodeId` holds a replica of `keyspace`/`partitionId` — leader or follower — at
 * `epoch` (0 = any epoch) according to `view`: where SESSION and STALE reads may be served (RFC
 * 0001, "Follower reads"). The refusals are checkOwnership's, except that a follower is
 * accepted; a follower at another epoch than the sender's is refused with STALE_EPOCH.
 */
export function checkReplica(view: MetadataView, nodeId: string, keyspace: string, partitionId: number, epoch: number): Ownership {
  const owner = checkOwnership(view, nodeId, keyspace, partitionId, epoch);
  if (owner.ok || owner.error.code !== 'NOT_LEADER') return owner;
  const entry = view.keyspace(keyspace)?.partitions[partitionId];
  if (entry === undefined) return owner;
  if (epoch !== 0 && epoch !== entry.record.epoch) {
    return {
      ok: false,
      error: new StaleEpochError(`Request epoch ${epoch} does not match partition ${keyspace}/${partitionId} epoch ${entry.record.epoch}`, {
        mapRevision: view.revision,
        partitionId,
        epoch: entry.record.epoch,
        leaderHint: entry.record.leader,
      }),
    };
  }
  return { ok: true, entry };
}
