/**
 * The Wing–Gong/Lowe linearizability search with Porcupine's memoization: a depth-first
 * search over a time-ordered list of call and return entries that tries to linearize pending
 * calls one at a time, and backtracks when it reaches the return of a call it has not yet
 * linearized. A configuration (set of linearized calls as a bitset, model state) that was
 * seen before is never explored again, which is what makes the search practical.
 *
 * Invariants:
 * - entries are ordered by time, calls before returns on equal times, so two operations
 *   whose windows touch are treated as concurrent (no false violation from clock ties);
 * - indeterminate calls have no return entry (their return is at +infinity): the search
 *   succeeds as soon as every determinate call is linearized, because the remaining
 *   indeterminate ones can always go last (the SequentialModel contract);
 * - removing and reinserting entries is strictly LIFO (dancing links), so the list is exactly
 *   restored on backtrack;
 * - every loop iteration is one step; after `stepsMax` steps the answer is 'unknown', never
 *   "linearizable". There is no wall-clock limit: the same input always gives the same answer.
 */
import { assert } from '../assert.js';
import { impossible, type SequentialModel, type TimedCall } from './sequential-model.js';

/** How a search ended. Call numbers are positions in the `calls` array. */
export type SearchOutcome<State> =
  | { readonly kind: 'linearizable'; readonly steps: number; /** A valid order of the determinate calls and those placed among them. */ readonly order: readonly number[] }
  | {
      readonly kind: 'violation';
      readonly steps: number;
      /** The longest sequence of calls the search managed to linearize, in order. */
      readonly prefix: readonly number[];
      readonly stateAfterPrefix: State;
      /** The call whose return the search reached, with that prefix, before it could linearize it. */
      readonly blocking: number;
    }
  | { readonly kind: 'unknown'; readonly steps: number };

const none = -1;

/** Searches for a linearization of `calls` against `model` within `stepsMax` steps. */
export function searchLinearization<State, Call>(model: SequentialModel<State, Call>, calls: readonly TimedCall<Call>[], stepsMax: number): SearchOutcome<State> {
  assert(Number.isSafeInteger(stepsMax) && stepsMax > 0, 'stepsMax must be a positive integer');
  const callCount = calls.length;
  const entries: { timeNs: number; isCall: boolean; call: number }[] = [];
  calls.forEach((c, i) => {
    entries.push({ timeNs: c.callTimeNs, isCall: true, call: i });
    if (c.returnTimeNs !== null) {
      assert(c.returnTimeNs >= c.callTimeNs, 'A call returns before it is invoked');
      entries.push({ timeNs: c.returnTimeNs, isCall: false, call: i });
    }
  });
  entries.sort((a, b) => a.timeNs - b.timeNs || Number(b.isCall) - Number(a.isCall) || a.call - b.call);

  const entryCount = entries.length;
  const head = entryCount;
  const next = new Int32Array(entryCount + 1);
  const prev = new Int32Array(entryCount + 1);
  const entryCall = new Int32Array(entryCount);
  const entryIsCall = new Uint8Array(entryCount);
  const callEntry = new Int32Array(callCount);
  const returnEntry = new Int32Array(callCount).fill(none);
  entries.forEach((e, i) => {
    entryCall[i] = e.call;
    entryIsCall[i] = e.isCall ? 1 : 0;
    if (e.isCall) callEntry[e.call] = i;
    else returnEntry[e.call] = i;
    next[i] = i + 1 < entryCount ? i + 1 : none;
    prev[i] = i === 0 ? head : i - 1;
  });
  next[head] = entryCount > 0 ? 0 : none;

  const unlink = (e: number): void => {
    const before = prev[e] ?? none;
    const after = next[e] ?? none;
    next[before] = after;
    if (after !== none) prev[after] = before;
  };
  const relink = (e: number): void => {
    const before = prev[e] ?? none;
    const after = next[e] ?? none;
    next[before] = e;
    if (after !== none) prev[after] = e;
  };
  // Lifting a call takes its return entry out too; relinking restores them in reverse order.
  const lift = (call: number): void => {
    unlink(callEntry[call] ?? none);
    const r = returnEntry[call] ?? none;
    if (r !== none) unlink(r);
  };
  const unlift = (call: number): void => {
    const r = returnEntry[call] ?? none;
    if (r !== none) relink(r);
    relink(callEntry[call] ?? none);
  };

  const bits = new Uint32Array(Math.ceil(callCount / 32));
  const flip = (call: number): void => {
    bits[call >>> 5] = (bits[call >>> 5] ?? 0) ^ (1 << (call & 31));
  };
  const seen = new Set<string>();
  const linearized: number[] = [];
  const statesBefore: State[] = [];
  let state = model.initial;
  let determinateLeft = calls.filter((c) => c.returnTimeNs !== null).length;
  let bestDepth = -1;
  let bestPrefix: readonly number[] = [];
  let bestState = model.initial;
  let bestBlocking = none;
  let steps = 0;
  let entry = next[head] ?? none;

  for (;;) {
    if (determinateLeft === 0) return { kind: 'linearizable', steps, order: [...linearized] };
    // A determinate call is still pending, so its return entry is still in the list ahead.
    assert(entry !== none, 'The search ran off the end of the entry list');
    if (steps >= stepsMax) return { kind: 'unknown', steps };
    steps++;
    const call = entryCall[entry] ?? none;
    const timed = calls[call];
    assert(timed !== undefined, 'Entry refers to no call');
    if (entryIsCall[entry] === 1) {
      const after = model.step(state, timed.call, timed.returnTimeNs !== null);
      if (after !== impossible) {
        flip(call);
        const key = `${bitsKey(bits)}\u0000${model.stateKey(after)}`;
        if (!seen.has(key)) {
          seen.add(key);
          linearized.push(call);
          statesBefore.push(state);
          state = after;
          lift(call);
          if (timed.returnTimeNs !== null) determinateLeft--;
          entry = next[head] ?? none;
          continue;
        }
        flip(call);
      }
      entry = next[entry] ?? none;
      continue;
    }
    // The return of a pending call: everything linearized so far cannot be extended past it.
    if (linearized.length > bestDepth) {
      bestDepth = linearized.length;
      bestPrefix = [...linearized];
      bestState = state;
      bestBlocking = call;
    }
    const undone = linearized.pop();
    if (undone === undefined) return { kind: 'violation', steps, prefix: bestPrefix, stateAfterPrefix: bestState, blocking: bestBlocking };
    state = statesBefore.pop() as State;
    flip(undone);
    unlift(undone);
    if (calls[undone]?.returnTimeNs !== null) determinateLeft++;
    entry = next[callEntry[undone] ?? none] ?? none;
  }
}

/** The bitset as a compact string: two UTF-16 units per 32-bit word. */
function bitsKey(bits: Uint32Array): string {
  let key = '';
  for (const word of bits) key += String.fromCharCode(word & 0xffff, word >>> 16);
  return key;
}
