/**
 * Validation of an AlterIsr request (RFC 0001, "ISR changes"): a partition leader asks the
 * coordinator to change its partition's ISR — shrink it when a follower lags for
 * `isrLagTimeMs`, expand it when a follower catches up. This pure planner checks the request
 * against the current record and returns the record to write; the Coordination service
 * (server/coordination-service.ts) writes it in one fenced etcd transaction that compares
 * `expectedRevision` and answers the leader with the new record and its revision.
 *
 * Invariants:
 *  - Only the leader of the record's epoch changes the ISR: a request from an older (or, with
 *    a lagging view, newer) epoch is refused with STALE_EPOCH carrying the record's epoch and
 *    leader, and one from another node with NOT_LEADER.
 *  - ISR changes do not bump the epoch; they are fenced by the record's mod revision. A
 *    request computed from another revision is refused with CONDITION_FAILED, whose
 *    `currentVersion` is the record's mod revision: the leader refreshes its view to at least
 *    that revision, recomputes its ISR and asks again (it decides; nobody retries for it).
 *  - The new ISR contains the leader, lies within `replicas` and has no duplicates; otherwise
 *    INVALID_ARGUMENT. Members may be added and removed in one request: the leader's effective
 *    ack set already counts members it asked to add and keeps counting those it asked to
 *    remove, so the ISR in etcd stays within it whatever the mix (RFC invariant 4).
 *  - The ISR may shrink below the keyspace's min_isr: that is not refused here (a SYNC leader
 *    then refuses writes until the ISR grows back), as in Kafka.
 *  - Only the ISR changes: leader, epoch, replicas and the key range are kept. The new ISR is
 *    stored in `replicas` order, so equal sets encode equally. A request naming the current ISR
 *    is valid and reports `changed: false`; the adapter may answer it without writing.
 *  - A partition carved by a split (splitFrom set) has its splitFrom cleared, in the same write
 *    and without an epoch bump, once the ISR asked for has at least min(2, replicas) members:
 *    the leader and one more replica hold its data. This is also a change when the ISR itself
 *    stays (a one-replica partition's leader asks for ISR [itself] once it has carved its copy).
 *  - The current record satisfies leader ∈ isr ⊆ replicas (asserted), and so does the result.
 */
import type { PartitionRecord } from '@quire/proto';
import { InvalidArgumentError, type PartitionEntry, type QuireError } from '@quire/common';
import { leaderRequestRefusal } from './leader-request.js';
import { assertPartitionRecord } from './record-invariant.js';

/** An AlterIsr request from a partition leader. */
export interface AlterIsrRequest {
  /** Node id of the node asking: it must lead the partition. */
  readonly requester: string;
  /** The epoch the requester leads at. */
  readonly epoch: number;
  /** The whole ISR it asks for, leader included. */
  readonly isr: readonly string[];
  /** The partition record's mod revision the requester computed the change from. */
  readonly expectedRevision: number;
}

/** A validated ISR change. */
export interface AlterIsrPlan {
  /** The record to write. */
  readonly record: PartitionRecord;
  /** The mod revision the write must compare (the current record's). */
  readonly expectedRevision: number;
  /** Members joining the ISR, in `replicas` order. */
  readonly added: readonly string[];
  /** Members leaving the ISR, in `replicas` order. */
  readonly removed: readonly string[];
  /** Whether the split that carved the partition is done with this change (splitFrom cleared). */
  readonly splitCarved: boolean;
  /** Whether the record changes at all (the ISR, or splitFrom cleared). */
  readonly changed: boolean;
}

/** The outcome of validating an AlterIsr request. */
export type AlterIsrResult = { readonly ok: true; readonly plan: AlterIsrPlan } | { readonly ok: false; readonly error: QuireError };

/** Checks an AlterIsr request against the current partition record and returns the record to write, or the typed refusal. */
export function planAlterIsr(partition: PartitionEntry, request: AlterIsrRequest): AlterIsrResult {
  const refusal = leaderRequestRefusal(partition, request, 'AlterIsr');
  if (refusal !== undefined) return { ok: false, error: refusal };
  const { record, modRevision } = partition;
  const problem = isrProblem(record, request.isr);
  if (problem !== undefined) {
    return {
      ok: false,
      error: new InvalidArgumentError(`AlterIsr for partition ${record.keyspace}/${record.partitionId}: the ISR [${request.isr.join(', ')}] ${problem}`, {
        field: 'isr',
        partitionId: record.partitionId,
      }),
    };
  }

  const wanted = new Set(request.isr);
  const isr = record.replicas.filter((nodeId) => wanted.has(nodeId));
  const added = isr.filter((nodeId) => !record.isr.includes(nodeId));
  const removed = record.replicas.filter((nodeId) => record.isr.includes(nodeId) && !wanted.has(nodeId));
  const splitCarved = record.splitFrom !== undefined && isr.length >= Math.min(2, record.replicas.length);
  const next: PartitionRecord = { ...record, isr, ...(splitCarved ? { splitFrom: undefined } : {}) };
  assertPartitionRecord(next, 'ISR change of partition');
  const changed = added.length > 0 || removed.length > 0 || splitCarved;
  return { ok: true, plan: { record: next, expectedRevision: modRevision, added, removed, splitCarved, changed } };
}

/** Returns why `isr` cannot be the ISR of `record`, or undefined if it can. */
function isrProblem(record: PartitionRecord, isr: readonly string[]): string | undefined {
  if (new Set(isr).size !== isr.length) return 'has duplicate members';
  if (!isr.includes(record.leader)) return `does not contain the leader ${record.leader}`;
  const outside = isr.filter((nodeId) => !record.replicas.includes(nodeId));
  if (outside.length > 0) return `names [${outside.join(', ')}], which are not replicas [${record.replicas.join(', ')}]`;
  return undefined;
}
