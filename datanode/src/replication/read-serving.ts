/**
 * Whether a replica serves a SESSION or STALE read now (RFC 0001, "Follower reads"). Pure: the
 * data node passes the replica's state, the request and the time, and carries out the decision
 * (serve, wait for the acknowledged index to move, or refuse).
 *
 * Rules:
 *  - LINEARIZABLE reads never come here: only a leader holding its lease serves them.
 *  - A leader (serving reads: lease held, the log it took over acknowledged) serves every
 *    SESSION and STALE read, with staleness 0. A session index above its acknowledged index
 *    cannot come from a real answer (acknowledged indexes of the partition's one log survive
 *    every failover, and a new leader serves reads only once it acknowledged what it took
 *    over): INVALID_ARGUMENT (field session.index).
 *  - A follower refuses (REPLICA_BEHIND, the router asks the leader) while it installs a
 *    snapshot, and before it has accepted an Append from the leader of the epoch in its view.
 *  - SESSION on a follower: served once its acknowledged index reaches the session index;
 *    below it, the read waits until waitMsMax after it arrived, then is refused.
 *  - STALE on a follower: needs a counted contact in the current epoch (LeaderContact) and a
 *    place in the ISR (outside it, the follower may lack writes the previous leader
 *    acknowledged); with max_staleness_ms, a contact older than that is refused.
 * Followers serve only what they acknowledged (the replica reads as of its acknowledged
 * index, which moves only to what the leader said is acknowledged), so no read returns a value
 * a failover could take back.
 */
import type { Consistency } from '@quire/common';
import type { LeaderContactState } from './leader-contact.js';

/** The serving replica's state, read in one synchronous step. */
export interface ReadReplicaState {
  readonly role: 'leader' | 'follower';
  readonly installingSnapshot: boolean;
  readonly acknowledgedIndex: number;
  /** The partition's epoch in this node's view. */
  readonly viewEpoch: number;
  /** Whether this node is in the partition's ISR by its view. */
  readonly inIsr: boolean;
  readonly contact: LeaderContactState;
}

/** A SESSION or STALE read. */
export interface ReadAsk {
  readonly consistency: Exclude<Consistency, 'linearizable'>;
  /** SESSION: the session index for the partition (0: none). */
  readonly minIndex: number;
  /** STALE: most ms since the last counted leader contact; 0: no bound. */
  readonly maxStalenessMs: number;
  /** Monotonic ms when the read arrived. */
  readonly arrivedMs: number;
}

/** How stale an answer may be (kv.proto Staleness). */
export interface StalenessReport {
  readonly index: number;
  readonly follower: boolean;
  readonly sinceLeaderContactMs: number;
}

/** Why a replica refused a read. */
export type ReadRefusalReason = 'installing-snapshot' | 'no-leader-contact' | 'not-in-isr' | 'too-stale' | 'behind-session';

/** The decision. */
export type ReadDecision =
  | { readonly kind: 'serve'; readonly staleness: StalenessReport }
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'refuse'; readonly reason: ReadRefusalReason; readonly message: string }
  | { readonly kind: 'invalid'; readonly message: string };

/** Decides a SESSION or STALE read at `nowMs`; `waitMsMax` bounds how long a SESSION read waits. */
export function decideRead(state: ReadReplicaState, ask: ReadAsk, nowMs: number, waitMsMax: number): ReadDecision {
  if (state.role === 'leader') {
    if (ask.consistency === 'session' && ask.minIndex > state.acknowledgedIndex) {
      return {
        kind: 'invalid',
        message: `session.index ${ask.minIndex} is above every index the partition acknowledged (${state.acknowledgedIndex}); it did not come from an answer of this partition`,
      };
    }
    return { kind: 'serve', staleness: { index: state.acknowledgedIndex, follower: false, sinceLeaderContactMs: 0 } };
  }
  if (state.installingSnapshot) return { kind: 'refuse', reason: 'installing-snapshot', message: 'the replica is installing a snapshot' };
  const contact = state.contact;
  if (contact.epoch !== state.viewEpoch) {
    return { kind: 'refuse', reason: 'no-leader-contact', message: `the replica has not heard from the leader of epoch ${state.viewEpoch} (last heard epoch ${contact.epoch})` };
  }
  // Whole milliseconds (a uint64 on the wire), rounded up: the bound must not understate.
  const sinceLeaderContactMs = contact.receivedMs === undefined ? undefined : Math.max(0, Math.ceil(nowMs - contact.receivedMs));
  if (ask.consistency === 'session') {
    if (state.acknowledgedIndex >= ask.minIndex) {
      return { kind: 'serve', staleness: { index: state.acknowledgedIndex, follower: true, sinceLeaderContactMs: sinceLeaderContactMs ?? 0 } };
    }
    const untilMs = ask.arrivedMs + waitMsMax;
    if (nowMs < untilMs) return { kind: 'wait', untilMs };
    return {
      kind: 'refuse',
      reason: 'behind-session',
      message: `the replica's acknowledged index ${state.acknowledgedIndex} is below the session index ${ask.minIndex} after waiting ${waitMsMax} ms`,
    };
  }
  if (!state.inIsr) return { kind: 'refuse', reason: 'not-in-isr', message: 'the replica is not in the ISR' };
  if (sinceLeaderContactMs === undefined) {
    return { kind: 'refuse', reason: 'no-leader-contact', message: `the replica has not caught up with the leader of epoch ${state.viewEpoch} yet` };
  }
  if (ask.maxStalenessMs > 0 && sinceLeaderContactMs > ask.maxStalenessMs) {
    return { kind: 'refuse', reason: 'too-stale', message: `the replica last caught up with its leader ${sinceLeaderContactMs} ms ago, more than max_staleness_ms ${ask.maxStalenessMs}` };
  }
  return { kind: 'serve', staleness: { index: state.acknowledgedIndex, follower: true, sinceLeaderContactMs } };
}
