/**
 * What every checker returns: a verdict that is never "pass" when the checker could not
 * decide, the common figures, and model-specific evidence.
 *
 * Invariants: `valid === false` iff `figures.violations > 0`; otherwise `valid === 'unknown'`
 * iff `figures.unknowns > 0`. A violation found next to an undecided part still makes the
 * result false: one proven violation is enough.
 */
import type { Operation } from './history-event.js';

/** A checker's verdict: valid, a violation was found, or it could not decide. */
export type Validity = true | false | 'unknown';

/** Figures every result carries. */
export interface OperationFigures {
  /** Operations in the history (paired invocations). */
  readonly operations: number;
  readonly ok: number;
  readonly fail: number;
  /** Indeterminate operations: info completions and invocations that never completed. */
  readonly info: number;
  /** Violations found (the unit depends on the model: keys, elements, reads, anomalies). */
  readonly violations: number;
  /** Parts the checker could not decide (keys over budget, no final read, ...). */
  readonly unknowns: number;
}

/** The verdict for a count of violations and of undecided parts. */
export function validityOf(violations: number, unknowns: number): Validity {
  if (violations > 0) return false;
  return unknowns > 0 ? 'unknown' : true;
}

/** Counts operations by outcome. */
export function countOutcomes(operations: readonly Operation[]): Pick<OperationFigures, 'operations' | 'ok' | 'fail' | 'info'> {
  let ok = 0;
  let fail = 0;
  let info = 0;
  for (const operation of operations) {
    if (operation.outcome === 'ok') ok++;
    else if (operation.outcome === 'fail') fail++;
    else info++;
  }
  return { operations: operations.length, ok, fail, info };
}

/** Default number of examples a result lists per kind of violation (counts are always complete). */
export const examplesMaxDefault = 10;
