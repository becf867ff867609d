/**
 * Whether an operation that failed with a given error code may have taken effect: the one table
 * callers (and the docs: docs/architecture.md "Errors", common/OVERVIEW.md "The error table")
 * read instead of reasoning about each code.
 *
 * Invariants:
 *  - Every code is classified: the table is a Record over QuireErrorCode, so a new code does
 *    not compile until it is placed here (and the docs test fails until the docs say the same).
 *  - 'unknown' belongs to AMBIGUOUS_RESULT alone. Every other code means the operation did not
 *    take effect, which is why whoever sees a failure after a write was sent (a broken stream,
 *    a passed deadline, an unknown status, an answer that does not decode) must report
 *    AMBIGUOUS_RESULT and never one of those codes.
 *  - No error code means "it took effect": an operation that took effect succeeds, or, when its
 *    answer was lost, fails with AMBIGUOUS_RESULT.
 */
import type { QuireErrorCode } from './quire-error.js';

/** What a failure says about the operation: it did not take effect, or it may have. */
export type OperationEffect = 'no' | 'unknown';

/** For each error code, whether the failed operation may have taken effect. */
export const operationEffectByCode: Readonly<Record<QuireErrorCode, OperationEffect>> = {
  INVALID_ARGUMENT: 'no',
  KEY_TOO_LARGE: 'no',
  VALUE_TOO_LARGE: 'no',
  KEYSPACE_NOT_FOUND: 'no',
  ALREADY_EXISTS: 'no',
  NODE_NOT_FOUND: 'no',
  FAILED_PRECONDITION: 'no',
  CONDITION_FAILED: 'no',
  NOT_LEADER: 'no',
  WRONG_PARTITION: 'no',
  STALE_EPOCH: 'no',
  PARTITION_UNAVAILABLE: 'no',
  REPLICA_BEHIND: 'no',
  COORDINATOR_UNAVAILABLE: 'no',
  UNAVAILABLE: 'no',
  OVERLOADED: 'no',
  AMBIGUOUS_RESULT: 'unknown',
  DEADLINE_EXCEEDED: 'no',
  SHUTTING_DOWN: 'no',
  CORRUPT_REPLICA: 'no',
  INTERNAL: 'no',
};

/** Returns whether an operation that failed with `code` may have taken effect. */
export function mayHaveTakenEffect(code: QuireErrorCode): boolean {
  return operationEffectByCode[code] === 'unknown';
}
