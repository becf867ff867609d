/**
 * The sequential specification a linearizability search runs against (Porcupine's `Model`):
 * an initial state and a step function that says whether a call, with the output it observed,
 * is possible from a state and what state follows.
 *
 * Contract: a call whose output was not observed (an indeterminate, info operation) is always
 * possible; the search relies on this to place such calls at the end, after every other call,
 * which is how "it never took effect" is expressed.
 */

/** Returned by step() when the call's observed output cannot happen from the state. */
export const impossible: unique symbol = Symbol('impossible');

/** A sequential model over immutable states. */
export interface SequentialModel<State, Call> {
  readonly initial: State;
  /** The state after `call`, or `impossible`. `observed` is false for indeterminate calls. */
  step(state: State, call: Call, observed: boolean): State | typeof impossible;
  /** A string equal for equal states and different otherwise (the memoization key). */
  stateKey(state: State): string;
}

/** A call with its real-time window. */
export interface TimedCall<Call> {
  readonly call: Call;
  readonly callTimeNs: number;
  /** Null for an indeterminate call: its return is at +infinity. */
  readonly returnTimeNs: number | null;
}
