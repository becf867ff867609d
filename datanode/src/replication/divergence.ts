/**
 * Divergence: where a follower's log stops agreeing with the leader's (RFC 0001 "Follower
 * path"). After a refused append the follower reports its log end (epoch E, index i); the
 * leader answers with a truncation advice computed from its own epoch history; the follower
 * truncates, the leader resends from there, and the usual prev check confirms the match.
 *
 * Why the advice carries an epoch as well as an index (Kafka KIP-279): the RFC's
 * `min(follower's index, end of E in the leader's log)` is exact only when the leader's log
 * has epoch E. When the follower holds entries of an epoch E the leader never had, those
 * entries all diverge, but the leader cannot know where E started in the follower's log. So
 * the leader advises "keep at most `index`, and only entries of epochs ≤ `epoch`", where
 * `epoch` is the largest epoch of the leader's log that is ≤ E; the follower applies it with
 * its own history (truncationIndex). Each round either ends at the exact agreement point or
 * strictly lowers the follower's last epoch, so rounds are bounded by the number of epochs
 * (agreedIndex plays the rounds).
 *
 * Critical invariants (given Log Matching: two logs holding an entry of the same epoch at the
 * same index agree on every entry up to it, because one leader writes each epoch's entries and
 * every append passes the prev check):
 *  - The advice never asks a follower to drop an entry both logs agree on: its index is ≥ the
 *    longest common prefix. Since under `sync` every applied entry is acknowledged and thus in
 *    every later leader's log, a follower never truncates an applied entry (invariant 6).
 *  - When the leader's log has the follower's last epoch, the advised index is the longest
 *    common prefix itself.
 *  - Entries the leader no longer holds (below its log start) are never claimed to agree: when
 *    the agreement point is below the leader's log start − 1, the advice is a snapshot.
 */
import { assert } from '@quire/common';
import type { EpochHistory } from './epoch-history.js';

/** A log's last entry: its index and epoch ((0, 0) for an empty log starting at 1). */
export interface LogEnd {
  readonly epoch: number;
  readonly index: number;
}

/** What the leader tells a follower whose log failed the prev check. */
export type TruncationAdvice =
  /** Keep only entries at indexes ≤ `index` whose epoch is ≤ `epoch`, then expect entries from there. */
  | { readonly kind: 'truncate'; readonly epoch: number; readonly index: number }
  /** The follower needs entries the leader no longer holds: send a snapshot. */
  | { readonly kind: 'snapshot' };

/**
 * Returns the leader's advice for a follower whose log ends at `follower`, from the leader's
 * epoch history and log end. The follower applies it with truncationIndex.
 *
 * `leaderFirstLogIndex` is the first entry the leader's log still holds, when retention has
 * dropped entries its epoch history still describes (the history keeps the epochs of
 * truncated entries; it is cut only by a snapshot install). Entries below it cannot be sent,
 * so an agreement point below it − 1 also means a snapshot. Omitted: the history's start.
 */
export function adviseTruncation(follower: LogEnd, leader: EpochHistory, leaderLogEndIndex: number, leaderFirstLogIndex = leader.startIndex): TruncationAdvice {
  checkLogEnd(follower, 'Follower');
  assert(Number.isSafeInteger(leaderFirstLogIndex) && leaderFirstLogIndex >= 1, `Leader log start ${leaderFirstLogIndex} is not a positive integer`);
  const floor = leader.floorEpoch(follower.epoch);
  const end = leader.endOfEpoch(follower.epoch, leaderLogEndIndex);
  // The follower's last epoch is older than the first entry the leader still holds: agreement,
  // if any, lies below the leader's log start.
  if (floor === undefined || end === undefined) return { kind: 'snapshot' };
  const index = Math.min(follower.index, end);
  // The follower lacks entries the leader has dropped; it cannot be sent them one by one.
  if (index < Math.max(leader.startIndex, leaderFirstLogIndex) - 1) return { kind: 'snapshot' };
  return { kind: 'truncate', epoch: floor, index };
}

/**
 * Returns the index a follower must truncate its log to (keeping that entry) to follow
 * `advice`, given its log end and its own end-of-epoch lookup (EpochHistory.endOfEpoch bound to
 * its log end). Returns undefined when the answer lies below the follower's own log start.
 */
export function truncationIndex(
  advice: { readonly epoch: number; readonly index: number },
  endOfEpoch: (epoch: number) => number | undefined,
  follower: LogEnd,
): number | undefined {
  checkLogEnd(follower, 'Follower');
  assert(Number.isSafeInteger(advice.index) && advice.index >= 0, `Advised index ${advice.index} is not a non-negative integer`);
  assert(Number.isSafeInteger(advice.epoch) && advice.epoch >= 0, `Advised epoch ${advice.epoch} is not a non-negative integer`);
  const end = endOfEpoch(advice.epoch);
  if (end === undefined) return undefined;
  assert(end <= follower.index, `End of epoch ${advice.epoch} at ${end} is beyond the follower's log end ${follower.index}`);
  return Math.min(advice.index, end);
}

/** The result of playing the truncation rounds to the end. */
export interface Agreement {
  /** The largest index both logs agree on (both hold the same entries up to it). */
  readonly index: number;
  /** Mismatch rounds it took; at most the number of epochs in the follower's log, plus one. */
  readonly rounds: number;
}

/**
 * Plays the follower-path exchange between a leader and a follower whose epoch histories are
 * both known, until the prev check passes, and returns where they agree. Returns 'snapshot'
 * when the leader would have to send one. Used by tests and the simulator as the reference
 * for what the message exchange converges to; the data node itself plays one round per
 * refused append.
 */
export function agreedIndex(leader: EpochHistory, leaderLogEndIndex: number, follower: EpochHistory, followerLogEndIndex: number): Agreement | 'snapshot' {
  const history = follower.clone();
  let followerEnd = followerLogEndIndex;
  // One round per distinct follower epoch at most, plus the final agreeing one.
  const roundsMax = follower.pairs.length + 2;
  for (let rounds = 1; rounds <= roundsMax; rounds++) {
    const followerEpoch = history.epochAt(followerEnd, followerEnd);
    assert(followerEpoch !== undefined, `Follower log end ${followerEnd} is outside its log`);
    const advice = adviseTruncation({ epoch: followerEpoch, index: followerEnd }, leader, leaderLogEndIndex);
    if (advice.kind === 'snapshot') return 'snapshot';
    const end = followerEnd;
    const index = truncationIndex(advice, (epoch) => history.endOfEpoch(epoch, end), { epoch: followerEpoch, index: followerEnd });
    if (index === undefined) return 'snapshot';
    // The leader resends from advice.index + 1 with prev = (advice.index, its epoch there); the
    // follower passes the check only if it holds that very entry.
    if (index === advice.index && history.epochAt(index, followerEnd) === leader.epochAt(index, leaderLogEndIndex)) {
      return { index, rounds };
    }
    history.truncateAfter(index);
    followerEnd = index;
  }
  assert(false, `Divergence did not converge in ${roundsMax} rounds`);
}

function checkLogEnd(end: LogEnd, who: string): void {
  assert(Number.isSafeInteger(end.index) && end.index >= 0, `${who} log end index ${end.index} is not a non-negative integer`);
  assert(Number.isSafeInteger(end.epoch) && end.epoch >= 0, `${who} log end epoch ${end.epoch} is not a non-negative integer`);
  assert((end.index === 0) === (end.epoch === 0), `${who} log end (${end.epoch}, ${end.index}): only the empty log ends at index 0, with epoch 0`);
}
