/**
 * Leadership transfer planners (RFC 0001, "Leadership transfer"), pure:
 *  - `chooseTransferTarget` serves Admin.TransferLeader: it checks that the partition can hand
 *    over now (its leader is live) and picks the target — the one asked for, or the live ISR
 *    follower that leads the fewest partitions;
 *  - `planTransferLeader` serves Coordination.TransferLeader, which the leader data node calls
 *    once it has stopped serving the partition and the target holds its whole log: it checks the
 *    request against the current record and returns the record to write,
 *    `{leader: target, epoch: epoch + 1, isr: unchanged}`, fenced by the record's mod revision.
 *    A request whose target is the leader itself is a *tenure renewal*: a leader that restarted
 *    while leading asks for epoch + 1 before it takes writes again, because entries it sent
 *    ahead of its own fsync may be on followers and not in its log (RFC 0001 "Sending ahead of
 *    the leader's fsync"); the record becomes `{leader: unchanged, epoch: epoch + 1}`.
 *
 * Invariants:
 *  - Only the leader of the record's epoch hands over: a request from another epoch is refused
 *    with STALE_EPOCH and one from another node with NOT_LEADER, both carrying the record's
 *    epoch and leader. A request computed from another record revision is CONDITION_FAILED
 *    with the record's revision as `currentVersion`.
 *  - The target is a live member of the record's ISR other than the leader (INVALID_ARGUMENT
 *    naming `target_node_id` if not a follower in the ISR; PARTITION_UNAVAILABLE if not live):
 *    under `sync` every ISR member holds every acknowledged entry, and the leader has also
 *    waited for the target to hold its whole log, so the new leader loses nothing. Or it is the
 *    leader (a renewal): an acknowledged entry is durable on the leader under every ack
 *    policy, so its own log holds every acknowledged entry.
 *  - The epoch grows by exactly one; replicas and ISR are kept (the old leader stays in the
 *    ISR: it holds everything the new leader holds). The current record satisfies
 *    leader ∈ isr ⊆ replicas (asserted), and so does the result.
 */
import type { PartitionRecord } from '@quire/proto';
import { InvalidArgumentError, PartitionUnavailableError, type PartitionEntry, type QuireError } from '@quire/common';
import { leaderRequestRefusal } from './leader-request.js';
import { assertPartitionRecord } from './record-invariant.js';

/** A transfer request from a partition leader that is ready to hand over. */
export interface TransferLeaderRequest {
  /** Node id of the node asking: it must lead the partition. */
  readonly requester: string;
  /** The epoch the requester leads at. */
  readonly epoch: number;
  /** Node id of the new leader. */
  readonly target: string;
  /** The partition record's mod revision the requester saw when it got ready. */
  readonly expectedRevision: number;
}

/** A validated transfer. */
export interface TransferLeaderPlan {
  /** The record to write: the target leads at epoch + 1. */
  readonly record: PartitionRecord;
  /** The mod revision the write must compare (the current record's). */
  readonly expectedRevision: number;
}

/** The outcome of validating a transfer request. */
export type TransferLeaderResult = { readonly ok: true; readonly plan: TransferLeaderPlan } | { readonly ok: false; readonly error: QuireError };

/** Checks a leader's transfer request against the current record; returns the record to write or the typed refusal. */
export function planTransferLeader(partition: PartitionEntry, request: TransferLeaderRequest, liveNodeIds: ReadonlySet<string>): TransferLeaderResult {
  const refusal = leaderRequestRefusal(partition, request, 'TransferLeader');
  if (refusal !== undefined) return { ok: false, error: refusal };
  const { record, modRevision } = partition;
  // A renewal: the requester is the leader the record names (leaderRequestRefusal checked it).
  const renewal = request.target === request.requester;
  const targetRefusal = renewal ? undefined : targetProblem(record, request.target, liveNodeIds, 'TransferLeader');
  if (targetRefusal !== undefined) return { ok: false, error: targetRefusal };

  const next: PartitionRecord = { ...record, leader: request.target, epoch: record.epoch + 1 };
  assertPartitionRecord(next, 'Leadership transfer of partition');
  return { ok: true, plan: { record: next, expectedRevision: modRevision } };
}

/** Which node an Admin.TransferLeader should hand the partition to. */
export type TransferTargetChoice =
  | { readonly ok: true; readonly kind: 'hand-over'; readonly target: string }
  /** The requested target already leads: nothing to do. */
  | { readonly ok: true; readonly kind: 'already-leads' }
  | { readonly ok: false; readonly error: QuireError };

/**
 * Picks the target of an Admin.TransferLeader: `requested` if it is a live ISR follower, or
 * with `requested` empty the live ISR follower with the fewest leaderships (`leaderCounts`,
 * partitions led per node over every keyspace), ties to the one listed first in `replicas`.
 * Refuses while the leader is not live (failover handles that partition).
 */
export function chooseTransferTarget(
  partition: PartitionEntry,
  requested: string,
  liveNodeIds: ReadonlySet<string>,
  leaderCounts: ReadonlyMap<string, number>,
): TransferTargetChoice {
  const { record } = partition;
  assertPartitionRecord(record, 'Partition');
  const name = `${record.keyspace}/${record.partitionId}`;
  const routing = { partitionId: record.partitionId, epoch: record.epoch, leaderHint: record.leader };
  if (requested !== '' && requested === record.leader) return { ok: true, kind: 'already-leads' };
  if (!liveNodeIds.has(record.leader)) {
    return {
      ok: false,
      error: new PartitionUnavailableError(`Partition ${name}: its leader ${record.leader} is not live, so it cannot hand over (failover replaces it)`, routing),
    };
  }
  if (requested !== '') {
    const refusal = targetProblem(record, requested, liveNodeIds, 'TransferLeader');
    return refusal === undefined ? { ok: true, kind: 'hand-over', target: requested } : { ok: false, error: refusal };
  }
  let best: string | undefined;
  for (const nodeId of record.replicas) {
    if (nodeId === record.leader || !record.isr.includes(nodeId) || !liveNodeIds.has(nodeId)) continue;
    if (best === undefined || (leaderCounts.get(nodeId) ?? 0) < (leaderCounts.get(best) ?? 0)) best = nodeId;
  }
  if (best === undefined) {
    return {
      ok: false,
      error: new PartitionUnavailableError(`Partition ${name} has no live in-sync follower to hand its leadership to (ISR [${record.isr.join(', ')}])`, routing),
    };
  }
  return { ok: true, kind: 'hand-over', target: best };
}

/** Returns the leaders per node over every partition of `records`. */
export function countLeaderships(records: Iterable<PartitionRecord>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) if (record.leader !== '') counts.set(record.leader, (counts.get(record.leader) ?? 0) + 1);
  return counts;
}

/** Returns why `target` cannot take over `record`'s leadership, or undefined if it can. */
function targetProblem(record: PartitionRecord, target: string, liveNodeIds: ReadonlySet<string>, what: string): QuireError | undefined {
  const name = `${record.keyspace}/${record.partitionId}`;
  const details = { field: 'target_node_id', partitionId: record.partitionId, epoch: record.epoch, leaderHint: record.leader };
  if (target === '') return new InvalidArgumentError(`${what} for partition ${name} names no target node`, details);
  if (target === record.leader) return new InvalidArgumentError(`${what} for partition ${name}: the target ${target} already leads it`, details);
  if (!record.replicas.includes(target)) {
    return new InvalidArgumentError(`${what} for partition ${name}: the target ${target} is not a replica [${record.replicas.join(', ')}]`, details);
  }
  if (!record.isr.includes(target)) {
    return new InvalidArgumentError(`${what} for partition ${name}: the target ${target} is not in the ISR [${record.isr.join(', ')}]`, details);
  }
  if (!liveNodeIds.has(target)) {
    return new PartitionUnavailableError(`${what} for partition ${name}: the target ${target} is not live`, {
      partitionId: record.partitionId,
      epoch: record.epoch,
      leaderHint: record.leader,
    });
  }
  return undefined;
}
