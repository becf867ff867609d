/**
 * A JSON-friendly view of an operation for evidence, and its one-line rendering. Evidence
 * refers to events by their history `index` and `line` so a reader can find them in the file.
 */
import type { JsonValue, Operation, OperationOutcome } from './history-event.js';
import { formatKey } from './history-event.js';

/** An operation as evidence shows it. */
export interface OperationView {
  /** `index` of the invocation event. */
  readonly index: number;
  /** Line of the invocation event. */
  readonly line: number;
  readonly process: number;
  readonly f: string;
  readonly key: string | number | null;
  readonly outcome: OperationOutcome;
  /** The invocation's value. */
  readonly argument: JsonValue;
  /** The completion's value; null when there is no completion. */
  readonly result: JsonValue;
  readonly invokeTimeNs: number;
  /** Null for an indeterminate operation (its return is at +infinity). */
  readonly completeTimeNs: number | null;
}

/** The evidence view of an operation. */
export function viewOf(operation: Operation): OperationView {
  return {
    index: operation.invoke.index,
    line: operation.invoke.line,
    process: operation.process,
    f: operation.f,
    key: operation.key,
    outcome: operation.outcome,
    argument: operation.invoke.value,
    result: operation.completion?.value ?? null,
    invokeTimeNs: operation.invokeTimeNs,
    completeTimeNs: operation.completeTimeNs,
  };
}

/** Longest rendering of one value in a line of evidence; the history file has the whole value. */
export const renderedValueCharsMax = 200;

/** Renders a value as JSON, abbreviated past renderedValueCharsMax (a set read can hold 10^5 elements). */
export function renderValue(value: JsonValue): string {
  const text = JSON.stringify(value);
  if (text.length <= renderedValueCharsMax) return text;
  const size = Array.isArray(value) ? `${value.length} elements` : `${text.length} characters`;
  return `${text.slice(0, renderedValueCharsMax)}… (${size}; see the history line)`;
}

/**
 * One line per operation, e.g. `#12 p3 write "x" "b" -> ok  [1000..1800 ns] (line 13)`.
 * Info operations show their return as `inf`, because that is how the checkers treat it.
 */
export function describeOperation(view: OperationView): string {
  const key = view.key === null ? '' : ` ${formatKey(view.key)}`;
  const argument = view.argument === null ? '' : ` ${renderValue(view.argument)}`;
  const result = view.outcome === 'ok' && view.result !== null && JSON.stringify(view.result) !== JSON.stringify(view.argument) ? ` ${renderValue(view.result)}` : '';
  const completeTime = view.completeTimeNs === null ? 'inf' : String(view.completeTimeNs);
  return `#${view.index} p${view.process} ${view.f}${key}${argument} -> ${view.outcome}${result}  [${view.invokeTimeNs}..${completeTime} ns] (line ${view.line})`;
}
