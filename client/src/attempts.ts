/**
 * What the client does after an attempt of a get, put or delete failed without an answer from
 * a router, and what it answers after a write was ambiguous. Pure decisions; client.ts does the
 * sending and waiting.
 *
 * Invariants:
 *  - An attempt is sent again (to another router when one is READY) only when sending it again
 *    cannot apply a write twice: it was never sent (UNAVAILABLE), it was a read, or it is a
 *    write carrying a request id (AMBIGUOUS_RESULT: the data nodes answer a resend of an applied
 *    write with its first result instead of applying it again). A write without a request id is
 *    never sent again after it may have left.
 *  - Attempts are bounded by count (attemptsMax) and by the operation's deadline.
 *  - Once an attempt of a write was ambiguous, only an answer that decides the write settles it
 *    (success, or CONDITION_FAILED from a leader that would have recognised the earlier
 *    attempt's request id: the rule of the router's failover.ts); every other outcome, the
 *    deadline and running out of routers included, is AMBIGUOUS_RESULT.
 */
import type { QuireErrorCode } from '@quire/common';

/** An attempt that failed without a router's answer, and where the operation stands. */
export interface FailedAttempt {
  /** The error the attempt failed with locally (never sent, stream lost, deadline, ...). */
  readonly code: QuireErrorCode;
  readonly write: boolean;
  /** Whether the write carries a request id (reads: irrelevant). */
  readonly hasRequestId: boolean;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
  readonly attemptsMax: number;
  /** Time left before the operation's deadline. */
  readonly remainingMs: number;
}

/** Returns whether to send the operation again after `failure`, or to answer. */
export function resendAfter(failure: FailedAttempt): boolean {
  if (failure.remainingMs <= 0 || failure.attempts >= failure.attemptsMax) return false;
  switch (failure.code) {
    case 'UNAVAILABLE':
      // Never sent, or a read lost with its router: it did not take effect.
      return true;
    case 'AMBIGUOUS_RESULT':
      // A write lost with its router (the deadline has not passed: checked above).
      return failure.write && failure.hasRequestId;
    default:
      // DEADLINE_EXCEEDED, OVERLOADED (this client's own limit), a closed client.
      return false;
  }
}

/**
 * Returns whether an answer (`code`: undefined for success) decides a write whose earlier
 * attempt was ambiguous: success does (the leader answered from its dedup table, or applied the
 * write now, so the earlier attempt can never be applied too), and so does CONDITION_FAILED (the
 * condition was checked by a leader that would have recognised the earlier attempt). Any other
 * error says only that this attempt did not happen.
 */
export function settlesAmbiguousWrite(code: QuireErrorCode | undefined): boolean {
  return code === undefined || code === 'CONDITION_FAILED';
}

/** Attempts per operation for a client with `routerCount` router entries: each router once, and one more. */
export function attemptsMaxFor(routerCount: number): number {
  return routerCount + 1;
}
