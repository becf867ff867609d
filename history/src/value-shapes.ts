/**
 * Shape checks shared by the model decoders. Each decoder turns an operation's raw JSON
 * `value` into a typed call and throws InvalidHistoryError (line and field) on a mismatch, so a
 * checker only ever sees well-formed calls.
 */
import type { HistoryEvent, JsonValue, Operation } from './history-event.js';
import { fieldError, show } from './invalid-history-error.js';

/** True for a JSON integer the checkers can compare exactly. */
export function isInteger(value: JsonValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** Structural equality of two JSON values (object field order does not matter). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item: JsonValue, i: number) => jsonEqual(item, (b as readonly JsonValue[])[i] ?? null));
  }
  const left = a as { readonly [field: string]: JsonValue };
  const right = b as { readonly [field: string]: JsonValue };
  const fields = Object.keys(left);
  if (fields.length !== Object.keys(right).length) return false;
  return fields.every((field) => field in right && jsonEqual(left[field] ?? null, right[field] ?? null));
}

/**
 * Checks a completion that carries no result of its own (a write's ok, any fail or info): its
 * value is null or repeats the invocation's. A different value means the recorder paired the
 * wrong events, which no checker could judge.
 */
export function expectEchoOrNull(operation: Operation): void {
  const { completion, invoke } = operation;
  if (completion === null || completion.value === null || jsonEqual(completion.value, invoke.value)) return;
  throw fieldError(completion, 'value', `must be null or repeat its invocation's ${show(invoke.value)} (line ${invoke.line}); got ${show(completion.value)}`);
}

/** Throws unless the event's `f` is one of `names`. */
export function expectF<F extends string>(event: HistoryEvent, names: readonly F[], model: string): F {
  if ((names as readonly string[]).includes(event.f)) return event.f as F;
  throw fieldError(event, 'f', `must be ${names.map((n) => `"${n}"`).join(' or ')} for the ${model} model; got ${show(event.f)}`);
}

/** Throws unless an invocation's value is null (reads take no argument). */
export function expectNullArgument(event: HistoryEvent): void {
  if (event.value !== null) throw fieldError(event, 'value', `must be null on a read's invocation; got ${show(event.value)}`);
}

/** Returns `value` as an array of integers, or throws naming `field`. */
export function integerList(event: HistoryEvent, value: JsonValue, field: string): readonly number[] {
  if (!Array.isArray(value)) throw fieldError(event, field, `must be an array of integers; got ${show(value)}`);
  const list = value as readonly JsonValue[];
  list.forEach((item, i) => {
    if (!isInteger(item)) throw fieldError(event, `${field}[${i}]`, `must be an integer; got ${show(item)}`);
  });
  return list as readonly number[];
}
