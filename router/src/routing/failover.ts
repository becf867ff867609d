/**
 * Failover decisions, pure: after an operation failed to route or a data node refused it,
 * whether the router holds it for a usable leader, retries it, or answers the error. The
 * router's adapter (router.ts) does the waiting; this module only decides.
 *
 * Invariants:
 *  - A write is retried only after an outcome that says it did not happen: a routing refusal
 *    (WRONG_PARTITION, STALE_EPOCH, NOT_LEADER), SHUTTING_DOWN (a stopping data node refuses an
 *    operation before doing anything with it: its leaderships are being handed over, so the
 *    route is about to change), or UNAVAILABLE, which for a write means it was never sent
 *    (MultiplexedStream turns a write lost after sending into AMBIGUOUS_RESULT) —
 *    or, for a write carrying a request id, AMBIGUOUS_RESULT (RFC 0001 "Request ids and router
 *    buffering"): every replica that may lead next deduplicates the id, so a resent write that
 *    was applied is answered with its first result instead of being applied again. A write
 *    without a request id is never resent after AMBIGUOUS_RESULT. DEADLINE_EXCEEDED and every
 *    other error reach the client unchanged.
 *  - Once an attempt of a write was ambiguous, only an answer that decides the write settles it
 *    (settlesAmbiguousWrite): success, or a refusal of its condition by a leader that would have
 *    recognised the first attempt. Anything else — the wait running out included — answers the
 *    client AMBIGUOUS_RESULT, never a plain failure.
 *  - A read (get, or a partition of a scan) has no effect, so a read lost with its node
 *    (UNAVAILABLE, AMBIGUOUS_RESULT) may be sent again too, and so may a read of a replicated
 *    partition whose leader cannot serve reads for a moment (PARTITION_UNAVAILABLE: its lease
 *    is being renewed, or it is a new leader that has not yet acknowledged the log it took over
 *    after a transfer or failover). A write refused with PARTITION_UNAVAILABLE (below min ISR)
 *    reaches the client.
 *  - A partition without a usable leader is held only if a failover can give it one: it has
 *    more than one replica.
 *  - A split under way (splitUnderWay: the new partition of a RANGE keyspace's split, or its
 *    parent, while the map still records the split's origin) makes PARTITION_UNAVAILABLE from
 *    the partition's leader a pause, for writes too: the new partition's leader refuses
 *    requests until it has carved the partition's data out of its parent, and a refusal says
 *    the operation did not happen (operation-effect.ts), so it is sent again within the
 *    failover wait instead of failing the client's request.
 */
import { isRangeKeyspace, type KeyspaceEntry, type MetadataView } from '@quire/common';
import type { Route } from './route.js';

/** The kinds of request the router retries differently. */
export type OperationKind = 'get' | 'put' | 'delete' | 'scan';

/** Where a failure was found. */
export type FailureSite =
  /** The router's own routing found no usable leader (the operation was sent nowhere). */
  | 'route'
  /** A data node (or the connection to it) answered the operation with an error. */
  | 'node';

/** What the router does after a failure. */
export type RetryAction =
  /** Answer the error as it is. */
  | 'fail'
  /** Wait for the metadata view to name a usable leader, then route again. */
  | 'hold'
  /** The route was stale: catch the map up to the responder's revision, then route again. */
  | 'refresh'
  /** The operation did not take effect: route again once the view moved or after a pause. */
  | 'resend';

const routingCodes: ReadonlySet<string> = new Set(['WRONG_PARTITION', 'STALE_EPOCH', 'NOT_LEADER']);

/** Returns whether `kind` only reads. */
export function isRead(kind: OperationKind): boolean {
  return kind === 'get' || kind === 'scan';
}

/**
 * Returns what to do after a failure with error `code` found at `site`, for an operation of
 * `kind` on a partition with `replicaCount` replicas; `hasRequestId` says whether a write
 * carries a request id (so resending it after an unknown outcome cannot apply it twice);
 * `momentary` whether the view says a PARTITION_UNAVAILABLE from the partition's leader will
 * pass on its own (unavailabilityIsMomentary: a split under way, or an ISR the leader has not
 * confirmed yet).
 */
export function retryActionFor(code: string, site: FailureSite, kind: OperationKind, replicaCount: number, hasRequestId: boolean, momentary = false): RetryAction {
  if (site === 'route') {
    // Only a failover can give the partition a leader, and only another replica can be promoted.
    return code === 'PARTITION_UNAVAILABLE' && replicaCount > 1 ? 'hold' : 'fail';
  }
  if (routingCodes.has(code)) return 'refresh';
  if (code === 'UNAVAILABLE' || code === 'SHUTTING_DOWN') return 'resend';
  if (code === 'AMBIGUOUS_RESULT' && (isRead(kind) || hasRequestId)) return 'resend';
  // The leader refused before doing anything, for a reason the view shows passing (a split's
  // new partition not carved yet, an ISR grown in etcd that the leader has not confirmed yet).
  if (code === 'PARTITION_UNAVAILABLE' && momentary) return 'resend';
  if (code === 'PARTITION_UNAVAILABLE' && isRead(kind) && replicaCount > 1) return 'resend';
  return 'fail';
}

/**
 * Returns whether an answer (`code`: undefined for success) to a resent write decides the
 * outcome of a write whose earlier attempt was ambiguous. Success does: the leader answered
 * from its dedup table if the earlier attempt is in its log, or applied the write now if it is
 * not (then the earlier attempt can never be acknowledged: this leader's log is the one that
 * survives). CONDITION_FAILED does for the same reason: the condition was checked by a leader
 * that would have recognised the earlier attempt. Every other error only says the resend did
 * not happen, and nothing about the earlier attempt.
 */
export function settlesAmbiguousWrite(code: string | undefined): boolean {
  return code === undefined || code === 'CONDITION_FAILED';
}

/**
 * Returns why an attempt sent along `route` can no longer be answered by the partition's
 * leader, or undefined while it still can: the view names another leader (the node was
 * replaced, by a failover or a transfer), the route's node has no registration (its lease
 * expired: it was paused, cut off or killed), or the partition is gone from the map. The router
 * stops waiting for such an attempt and treats it as lost with its node (RFC 0001 "Bounded
 * waits"): a paused leader's answer would come only after it resumes, and by then a new
 * leader serves the partition. A new epoch with the same leader (a tenure renewal) is not a
 * reason: that node keeps answering.
 */
export function routeSuperseded(view: MetadataView, route: Route): string | undefined {
  const entry = view.keyspace(route.keyspace)?.partitions[route.partitionId];
  const name = `${route.keyspace}/${route.partitionId}`;
  if (entry === undefined) return `partition ${name} is no longer in the map`;
  if (entry.record.leader !== route.nodeId) {
    return `partition ${name} is led by ${entry.record.leader === '' ? 'no node' : entry.record.leader} at epoch ${entry.record.epoch} now, not by ${route.nodeId}`;
  }
  if (!view.nodes.has(route.nodeId)) return `node ${route.nodeId}, leader of partition ${name}, lost its registration (its lease expired)`;
  return undefined;
}

/** Returns the number of replicas of a partition in the view (0 while it has no record). */
export function replicaCountOf(ks: KeyspaceEntry, partitionId: number): number {
  return ks.partitions[partitionId]?.record.replicas.length ?? 0;
}

/**
 * Returns whether the view shows a split of the partition under way: the partition was made by
 * a split whose origin the map still records (PartitionRecord.split_from, cleared once its data
 * is carved and replicated), or it is the parent of such a partition.
 */
export function splitUnderWay(ks: KeyspaceEntry, partitionId: number): boolean {
  if (!isRangeKeyspace(ks)) return false;
  if (ks.partitions[partitionId]?.record.splitFrom !== undefined) return true;
  return ks.partitions.some((p) => p?.record.splitFrom?.parentPartitionId === partitionId);
}

/**
 * Returns whether a PARTITION_UNAVAILABLE from the partition's leader will pass on its own, as
 * the view shows it: a split of the partition is under way (splitUnderWay: the new partition's
 * leader refuses until it has carved its data, and its ISR starts with the leader alone), or the
 * partition's ISR in the map already has the keyspace's min_isr members while its leader still
 * refuses writes for want of them — the leader confirms an ISR change only once its own view
 * shows it, which may come after the router's (a follower that just caught up, a new partition's
 * follower that just carved its copy). A refusal for an ISR that is too small in the map too is
 * not momentary: followers are down or lagging, and the client hears of it at once.
 */
export function unavailabilityIsMomentary(ks: KeyspaceEntry, partitionId: number): boolean {
  if (splitUnderWay(ks, partitionId)) return true;
  const record = ks.partitions[partitionId]?.record;
  return record !== undefined && record.replicas.length > 1 && record.isr.length >= Math.max(2, ks.record.minIsr);
}

/** Returns the partition's epoch in the view (0 while it has no record). */
export function epochOf(ks: KeyspaceEntry, partitionId: number): number {
  return ks.partitions[partitionId]?.record.epoch ?? 0;
}

/**
 * Returns when a failover wait that starts at `startedMs` must end: after `failoverWaitMs`,
 * and never after the request's own deadline.
 */
export function holdUntilMs(startedMs: number, failoverWaitMs: number, deadlineMs: number): number {
  return Math.min(startedMs + failoverWaitMs, deadlineMs);
}
