/**
 * Linearizability of a register history, key by key (P-compositionality: a history of
 * independent registers is linearizable iff each key's sub-history is, so each key is searched
 * alone, which keeps the exponential search small).
 *
 * Per key: fail operations are dropped (they did not happen), indeterminate reads are dropped
 * (no effect, nothing observed), indeterminate writes and cas may take effect anywhere after
 * their invocation or never. A key whose search exceeds `stepsMax` steps is unknown, never
 * linearizable. For a violating key the evidence is the longest linearizable prefix, the
 * operation that could not follow it, and a shrunk window of operations that is still not
 * linearizable.
 *
 * Deterministic: keys are checked in order of first appearance; no clock, no randomness.
 */
import type { History, HistoryKey } from '../history-event.js';
import { countOutcomes, examplesMaxDefault, validityOf, type OperationFigures, type Validity } from '../check-result.js';
import { viewOf, type OperationView } from '../operation-view.js';
import { registerOperations, type RegisterCall, type RegisterOperation, type RegisterValue } from './register-operations.js';
import { registerModel } from './register-model.js';
import type { TimedCall } from './sequential-model.js';
import { searchLinearization } from './wgl-search.js';
import { shrinkViolation } from './shrink-violation.js';

/** Default search budget per key, in steps (one step = one entry visited). */
export const registerStepsMaxDefault = 1_000_000;

/** Options of checkRegister. */
export interface RegisterCheckOptions {
  /** Search steps allowed per key before the key is unknown; shrinking a violation gets as many again. */
  readonly stepsMax?: number;
  /** Violating and unknown keys listed in the evidence (the figures count them all). */
  readonly examplesMax?: number;
}

/** A key that is not linearizable, with the evidence. */
export interface RegisterKeyViolation {
  readonly key: HistoryKey;
  /** Operations searched for this key (after dropping fail operations and indeterminate reads). */
  readonly operations: number;
  /** The longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly OperationView[];
  /** The register's value after the prefix (null: absent). */
  readonly stateAfterPrefix: RegisterValue;
  /** The operation that could not be linearized after the prefix before it returned. */
  readonly blocking: OperationView;
  /** A sub-history of this key that is still not linearizable, in invocation order. */
  readonly window: readonly OperationView[];
  /** True when removing any one operation makes the window linearizable or leaves a value read without its write. */
  readonly windowMinimal: boolean;
}

/** A key the search could not decide within its budget. */
export interface RegisterKeyUnknown {
  readonly key: HistoryKey;
  readonly operations: number;
  readonly stepsMax: number;
}

/** Figures of a register check. */
export interface RegisterFigures extends OperationFigures {
  readonly keys: number;
  readonly keysLinearizable: number;
  /** Search steps taken over all keys, shrinking excluded. */
  readonly steps: number;
}

/** The result of checkRegister. `violations` counts non-linearizable keys, `unknowns` undecided keys. */
export interface RegisterResult {
  readonly model: 'register';
  readonly valid: Validity;
  readonly figures: RegisterFigures;
  readonly evidence: {
    readonly violations: readonly RegisterKeyViolation[];
    readonly unknownKeys: readonly RegisterKeyUnknown[];
  };
}

/** Checks a register history for linearizability, key by key. */
export function checkRegister(history: History, options: RegisterCheckOptions = {}): RegisterResult {
  const stepsMax = options.stepsMax ?? registerStepsMaxDefault;
  const examplesMax = options.examplesMax ?? examplesMaxDefault;
  const byKey = new Map<string, RegisterOperation[]>();
  for (const op of registerOperations(history)) {
    const list = byKey.get(op.keyId);
    if (list === undefined) byKey.set(op.keyId, [op]);
    else list.push(op);
  }
  const violations: RegisterKeyViolation[] = [];
  const unknownKeys: RegisterKeyUnknown[] = [];
  let violating = 0;
  let unknown = 0;
  let steps = 0;
  for (const all of byKey.values()) {
    const key = (all[0] as RegisterOperation).key;
    const ops = all.filter((op) => op.operation.outcome === 'ok' || (op.operation.outcome === 'info' && op.call.f !== 'read'));
    const calls: TimedCall<RegisterCall>[] = ops.map((op) => ({ call: op.call, callTimeNs: op.operation.invokeTimeNs, returnTimeNs: op.operation.completeTimeNs }));
    const outcome = searchLinearization(registerModel, calls, stepsMax);
    steps += outcome.steps;
    if (outcome.kind === 'unknown') {
      unknown++;
      if (unknownKeys.length < examplesMax) unknownKeys.push({ key, operations: ops.length, stepsMax });
      continue;
    }
    if (outcome.kind === 'linearizable') continue;
    violating++;
    if (violations.length >= examplesMax) continue;
    const view = (i: number): OperationView => viewOf((ops[i] as RegisterOperation).operation);
    const shrunk = shrinkViolation(registerModel, calls, outcome.blocking, stepsMax, writersKept(ops.map((op) => op.call)));
    violations.push({
      key,
      operations: ops.length,
      prefix: outcome.prefix.map(view),
      stateAfterPrefix: outcome.stateAfterPrefix,
      blocking: view(outcome.blocking),
      window: shrunk.kept.map(view),
      windowMinimal: shrunk.minimal,
    });
  }
  return {
    model: 'register',
    valid: validityOf(violating, unknown),
    figures: { ...countOutcomes(history.operations), violations: violating, unknowns: unknown, keys: byKey.size, keysLinearizable: byKey.size - violating - unknown, steps },
    evidence: { violations, unknownKeys },
  };
}

/**
 * The shrink constraint: every value an ok read or cas observed in a window is written in the
 * window too, unless no operation of the key wrote it at all (then the read alone is the
 * violation).
 */
function writersKept(all: readonly RegisterCall[]): (window: readonly RegisterCall[]) => boolean {
  const writtenAnywhere = new Set<string>();
  for (const call of all) if (call.f !== 'read') writtenAnywhere.add(call.value);
  return (window) => {
    const written = new Set<string>();
    for (const call of window) if (call.f !== 'read') written.add(call.value);
    return window.every((call) => {
      const observed = call.f === 'read' ? call.value : call.f === 'cas' ? call.expected : null;
      return observed === null || written.has(observed) || !writtenAnywhere.has(observed);
    });
  };
}
