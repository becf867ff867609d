/**
 * The failover planner (RFC 0001, "Failure detection and failover"): a pure function from a
 * partition record, the live node ids and the log ends that the live ISR members reported, to
 * a decision. It only proposes; the controller (controller.ts, failover step) asks the members
 * for their log ends (`Replication.GetLogEnd`, with a deadline) and writes a promotion in one
 * fenced etcd transaction that compares the record's mod revision.
 *
 * Invariants:
 *  - No unclean election: only a live member of the record's ISR that answered is ever
 *    promoted. A replica outside the ISR may have the longest log, but it may lack
 *    acknowledged entries, so it is never a candidate; without a candidate the partition stays
 *    leaderless (the record is left as it is).
 *  - The new leader has the greatest (epoch, index) among the candidates (under SYNC it holds
 *    every acknowledged entry: RFC invariant 5); ties go to the candidate that leads the fewest
 *    partitions (`leaderCounts`), then to the one listed first in `replicas`, so the same input
 *    always gives the same leader and a dead node's leaderships spread over the survivors
 *    instead of all going to one of them.
 *  - A promotion bumps the epoch by exactly one and sets the ISR to the candidates, in
 *    `replicas` order: leader ∈ new ISR ⊆ old ISR ⊆ replicas. `replicas` is unchanged.
 *  - A promotion carries the record's mod revision as `expectedRevision`: written with that
 *    comparison, a plan made from a stale view (the record changed meanwhile, e.g. a log end
 *    already reports an epoch newer than the record's) changes nothing.
 *  - A live leader means no change: failure is proven only by the node's lease being gone.
 *  - The input record satisfies leader ∈ isr ⊆ replicas; one that does not is a data or
 *    programmer error and crashes (AssertionError), as does a malformed log end.
 */
import type { PartitionRecord } from '@quire/proto';
import type { PartitionEntry } from '@quire/common';
import { assertCount, assertPartitionRecord } from './record-invariant.js';

/** The end of a replica's log: the index of its last entry and that entry's epoch ((0, 0) when empty). */
export interface LogEnd {
  readonly epoch: number;
  readonly index: number;
}

/** Orders log ends by epoch, then by index: negative when `a` is behind `b`, 0 when equal. */
export function compareLogEnds(a: LogEnd, b: LogEnd): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.index - b.index;
}

/** What the planner decides from. */
export interface FailoverInput {
  /** The partition record and the etcd mod revision it was read at. */
  readonly partition: PartitionEntry;
  /** Node ids with a live registration (lease) in etcd. */
  readonly liveNodeIds: ReadonlySet<string>;
  /**
   * Log ends by node id, as answered within the deadline. Answers from nodes that are not
   * live ISR members are ignored; a member that did not answer has no entry.
   */
  readonly logEnds: ReadonlyMap<string, LogEnd>;
  /**
   * Partitions each node leads now (over every keyspace), to break ties between equally long
   * logs; absent counts are 0. The caller adds each promotion it plans to the counts before
   * planning the next partition.
   */
  readonly leaderCounts?: ReadonlyMap<string, number>;
}

/** Why a partition whose leader is dead gets no new leader. */
export type LeaderlessReason =
  /** Every ISR member's registration is gone. */
  | 'no-live-isr-member'
  /** Some ISR members are live, but none reported its log end. */
  | 'no-isr-member-answered';

/** The planner's decision for one partition. */
export type FailoverDecision =
  /** The leader is live: nothing to do. */
  | { readonly kind: 'no-change' }
  /** Write `record` (leader, epoch + 1, ISR = the candidates), comparing `expectedRevision`. */
  | {
      readonly kind: 'promote';
      readonly leader: string;
      readonly epoch: number;
      readonly isr: readonly string[];
      readonly expectedRevision: number;
      /** The new leader's log end. */
      readonly logEnd: LogEnd;
      /** The whole record to write. */
      readonly record: PartitionRecord;
    }
  /** The leader is dead and no ISR member can replace it: the partition stays unavailable. */
  | {
      readonly kind: 'leaderless';
      readonly reason: LeaderlessReason;
      /** The live ISR members (none of which answered), for the log line. */
      readonly liveIsr: readonly string[];
    };

/** Returns the ISR members with a live registration, in `replicas` order: the nodes to ask for their log ends. */
export function failoverCandidates(record: PartitionRecord, liveNodeIds: ReadonlySet<string>): string[] {
  assertPartitionRecord(record, 'Partition');
  return record.replicas.filter((nodeId) => record.isr.includes(nodeId) && liveNodeIds.has(nodeId));
}

/** Decides whether a partition needs a new leader and, if it does, which live ISR member with the longest log gets it. */
export function planFailover(input: FailoverInput): FailoverDecision {
  const { record, modRevision } = input.partition;
  assertPartitionRecord(record, 'Partition');
  assertCount(record.epoch, 'Partition epoch');
  assertCount(modRevision, 'Partition mod revision');
  if (input.liveNodeIds.has(record.leader)) return { kind: 'no-change' };

  const liveIsr = failoverCandidates(record, input.liveNodeIds);
  if (liveIsr.length === 0) return { kind: 'leaderless', reason: 'no-live-isr-member', liveIsr };

  const answered: { nodeId: string; logEnd: LogEnd }[] = [];
  for (const nodeId of liveIsr) {
    const logEnd = input.logEnds.get(nodeId);
    if (logEnd === undefined) continue;
    assertCount(logEnd.epoch, `Log end epoch of ${nodeId}`);
    assertCount(logEnd.index, `Log end index of ${nodeId}`);
    answered.push({ nodeId, logEnd });
  }
  let best = answered[0];
  if (best === undefined) return { kind: 'leaderless', reason: 'no-isr-member-answered', liveIsr };
  // Candidates are in `replicas` order and only a strictly greater log end, or an equal one on a
  // node leading strictly fewer partitions, replaces the best: a full tie goes to the member
  // listed first.
  const leads = (nodeId: string): number => input.leaderCounts?.get(nodeId) ?? 0;
  for (const candidate of answered) {
    const order = compareLogEnds(candidate.logEnd, best.logEnd);
    if (order > 0 || (order === 0 && leads(candidate.nodeId) < leads(best.nodeId))) best = candidate;
  }

  const epoch = record.epoch + 1;
  assertCount(epoch, 'New partition epoch');
  const isr = answered.map((candidate) => candidate.nodeId);
  const next: PartitionRecord = { ...record, leader: best.nodeId, epoch, isr };
  assertPartitionRecord(next, 'Promotion of partition');
  return { kind: 'promote', leader: best.nodeId, epoch, isr, expectedRevision: modRevision, logEnd: best.logEnd, record: next };
}
