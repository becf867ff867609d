/**
 * Assertions for programmer errors. A failed assertion means the process is in a state the
 * code does not understand; the only safe move is to crash (the supervisor restarts it) rather
 * than keep serving. Never catch AssertionError. Operating errors (bad input, unreachable
 * peers, full disks) are typed QuireErrors instead.
 */

/** Thrown by assert(); the top-level handler exits the process on it. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Crashes (throws AssertionError) unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch that must be unreachable, e.g. the default of an exhaustive switch. */
export function unreachable(value: never, message = 'Unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
