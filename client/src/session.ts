/**
 * SessionToken: a client's session for SESSION reads (RFC 0001, "Follower reads"), in the
 * manner of Cosmos DB session tokens. Per keyspace and partition it keeps the largest log index
 * any answer reflected (writes: their index; reads: the serving replica's acknowledged index),
 * and a SESSION read sends the keyspace's positions so the replica that serves it has applied
 * all of them: read-your-writes and monotonic reads within the session.
 *
 * Invariants: an index never goes down; at most sessionPositionsMax positions per keyspace (a
 * keyspace has fewer partitions; a position for a partition beyond that is dropped, never sent).
 * Positions are kept by partition id with no partition count: a range keyspace's splits add
 * partitions (ids from its count up) after a session began, and a partition the session has no
 * position for reads as index 0 — the new partition's replicas serve it only once they hold the
 * data carved out of its parent, which includes every write acknowledged before the split.
 * Pure: no I/O.
 */
import type { SessionPosition } from '@quire/proto';
import { defaultKeyspace, sessionPositionsMax } from '@quire/common';

/** A client's session: the newest position it saw per keyspace and partition. */
export class SessionToken {
  private readonly keyspaces = new Map<string, Map<number, number>>();

  /** Merges a position an answer for `keyspace` reflected (undefined: nothing to merge). */
  merge(keyspace: string, position: SessionPosition | undefined): void {
    if (position === undefined || position.index <= 0) return;
    const name = keyspace === '' ? defaultKeyspace : keyspace;
    let partitions = this.keyspaces.get(name);
    if (partitions === undefined) {
      partitions = new Map();
      this.keyspaces.set(name, partitions);
    }
    const current = partitions.get(position.partitionId);
    if (current === undefined && partitions.size >= sessionPositionsMax) return;
    if (current === undefined || position.index > current) partitions.set(position.partitionId, position.index);
  }

  /** The positions of `keyspace`, ordered by partition id. */
  positions(keyspace: string): SessionPosition[] {
    const partitions = this.keyspaces.get(keyspace === '' ? defaultKeyspace : keyspace);
    if (partitions === undefined) return [];
    return [...partitions].sort((a, b) => a[0] - b[0]).map(([partitionId, index]) => ({ partitionId, index }));
  }
}
