/**
 * Decodes set operations: `add` (an integer) and `read` (null on invoke; on ok, the array of
 * elements, duplicates kept so the checker can report them). The key is not used.
 */
import type { History, Operation } from '../history-event.js';
import { fieldError, show } from '../invalid-history-error.js';
import { expectEchoOrNull, expectF, expectNullArgument, integerList, isInteger } from '../value-shapes.js';

/** A set call: the element added, or the elements an ok read returned (null otherwise). */
export type SetCall = { readonly f: 'add'; readonly element: number } | { readonly f: 'read'; readonly elements: readonly number[] | null };

/** One operation of the set model. */
export interface SetOperation {
  readonly operation: Operation;
  readonly call: SetCall;
}

const setFunctions = ['add', 'read'] as const;

/** Decodes every operation of a set history; throws InvalidHistoryError on a bad one. */
export function setOperations(history: History): SetOperation[] {
  return history.operations.map((operation) => {
    const { invoke, completion } = operation;
    const f = expectF(invoke, setFunctions, 'set');
    if (f === 'add') {
      if (!isInteger(invoke.value)) throw fieldError(invoke, 'value', `of an add must be an integer; got ${show(invoke.value)}`);
      expectEchoOrNull(operation);
      return { operation, call: { f, element: invoke.value } };
    }
    expectNullArgument(invoke);
    if (completion === null || completion.type !== 'ok') {
      expectEchoOrNull(operation);
      return { operation, call: { f, elements: null } };
    }
    return { operation, call: { f, elements: integerList(completion, completion.value, 'value') } };
  });
}
