/**
 * Shrinks a non-linearizable set of calls to a small window that is still non-linearizable,
 * so a person can see the violation in a handful of operations.
 *
 * Method: first cut every call invoked after the blocking call returned (they often do not
 * matter), then delete chunks of calls, halving the chunk size down to single calls, keeping
 * each deletion that leaves the window non-linearizable and self-contained, and repeat single
 * deletions until a whole pass deletes nothing. The result is then 1-minimal: removing any
 * single call makes it linearizable or leaves an observed value without its writer.
 *
 * Invariants: every window returned is proven non-linearizable (a search returned
 * 'violation' for exactly those calls); all searches together take at most `stepsMax` steps,
 * and running out only makes the window less small (`minimal: false`), never wrong.
 */
import { assert } from '../assert.js';
import type { SequentialModel, TimedCall } from './sequential-model.js';
import { searchLinearization, type SearchOutcome } from './wgl-search.js';

/** A shrunk window: positions in the original `calls`, ascending. */
export interface ShrinkOutcome {
  readonly kept: readonly number[];
  /** True when no single call can be removed (every removal was tried within the budget). */
  readonly minimal: boolean;
  readonly steps: number;
}

/**
 * Says whether a window explains itself. Removing the write a read observed leaves a read of a
 * value nobody wrote: still a violation, but one that hides the real cause, so the register
 * asks that every value observed in the window was written in it.
 */
export type SelfContained<Call> = (calls: readonly Call[]) => boolean;

/** Shrinks the calls of a violation (`blocking` is the search's blocking call). */
export function shrinkViolation<State, Call>(
  model: SequentialModel<State, Call>,
  calls: readonly TimedCall<Call>[],
  blocking: number,
  stepsMax: number,
  selfContained: SelfContained<Call> = () => true,
): ShrinkOutcome {
  let steps = 0;
  const violates = (candidate: readonly number[]): boolean | 'budget' => {
    if (!selfContained(candidate.map((i) => (calls[i] as TimedCall<Call>).call))) return false;
    const budget = stepsMax - steps;
    if (budget <= 0) return 'budget';
    const outcome: SearchOutcome<State> = searchLinearization(
      model,
      candidate.map((i) => calls[i] as TimedCall<Call>),
      budget,
    );
    steps += outcome.steps;
    if (outcome.kind === 'unknown') return 'budget';
    return outcome.kind === 'violation';
  };

  let kept = calls.map((_, i) => i);
  const blockingReturnNs = calls[blocking]?.returnTimeNs;
  assert(blockingReturnNs !== undefined && blockingReturnNs !== null, 'The blocking call of a violation has a return');
  const cut = kept.filter((i) => (calls[i]?.callTimeNs ?? 0) <= blockingReturnNs);
  if (cut.length < kept.length) {
    const verdict = violates(cut);
    if (verdict === 'budget') return { kept, minimal: false, steps };
    if (verdict) kept = cut;
  }
  // Delta debugging: remove chunks of half the window, then quarters, ... then single calls.
  // A violation usually needs a few calls, and a search over a smaller window is much cheaper,
  // so removing big chunks first keeps the total cost near that of a few full searches.
  // Chunks are taken from the end backwards so that a removal never shifts the next chunk.
  for (let chunk = Math.ceil(kept.length / 2); chunk >= 1; ) {
    let removed = false;
    for (let end = kept.length; end > 0; end -= chunk) {
      const start = Math.max(0, end - chunk);
      if (end - start === kept.length) continue;
      const candidate = [...kept.slice(0, start), ...kept.slice(end)];
      const verdict = violates(candidate);
      if (verdict === 'budget') return { kept, minimal: false, steps };
      if (verdict) {
        kept = candidate;
        removed = true;
      }
    }
    // Single calls are retried until a whole pass removes nothing: that is 1-minimality.
    if (chunk === 1 && !removed) return { kept, minimal: true, steps };
    if (chunk > 1) chunk = Math.ceil(chunk / 2);
  }
  return { kept, minimal: true, steps };
}
