/**
 * The move protocol's decisions (RFC 0003): one replica of a partition moves from a source node
 * to a target node, add before remove. A pure, level-triggered step: from the move as recorded
 * and the partition as the metadata view shows it now, it returns the move's next state and the
 * actions to take. It performs no I/O and reads no clock: the caller passes the time, writes the
 * records it is given through the coordinator's fenced path (which compares the revision the
 * step saw), asks partition leaders to hand over, records the move's phase in etcd, and calls
 * the step again whenever the view changes or a timer fires. Calling it again with the same
 * inputs gives the same answer, so a coordinator that takes over mid-move resumes by calling it
 * with the recorded move.
 *
 * Phases:
 *   adding        write {replicas + target}: the target is a *learner*, a replica outside the
 *                 ISR, which counts for no acknowledgement and cannot be promoted by failover
 *   catching-up   wait until the partition leader admits the target to the ISR (it does so once
 *                 the target's durable index reaches the acknowledged index: RFC 0001 "ISR
 *                 changes"; a target too far behind is sent a snapshot first)
 *   transferring  if the source leads, ask it to hand its leadership to the target
 *   removing      write {replicas - source, isr - source}
 *   rolling-back  write {replicas - target, isr - target} (after moving the leadership off the
 *                 target if a failover gave it to it)
 *   done | rolled-back   final; the caller records the outcome
 *
 * Invariants (tested in move-step.test.ts):
 *  - Add before remove: the source is removed only while the target is in the ISR, so the
 *    partition never has fewer in-sync copies than when the move began, and never fewer replicas.
 *  - The leader is never removed: a source that leads is removed only after its leadership moved.
 *  - A rollback removes only the target, and never while it leads.
 *  - Every record written keeps leader ∈ isr ⊆ replicas, keeps the leader, bumps the epoch by
 *    one (a replica-set change is a new epoch, as the record's contract says: the leader starts
 *    it as a tenure renewal, with the new follower list), and is written against the revision
 *    the step saw.
 */
import type { PartitionRecord } from '@quire/proto';
import type { PartitionEntry } from '@quire/common';
import { assertPartitionRecord } from '../failover/record-invariant.js';

/** Where a move is. */
export type MovePhase = 'adding' | 'catching-up' | 'transferring' | 'removing' | 'rolling-back' | 'done' | 'rolled-back';

/** One replica move, as recorded in etcd (the phase) plus the time its phase began here. */
export interface Move {
  readonly keyspace: string;
  readonly partitionId: number;
  /** The node whose replica moves away. */
  readonly source: string;
  /** The node that gets the new replica. */
  readonly target: string;
  readonly phase: MovePhase;
  /** Monotonic ms at which this coordinator saw the phase begin (a new leader restarts it). */
  readonly phaseSinceMs: number;
  /** Monotonic ms of the last leadership-transfer request (0: none yet in this phase). */
  readonly transferAskedMs: number;
  /** Why the move ended or is rolling back ('' while it goes forward). */
  readonly reason: string;
}

/** Bounds of a move. */
export interface MoveSettings {
  /** How long the target may take to join the ISR before the move is rolled back. */
  readonly catchUpTimeoutMs: number;
  /** How long to wait for a requested leadership transfer before asking again. */
  readonly transferRetryMs: number;
}

/** What the step looks at besides the move. */
export interface MoveObservation {
  /** The partition's record and mod revision; undefined when the partition is gone. */
  readonly partition: PartitionEntry | undefined;
  /** Node ids holding a live registration. */
  readonly live: ReadonlySet<string>;
  /** Monotonic ms now. */
  readonly nowMs: number;
  /** Whether the move was asked to stop (a drain cancelled, an operator's request). */
  readonly cancelled: boolean;
}

/** What the caller does. */
export type MoveAction =
  /** Write `record` in one fenced transaction comparing `expectedRevision`. */
  | { readonly kind: 'write-record'; readonly record: PartitionRecord; readonly expectedRevision: number }
  /** Ask the partition leader `from` (leading at `epoch`) to hand its leadership to `to`. */
  | { readonly kind: 'transfer-leader'; readonly from: string; readonly to: string; readonly epoch: number };

/** The step's answer. */
export interface MoveStep {
  readonly move: Move;
  readonly actions: readonly MoveAction[];
}

/** A move just planned: adding, nothing written yet. */
export function newMove(keyspace: string, partitionId: number, source: string, target: string, nowMs: number): Move {
  return { keyspace, partitionId, source, target, phase: 'adding', phaseSinceMs: nowMs, transferAskedMs: 0, reason: '' };
}

/** Whether a move has ended. */
export function moveEnded(move: Move): boolean {
  return move.phase === 'done' || move.phase === 'rolled-back';
}

/** Decides the move's next state and actions from what the view shows now. */
export function stepMove(move: Move, obs: MoveObservation, settings: MoveSettings): MoveStep {
  if (moveEnded(move)) return { move, actions: [] };
  const entry = obs.partition;
  if (entry === undefined) return end(move, 'rolled-back', `partition ${move.keyspace}/${move.partitionId} no longer exists`);
  const { record } = entry;
  const targetIsReplica = record.replicas.includes(move.target);
  const targetInSync = record.isr.includes(move.target);
  const go = (phase: MovePhase, reason = move.reason): MoveStep => stepMove({ ...move, phase, phaseSinceMs: obs.nowMs, transferAskedMs: 0, reason }, obs, settings);

  switch (move.phase) {
    case 'adding': {
      if (targetIsReplica) return go('catching-up');
      if (obs.cancelled) return end(move, 'rolled-back', 'cancelled before the target was added');
      if (!record.replicas.includes(move.source)) return end(move, 'rolled-back', `${move.source} no longer holds a replica`);
      if (!obs.live.has(move.target)) return end(move, 'rolled-back', `target ${move.target} is not live`);
      return write(move, entry, { ...record, replicas: [...record.replicas, move.target] });
    }
    case 'catching-up': {
      if (!targetIsReplica) return end(move, 'rolled-back', `target ${move.target} was removed from the replicas by someone else`);
      if (obs.cancelled) return go('rolling-back', 'cancelled');
      if (!record.replicas.includes(move.source)) return go('rolling-back', `${move.source} no longer holds a replica`);
      if (targetInSync) return go('transferring');
      if (!obs.live.has(move.target)) return go('rolling-back', `target ${move.target} went down while catching up`);
      if (obs.nowMs - move.phaseSinceMs >= settings.catchUpTimeoutMs) {
        return go('rolling-back', `target ${move.target} did not join the ISR within ${settings.catchUpTimeoutMs} ms`);
      }
      return { move, actions: [] };
    }
    case 'transferring': {
      if (!targetIsReplica) return end(move, 'rolled-back', `target ${move.target} was removed from the replicas by someone else`);
      if (record.leader !== move.source) return go('removing');
      // The source leads. Hand over to the target while it is in sync; otherwise wait for it.
      if (!targetInSync) return go('catching-up');
      if (obs.cancelled) return go('rolling-back', 'cancelled');
      if (!obs.live.has(record.leader)) return { move, actions: [] }; // failover picks a new leader
      if (move.transferAskedMs !== 0 && obs.nowMs - move.transferAskedMs < settings.transferRetryMs) return { move, actions: [] };
      return {
        move: { ...move, transferAskedMs: obs.nowMs },
        actions: [{ kind: 'transfer-leader', from: record.leader, to: move.target, epoch: record.epoch }],
      };
    }
    case 'removing': {
      if (!record.replicas.includes(move.source)) return end(move, 'done', '');
      if (!targetIsReplica) return end(move, 'rolled-back', `target ${move.target} was removed from the replicas by someone else`);
      // Never drop a copy while the target lacks acknowledged entries, nor the leader.
      if (!targetInSync) return go('catching-up');
      if (record.leader === move.source) return go('transferring');
      return write(move, entry, {
        ...record,
        replicas: record.replicas.filter((n) => n !== move.source),
        isr: record.isr.filter((n) => n !== move.source),
      });
    }
    case 'rolling-back': {
      if (!targetIsReplica) return end(move, 'rolled-back', move.reason);
      if (record.leader === move.target) {
        // A failover gave the target the leadership: hand it to another in-sync replica first.
        const to = record.isr.find((n) => n !== move.target && obs.live.has(n));
        if (to === undefined || !obs.live.has(move.target)) return { move, actions: [] };
        if (move.transferAskedMs !== 0 && obs.nowMs - move.transferAskedMs < settings.transferRetryMs) return { move, actions: [] };
        return { move: { ...move, transferAskedMs: obs.nowMs }, actions: [{ kind: 'transfer-leader', from: move.target, to, epoch: record.epoch }] };
      }
      return write(move, entry, {
        ...record,
        replicas: record.replicas.filter((n) => n !== move.target),
        isr: record.isr.filter((n) => n !== move.target),
      });
    }
    case 'done':
    case 'rolled-back':
      return { move, actions: [] };
  }
}

function end(move: Move, phase: 'done' | 'rolled-back', reason: string): MoveStep {
  return { move: { ...move, phase, reason }, actions: [] };
}

function write(move: Move, entry: PartitionEntry, changed: PartitionRecord): MoveStep {
  const record = { ...changed, epoch: entry.record.epoch + 1 };
  assertPartitionRecord(record, `move ${move.keyspace}/${move.partitionId} ${move.source}->${move.target} (${move.phase})`);
  return { move, actions: [{ kind: 'write-record', record, expectedRevision: entry.modRevision }] };
}
