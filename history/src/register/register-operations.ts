/**
 * Decodes register operations: `read` (value null on invoke; the value read, or null for
 * absent, on ok), `write` (the string written) and `cas` (`[expected, new]`; expected may be
 * null for "absent"). Every register operation needs a key: the checker partitions by it.
 */
import { type History, type HistoryKey, type Operation, keyIdOf } from '../history-event.js';
import { fieldError, show } from '../invalid-history-error.js';
import { expectEchoOrNull, expectF, expectNullArgument } from '../value-shapes.js';

/** A register's content: a string, or null when the key is absent (the initial state). */
export type RegisterValue = string | null;

/** A register call with the result it observed, where it observed one. */
export type RegisterCall =
  /** `value` is what an ok read returned; null for fail and info reads, which observe nothing. */
  | { readonly f: 'read'; readonly value: RegisterValue }
  | { readonly f: 'write'; readonly value: string }
  /** An ok cas swapped `expected` for `value`; a fail cas definitely did not. */
  | { readonly f: 'cas'; readonly expected: RegisterValue; readonly value: string };

/** One operation of the register model. */
export interface RegisterOperation {
  readonly operation: Operation;
  readonly key: HistoryKey;
  readonly keyId: string;
  readonly call: RegisterCall;
}

const registerFunctions = ['read', 'write', 'cas'] as const;

/** Decodes every operation of a register history; throws InvalidHistoryError on a bad one. */
export function registerOperations(history: History): RegisterOperation[] {
  return history.operations.map((operation) => {
    const { invoke, completion } = operation;
    const f = expectF(invoke, registerFunctions, 'register');
    if (operation.key === null) throw fieldError(invoke, 'key', 'is required for the register model (the checker partitions by key)');
    const base = { operation, key: operation.key, keyId: keyIdOf(operation.key) };
    switch (f) {
      case 'read': {
        expectNullArgument(invoke);
        if (completion === null || completion.type !== 'ok') {
          expectEchoOrNull(operation);
          return { ...base, call: { f, value: null } };
        }
        const read = completion.value;
        if (read !== null && typeof read !== 'string') throw fieldError(completion, 'value', `of an ok read must be the string read or null (absent); got ${show(read)}`);
        return { ...base, call: { f, value: read } };
      }
      case 'write': {
        if (typeof invoke.value !== 'string') throw fieldError(invoke, 'value', `of a write must be the string written; got ${show(invoke.value)}`);
        expectEchoOrNull(operation);
        return { ...base, call: { f, value: invoke.value } };
      }
      case 'cas': {
        const pair = invoke.value;
        if (!Array.isArray(pair) || pair.length !== 2) throw fieldError(invoke, 'value', `of a cas must be [expected, new]; got ${show(pair)}`);
        const [expected, value] = pair as readonly unknown[];
        if (expected !== null && typeof expected !== 'string') throw fieldError(invoke, 'value[0]', `(expected) must be a string or null (absent); got ${show(expected)}`);
        if (typeof value !== 'string') throw fieldError(invoke, 'value[1]', `(new) must be a string; got ${show(value)}`);
        expectEchoOrNull(operation);
        return { ...base, call: { f, expected, value } };
      }
    }
  });
}
