/**
 * How a workload client turns an error into a history completion. Quire's error classes say
 * whether an operation happened: AMBIGUOUS_RESULT means it may or may not have been applied
 * (`info`); every other typed error means it was definitely not applied (`fail`). Anything
 * untyped is treated as indeterminate, never as a failure. A read changes nothing, so any
 * failed read is `fail`.
 */
import { isQuireError } from '@quire/common';

/** The completion type for an error of a write (`info` unless provably not applied). */
export function writeErrorType(err: unknown): 'fail' | 'info' {
  if (!isQuireError(err)) return 'info';
  return err.code === 'AMBIGUOUS_RESULT' ? 'info' : 'fail';
}

/** A short label for an error, for the report's failure counts. */
export function errorLabel(err: unknown): string {
  if (isQuireError(err)) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}
