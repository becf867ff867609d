/**
 * Read consistency on the wire (RFC 0001, "Follower reads"): the ReadConsistency enum as the
 * router and the data nodes understand it, and the checks of a session token
 * (GetRequest.session) both enforce. Pure; every violation is INVALID_ARGUMENT naming the field
 * and, where there is one, the limit.
 */
import { ReadConsistency, type SessionPosition } from '@quire/proto';
import { InvalidArgumentError } from '../errors/quire-error.js';

/** How fresh a read must be: served by the leader under its lease, or by any replica that can. */
export type Consistency = 'linearizable' | 'session' | 'stale';

/**
 * Most positions in one session token. Part of the wire contract (kv.proto GetRequest.session),
 * not a setting: a client keeps one position per partition, and keyspaces have far fewer
 * partitions than this.
 */
export const sessionPositionsMax = 4096;

/** Returns the consistency a request asks for (unspecified = linearizable), or throws INVALID_ARGUMENT. */
export function consistencyOf(value: ReadConsistency | number, field = 'consistency'): Consistency {
  switch (value) {
    case ReadConsistency.READ_CONSISTENCY_UNSPECIFIED:
    case ReadConsistency.READ_CONSISTENCY_LINEARIZABLE:
      return 'linearizable';
    case ReadConsistency.READ_CONSISTENCY_SESSION:
      return 'session';
    case ReadConsistency.READ_CONSISTENCY_STALE:
      return 'stale';
    default:
      throw new InvalidArgumentError(`${field} ${String(value)} is not a known read consistency (0..3: unspecified, linearizable, session, stale)`, {
        field,
        limit: ReadConsistency.READ_CONSISTENCY_STALE,
        ...(Number.isSafeInteger(value) && value >= 0 ? { actual: value } : {}),
      });
  }
}

/** The wire value of a consistency. */
export function readConsistencyOf(consistency: Consistency): ReadConsistency {
  switch (consistency) {
    case 'linearizable':
      return ReadConsistency.READ_CONSISTENCY_LINEARIZABLE;
    case 'session':
      return ReadConsistency.READ_CONSISTENCY_SESSION;
    case 'stale':
      return ReadConsistency.READ_CONSISTENCY_STALE;
  }
}

/**
 * Checks a session token against a keyspace of `partitionCount` partitions and returns the
 * largest index it holds for `partitionId` (0: none). Throws INVALID_ARGUMENT when it has more
 * than sessionPositionsMax positions, names a partition the keyspace does not have, or holds an
 * index that is not a safe integer.
 */
export function sessionIndexFor(session: readonly SessionPosition[], partitionId: number, partitionCount: number, field = 'session'): number {
  if (session.length > sessionPositionsMax) {
    throw new InvalidArgumentError(`${field} has ${session.length} positions; the limit is ${sessionPositionsMax}`, {
      field,
      limit: sessionPositionsMax,
      actual: session.length,
    });
  }
  let index = 0;
  for (const position of session) {
    if (!Number.isSafeInteger(position.partitionId) || position.partitionId < 0 || position.partitionId >= partitionCount) {
      throw new InvalidArgumentError(`${field}.partition_id ${position.partitionId} is out of range: the keyspace has partitions 0..${partitionCount - 1}`, {
        field: `${field}.partition_id`,
        limit: partitionCount - 1,
        actual: position.partitionId,
      });
    }
    if (!Number.isSafeInteger(position.index) || position.index < 0) {
      throw new InvalidArgumentError(`${field}.index ${position.index} is not an integer in 0..${Number.MAX_SAFE_INTEGER}`, {
        field: `${field}.index`,
        limit: Number.MAX_SAFE_INTEGER,
      });
    }
    if (position.partitionId === partitionId && position.index > index) index = position.index;
  }
  return index;
}
