/**
 * A limit on the work of a search, counted in steps rather than wall time so that the same
 * history always gets the same verdict on any machine (core code has no clock). Running out
 * makes the checker answer 'unknown', never "valid".
 */
import { assert } from './assert.js';

/** Counts steps against a maximum. */
export class StepBudget {
  #used = 0;
  readonly stepsMax: number;

  constructor(stepsMax: number) {
    assert(Number.isSafeInteger(stepsMax) && stepsMax > 0, 'stepsMax must be a positive integer');
    this.stepsMax = stepsMax;
  }

  /** Steps taken so far (never more than stepsMax). */
  get used(): number {
    return this.#used;
  }

  /** True once a take() was refused. */
  get exhausted(): boolean {
    return this.#used >= this.stepsMax;
  }

  /** Takes `steps` steps; false (and exhausted) when that would exceed the maximum. */
  take(steps = 1): boolean {
    if (this.#used + steps > this.stepsMax) {
      this.#used = this.stepsMax;
      return false;
    }
    this.#used += steps;
    return true;
  }
}
