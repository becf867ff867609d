/**
 * The register's sequential specification. State: the value, or null when absent (the
 * initial state). A read observes the state; a write sets it; an ok cas swapped, so the state
 * was `expected`. Fail operations never reach the model (they did not happen) and neither do
 * indeterminate reads (they have no effect and observed nothing).
 *
 * An indeterminate cas either took effect at its linearization point (swapping only if the
 * state was `expected` there) or never did; "never" is linearizing it last, where it no
 * longer matters, so its step is always possible.
 */
import type { RegisterCall, RegisterValue } from './register-operations.js';
import { impossible, type SequentialModel } from './sequential-model.js';

/** The register model for the linearizability search. */
export const registerModel: SequentialModel<RegisterValue, RegisterCall> = {
  initial: null,
  step(state, call, observed) {
    switch (call.f) {
      case 'read':
        return !observed || call.value === state ? state : impossible;
      case 'write':
        return call.value;
      case 'cas':
        if (state === call.expected) return call.value;
        return observed ? impossible : state;
    }
  },
  // The prefix keeps null apart from every string.
  stateKey: (state) => (state === null ? 'n' : `s${state}`),
};
