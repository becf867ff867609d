/**
 * The history format: JSON lines, one event each, in Jepsen's shape
 * `{index, process, type, f, key, value, time}`, and the operations built by pairing every
 * invocation with its completion.
 *
 * Invariants (established by parseHistory, relied on by every checker):
 * - events are in strictly increasing `index` order and non-decreasing `timeNs` order;
 * - a process has at most one outstanding invocation, and a completion repeats the process, `f`
 *   and `key` of the invocation it completes;
 * - `operations` are in invocation order; an operation whose invocation has no completion, or
 *   completes with `info`, is indeterminate (`outcome: 'info'`, `completeTimeNs: null`): it may
 *   have taken effect at any time after its invocation, or never.
 */

/** Any value JSON can carry. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [field: string]: JsonValue };

/** The four event types: an invocation and its three possible completions. */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** How a completed operation ended: applied, definitely not applied, or indeterminate. */
export type OperationOutcome = 'ok' | 'fail' | 'info';

/** A key as recorded: a string or an integer. */
export type HistoryKey = string | number;

/** One line of a history. */
export interface HistoryEvent {
  /** Position in the history; strictly increasing. */
  readonly index: number;
  /** The logical client that issued the operation. */
  readonly process: number;
  readonly type: EventType;
  /** The operation's function, e.g. `read`, `write`, `cas`, `add`, `transfer`, `txn`. */
  readonly f: string;
  /** The key, or null when the field is absent or null (set, bank and list-append need none). */
  readonly key: HistoryKey | null;
  /** The argument (invoke) or the result (ok); null when absent. */
  readonly value: JsonValue;
  /** Monotonic time of the event in nanoseconds (the `time` field). */
  readonly timeNs: number;
  /** 1-based line number in the history text, for error messages and evidence. */
  readonly line: number;
}

/** An invocation paired with its completion. */
export interface Operation {
  /** Position in History.operations (invocation order). */
  readonly id: number;
  readonly process: number;
  readonly f: string;
  readonly key: HistoryKey | null;
  readonly outcome: OperationOutcome;
  readonly invoke: HistoryEvent;
  /** The completion event; null when the history ends before the operation completed. */
  readonly completion: HistoryEvent | null;
  readonly invokeTimeNs: number;
  /** Completion time; null for indeterminate (info) operations, whose return is at +infinity. */
  readonly completeTimeNs: number | null;
}

/** A parsed history: its events and the operations they form. */
export interface History {
  readonly events: readonly HistoryEvent[];
  readonly operations: readonly Operation[];
}

/** A stable identity for a key: 1 and "1" are different keys. */
export function keyIdOf(key: HistoryKey): string {
  return typeof key === 'number' ? `#${key}` : `"${key}`;
}

/** Renders a key for people and messages: strings quoted, integers bare. */
export function formatKey(key: HistoryKey | null): string {
  return key === null ? 'null' : JSON.stringify(key);
}
