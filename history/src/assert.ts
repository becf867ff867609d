/**
 * Assertions for programmer errors inside the checkers. history imports nothing from the repo
 * (it is a foundation like common), so it carries its own two-function copy of common/assert.ts.
 * A failed assertion is a checker bug, never a property of the history: it throws and is never
 * caught. Bad input is an InvalidHistoryError instead.
 */

/** Thrown by assert(); a checker bug, never caught. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws AssertionError unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch that must be unreachable, e.g. the default of an exhaustive switch. */
export function unreachable(value: never, message = 'Unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
