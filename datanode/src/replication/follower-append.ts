/**
 * Follower append: a follower's decision on each replication message from a leader (RFC 0001
 * "Follower path"). Pure: the caller passes the replica's state and the message, and carries
 * out the decision (truncate, append and fsync through the group committer, answer, apply).
 *
 * An `Append` is accepted only if
 *  1. its epoch equals the follower's known epoch and the follower's metadata view names the
 *     sender as that epoch's leader, or it is newer and the view names the sender as the leader
 *     of that newer epoch (the follower then adopts it); an older epoch is refused with
 *     STALE_EPOCH, so a deposed leader cannot append; a newer epoch the view does not yet tie
 *     to the sender is refused as not ready (the leader retries once the views move);
 *  2. the follower's log holds `prevIndex` with `prevEpoch` (Raft's consistency check);
 *     otherwise it answers with its own log end so the leader can advise a truncation
 *     (divergence.ts);
 *  3. a sender of an epoch newer than the follower's `floorEpoch` matches at least up to the
 *     truncation floor, max(applied, acknowledged); otherwise it answers as for rule 2. Rule 2
 *     alone would let a replica whose applied entries lie beyond a new leader's log end (a
 *     failover under semi-sync/async took them back) pass the check at that log end and keep
 *     them; the truncation advice then finds the divergence and the replica is re-seeded.
 * Entries already present with the same epoch are duplicates (a resend after a rewind) and
 * are skipped; the first entry whose epoch differs from the follower's entry at that index
 * truncates the follower's log there (Raft's rule) — or, at or below the floor, asks for a
 * re-seed; entries past the message are left alone.
 *
 * Critical invariants:
 *  - Invariant 2 of the RFC: an append from an epoch older than the known epoch is never
 *    accepted.
 *  - Invariant 6: no decision truncates the entry at the truncation floor or below — the
 *    larger of the applied index and the acknowledged index the follower learned (entries up to
 *    the latter may be applied in any later transaction). Under `sync` a leader never asks for
 *    that. Under `semi-sync` and `async` it can: a failover may take back entries this replica
 *    already applied (the old leader acknowledged them with fewer copies, and the new leader
 *    never had them). Then the decision is 'reseed' and changes nothing: the replica answers
 *    NeedsSnapshot, the leader switches it to snapshot mode, and a snapshot of the leader
 *    replaces data, log, epoch history and dedup table wholesale (PartitionReplica's install).
 *    PartitionReplica.truncateLogAfter asserts the same floor, so a decision that got this
 *    wrong stops the process instead of leaving data the log no longer justifies.
 *  - Invariant 3 on the follower: `applyUpToIndex` never exceeds the message's acknowledged
 *    index, nor the last index this message proved to match the leader's log, which is in the
 *    follower's log once this decision's append is durable; it never goes below the applied
 *    index.
 *  - A malformed message (indexes not consecutive, epochs decreasing or above the message
 *    epoch) is a bug in the leader and fails an assertion: the adapter decodes and range-checks
 *    wire messages before they get here.
 */
import { assert, StaleEpochError } from '@quire/common';
import { truncationIndex, type LogEnd } from './divergence.js';

/** The identity of one entry in a replication message; entries carry their payload alongside. */
export interface EntryRef {
  readonly index: number;
  readonly epoch: number;
}

/** A replication `Append` message, as the follower sees it. */
export interface AppendMessage<E extends EntryRef = EntryRef> {
  readonly partitionId: number;
  /** The sender's epoch for the partition. */
  readonly epoch: number;
  readonly senderNodeId: string;
  /** The index just before the first entry (0 = the empty prefix). */
  readonly prevIndex: number;
  /** The epoch of the leader's entry at prevIndex (0 for index 0). */
  readonly prevEpoch: number;
  /** Consecutive entries from prevIndex + 1; empty for a heartbeat or a probe. */
  readonly entries: readonly E[];
  /** The leader's acknowledged index. */
  readonly acknowledgedIndex: number;
}

/** A truncation advice message from the leader after a mismatch. */
export interface TruncateMessage {
  readonly partitionId: number;
  readonly epoch: number;
  readonly senderNodeId: string;
  /** From adviseTruncation: keep entries ≤ index of epochs ≤ epoch. */
  readonly advice: { readonly epoch: number; readonly index: number };
}

/** What the follower knows about its replica of the partition. */
export interface FollowerState {
  /** The newest epoch it knows: the larger of its view's and of the last accepted message's. */
  readonly knownEpoch: number;
  /** Its metadata view's leader for `epoch`, or undefined if the view does not tie one to it. */
  leaderOf(epoch: number): string | undefined;
  /** The last entry in its log, appended (accepted) though perhaps not yet durable. */
  readonly logEnd: LogEnd;
  /** The epoch of its entry at `index`, or undefined when its log does not hold it. */
  epochAt(index: number): number | undefined;
  /** Its end of `epoch` (EpochHistory.endOfEpoch bound to its log end). */
  endOfEpoch(epoch: number): number | undefined;
  /** The highest index reflected in its data. */
  readonly appliedIndex: number;
  /**
   * The highest index it knows to be acknowledged (≥ appliedIndex): a leader said so for
   * entries it holds. Entries up to here are applied in some later transaction, so they are
   * never truncated in place either.
   */
  readonly acknowledgedIndex: number;
  /**
   * An epoch whose leader's log is known to hold every entry of this replica up to its
   * truncation floor (the last epoch it accepted an Append from, the epoch it led, or on open
   * the epoch of its last log entry — Log Matching makes that leader's log hold the whole log).
   * A leader of a newer epoch has to prove it holds them too before they are taken as matched.
   */
  readonly floorEpoch: number;
}

/**
 * The leader's log diverges from this replica at or below its truncation floor: the replica
 * must be re-seeded from a snapshot of the sender instead (RFC invariant 6). Nothing changed.
 */
export interface ReseedDecision {
  readonly kind: 'reseed';
  /** The epoch of the message (its sender leads it: the check passed). */
  readonly epoch: number;
  /** The index the leader's log would have the replica keep (entries above it diverge). */
  readonly keepIndex: number | undefined;
  /** max(applied, acknowledged) index: nothing at or below it may be truncated in place. */
  readonly floorIndex: number;
  /** The replica's log end, for the answer. */
  readonly logEnd: LogEnd;
}

/** A refusal of a message, with what the follower answers. */
export type Refusal =
  /** The message's epoch is older than the follower's, or its sender does not lead that epoch. */
  | { readonly kind: 'stale-epoch'; readonly error: StaleEpochError }
  /** A newer epoch the follower's view does not yet tie to the sender: retry after the view moves. */
  | { readonly kind: 'not-ready'; readonly knownEpoch: number; readonly leaderHint: string | undefined };

/** The follower's decision on an Append. */
export type AppendDecision<E extends EntryRef = EntryRef> =
  | {
      readonly kind: 'accept';
      /** The epoch to record as known (the message's). */
      readonly epoch: number;
      /** When defined, first delete the log entries above this index (a conflicting suffix). */
      readonly truncateAfterIndex: number | undefined;
      /** The entries to append, in order (the message's, minus the duplicates). */
      readonly entries: readonly E[];
      /**
       * The index to acknowledge to the leader once the append is durable: the last index this
       * message proved to match the leader's log.
       */
      readonly acknowledgeIndex: number;
      /** Apply entries up to this index, in the append's transaction or a later one. */
      readonly applyUpToIndex: number;
    }
  | Refusal
  /** The prev check failed: answer with this log end so the leader can advise a truncation. */
  | { readonly kind: 'mismatch'; readonly logEnd: LogEnd }
  | ReseedDecision;

/** The follower's decision on a Truncate. */
export type TruncateDecision =
  | {
      readonly kind: 'truncate';
      /** The epoch to record as known (the message's). */
      readonly epoch: number;
      /** When defined, delete the log entries above this index. */
      readonly truncateAfterIndex: number | undefined;
      /** The follower's log end after the truncation, to report to the leader. */
      readonly logEnd: LogEnd;
    }
  | Refusal
  | ReseedDecision;

/**
 * Returns whether the follower may take a message of `epoch` from `senderNodeId` (rule 1 of
 * the header), or the refusal to answer.
 */
export function checkSender(state: FollowerState, partitionId: number, epoch: number, senderNodeId: string): Refusal | undefined {
  assert(Number.isSafeInteger(epoch) && epoch >= 1, `Message epoch ${epoch} is not a positive integer`);
  const known = state.knownEpoch;
  if (epoch < known) {
    return {
      kind: 'stale-epoch',
      error: new StaleEpochError(`Epoch ${epoch} of ${senderNodeId} is older than epoch ${known} of partition ${partitionId}`, {
        partitionId,
        epoch: known,
        ...leaderHint(state.leaderOf(known)),
      }),
    };
  }
  const leader = state.leaderOf(epoch);
  if (leader === senderNodeId) return undefined;
  if (epoch === known && leader !== undefined) {
    // Two nodes claiming one epoch: the sender's view is wrong (epochs have one leader each).
    return {
      kind: 'stale-epoch',
      error: new StaleEpochError(`Epoch ${epoch} of partition ${partitionId} is led by ${leader}, not ${senderNodeId}`, {
        partitionId,
        epoch: known,
        leaderHint: leader,
      }),
    };
  }
  return { kind: 'not-ready', knownEpoch: known, leaderHint: state.leaderOf(known) };
}

/** Decides what a follower in `state` does with `message`. */
export function decideAppend<E extends EntryRef>(state: FollowerState, message: AppendMessage<E>): AppendDecision<E> {
  checkState(state);
  checkAppend(message);
  const refusal = checkSender(state, message.partitionId, message.epoch, message.senderNodeId);
  if (refusal !== undefined) return refusal;

  const { prevIndex, prevEpoch, entries } = message;
  const logEnd = state.logEnd;
  const held = prevIndex === 0 ? 0 : prevIndex <= logEnd.index ? state.epochAt(prevIndex) : undefined;
  if (held !== prevEpoch) return { kind: 'mismatch', logEnd };

  // Skip the entries the log already holds with the same epoch; the first one that differs
  // marks a conflicting suffix to drop.
  let first = 0;
  let truncateAfterIndex: number | undefined;
  for (; first < entries.length; first++) {
    const entry = entries[first] as E;
    if (entry.index > logEnd.index) break;
    const existing = state.epochAt(entry.index);
    assert(existing !== undefined, `Log ending at ${logEnd.index} has no entry ${entry.index} above the matched index ${prevIndex}`);
    if (existing !== entry.epoch) {
      truncateAfterIndex = entry.index - 1;
      const floorIndex = truncationFloor(state);
      if (truncateAfterIndex < floorIndex) return { kind: 'reseed', epoch: message.epoch, keepIndex: truncateAfterIndex, floorIndex, logEnd };
      break;
    }
  }
  const matchedIndex = prevIndex + entries.length;
  // A newer epoch's leader matched less than this replica holds applied or acknowledged, and
  // nothing proves its log holds the rest (under semi-sync/async a failover may have taken it
  // back): answer as a mismatch, so the leader's truncation advice settles it — a truncation
  // above the floor, or a re-seed. Under sync the first probe of a tenure already covers the floor.
  if (message.epoch > state.floorEpoch && matchedIndex < truncationFloor(state)) return { kind: 'mismatch', logEnd };
  const applyUpToIndex = Math.max(state.appliedIndex, Math.min(message.acknowledgedIndex, matchedIndex));
  return {
    kind: 'accept',
    epoch: message.epoch,
    truncateAfterIndex,
    entries: first === 0 ? entries : entries.slice(first),
    acknowledgeIndex: matchedIndex,
    applyUpToIndex,
  };
}

/** Decides what a follower in `state` does with the leader's truncation advice. */
export function decideTruncation(state: FollowerState, message: TruncateMessage): TruncateDecision {
  checkState(state);
  const refusal = checkSender(state, message.partitionId, message.epoch, message.senderNodeId);
  if (refusal !== undefined) return refusal;
  assert(message.advice.epoch <= message.epoch, `Advice epoch ${message.advice.epoch} is newer than the message epoch ${message.epoch}`);
  const index = truncationIndex(message.advice, (epoch) => state.endOfEpoch(epoch), state.logEnd);
  const floorIndex = truncationFloor(state);
  // Undefined: the agreement lies below this log's start, hence below the applied index.
  if (index === undefined || index < floorIndex) return { kind: 'reseed', epoch: message.epoch, keepIndex: index, floorIndex, logEnd: state.logEnd };
  if (index >= state.logEnd.index) return { kind: 'truncate', epoch: message.epoch, truncateAfterIndex: undefined, logEnd: state.logEnd };
  const epoch = state.epochAt(index);
  assert(epoch !== undefined, `Log ending at ${state.logEnd.index} has no entry ${index}`);
  return { kind: 'truncate', epoch: message.epoch, truncateAfterIndex: index, logEnd: { epoch, index } };
}

function checkAppend(message: AppendMessage<EntryRef>): void {
  const { epoch, prevIndex, prevEpoch, entries, acknowledgedIndex } = message;
  assert(Number.isSafeInteger(prevIndex) && prevIndex >= 0, `prevIndex ${prevIndex} is not a non-negative integer`);
  assert(Number.isSafeInteger(prevEpoch) && prevEpoch >= 0 && prevEpoch <= epoch, `prevEpoch ${prevEpoch} is not within [0, ${epoch}]`);
  assert((prevIndex === 0) === (prevEpoch === 0), `prev (${prevEpoch}, ${prevIndex}): only index 0 has epoch 0`);
  assert(Number.isSafeInteger(acknowledgedIndex) && acknowledgedIndex >= 0, `acknowledgedIndex ${acknowledgedIndex} is not a non-negative integer`);
  let index = prevIndex;
  let entryEpoch = Math.max(prevEpoch, 1);
  for (const entry of entries) {
    assert(entry.index === index + 1, `Entry index ${entry.index} does not follow ${index}`);
    assert(Number.isSafeInteger(entry.epoch) && entry.epoch >= entryEpoch && entry.epoch <= epoch, `Entry ${entry.index} has epoch ${entry.epoch}, not within [${entryEpoch}, ${epoch}]`);
    index = entry.index;
    entryEpoch = entry.epoch;
  }
}

/** The index at or below which nothing may be truncated in place: max(applied, acknowledged). */
export function truncationFloor(state: Pick<FollowerState, 'appliedIndex' | 'acknowledgedIndex'>): number {
  return Math.max(state.appliedIndex, state.acknowledgedIndex);
}

function checkState(state: FollowerState): void {
  const { logEnd, appliedIndex, acknowledgedIndex, knownEpoch } = state;
  assert(Number.isSafeInteger(knownEpoch) && knownEpoch >= 0, `Known epoch ${knownEpoch} is not a non-negative integer`);
  assert(Number.isSafeInteger(logEnd.index) && logEnd.index >= 0, `Log end index ${logEnd.index} is not a non-negative integer`);
  assert(Number.isSafeInteger(logEnd.epoch) && logEnd.epoch >= 0 && logEnd.epoch <= knownEpoch, `Log end epoch ${logEnd.epoch} is newer than the known epoch ${knownEpoch}`);
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0 && appliedIndex <= logEnd.index, `Applied index ${appliedIndex} is above the log end ${logEnd.index}`);
  assert(
    Number.isSafeInteger(acknowledgedIndex) && acknowledgedIndex >= appliedIndex && acknowledgedIndex <= logEnd.index,
    `Acknowledged index ${acknowledgedIndex} is not within [applied ${appliedIndex}, log end ${logEnd.index}]`,
  );
  assert(Number.isSafeInteger(state.floorEpoch) && state.floorEpoch >= 0 && state.floorEpoch <= knownEpoch, `Floor epoch ${state.floorEpoch} is not within [0, ${knownEpoch}]`);
}

function leaderHint(leader: string | undefined): { leaderHint?: string } {
  return leader === undefined ? {} : { leaderHint: leader };
}
