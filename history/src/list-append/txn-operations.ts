/**
 * Decodes list-append transactions: `f` is `txn` and `value` an array of micro-ops,
 * `["r", key, null]` and `["append", key, integer]` on the invocation; the ok completion
 * repeats them with the reads filled in (a read of a missing key may be null, meaning the
 * empty list). Fail and info completions may carry null or the micro-ops (reads ignored).
 *
 * Invariant: an ok transaction's micro-ops come from its completion and every read has a
 * list; other transactions' micro-ops come from the invocation and their reads are null.
 */
import { type History, type HistoryEvent, type HistoryKey, type JsonValue, type Operation, keyIdOf } from '../history-event.js';
import { fieldError, show } from '../invalid-history-error.js';
import { expectF, integerList, isInteger } from '../value-shapes.js';

/** One micro-op of a transaction. */
export type MicroOp =
  /** `value` is the list read (ok transactions) or null (not observed). */
  | { readonly f: 'r'; readonly key: HistoryKey; readonly keyId: string; readonly value: readonly number[] | null }
  | { readonly f: 'append'; readonly key: HistoryKey; readonly keyId: string; readonly value: number };

/** A list-append transaction. */
export interface Txn {
  readonly operation: Operation;
  /** Position in the transaction list (equals operation.id). */
  readonly id: number;
  /** `T<index of the invocation>`, the name evidence uses. */
  readonly name: string;
  readonly ops: readonly MicroOp[];
}

/** Decodes every transaction of a list-append history; throws InvalidHistoryError on a bad one. */
export function listAppendTxns(history: History): Txn[] {
  return history.operations.map((operation) => {
    const { invoke, completion } = operation;
    expectF(invoke, ['txn'], 'list-append');
    const invoked = microOps(invoke, invoke.value, 'invoke');
    let ops = invoked;
    if (completion !== null && completion.value !== null) {
      const completed = microOps(completion, completion.value, completion.type === 'ok' ? 'ok' : 'other');
      if (completed.length !== invoked.length) {
        throw fieldError(completion, 'value', `has ${completed.length} micro-ops but its invocation (line ${invoke.line}) has ${invoked.length}`);
      }
      completed.forEach((op, i) => {
        const asked = invoked[i];
        if (asked === undefined || asked.f !== op.f || asked.keyId !== op.keyId || (op.f === 'append' && asked.value !== op.value)) {
          throw fieldError(completion, `value[${i}]`, `does not repeat its invocation's micro-op ${show(asked === undefined ? null : [asked.f, asked.key, asked.value])} (line ${invoke.line})`);
        }
      });
      if (operation.outcome === 'ok') ops = completed;
    } else if (operation.outcome === 'ok') {
      throw fieldError(completion ?? invoke, 'value', 'of an ok txn must list its micro-ops with the reads filled in');
    }
    return { operation, id: operation.id, name: `T${invoke.index}`, ops };
  });
}

type Stage = 'invoke' | 'ok' | 'other';

function microOps(event: HistoryEvent, value: JsonValue, stage: Stage): MicroOp[] {
  if (!Array.isArray(value) || value.length === 0) throw fieldError(event, 'value', `of a txn must be a non-empty array of micro-ops; got ${show(value)}`);
  return (value as readonly JsonValue[]).map((item, i) => microOp(event, item, `value[${i}]`, stage));
}

function microOp(event: HistoryEvent, item: JsonValue, field: string, stage: Stage): MicroOp {
  if (!Array.isArray(item) || item.length !== 3) throw fieldError(event, field, `must be ["r", key, list-or-null] or ["append", key, integer]; got ${show(item)}`);
  const [f, key, value] = item as readonly JsonValue[];
  if (typeof key !== 'string' && !isInteger(key)) throw fieldError(event, `${field}[1]`, `(key) must be a string or an integer; got ${show(key)}`);
  const keyId = keyIdOf(key);
  if (f === 'append') {
    if (!isInteger(value)) throw fieldError(event, `${field}[2]`, `(appended value) must be an integer; got ${show(value)}`);
    return { f, key, keyId, value };
  }
  if (f !== 'r') throw fieldError(event, `${field}[0]`, `must be "r" or "append"; got ${show(f)}`);
  if (stage === 'invoke') {
    if (value !== null) throw fieldError(event, `${field}[2]`, `must be null on the invocation (reads are filled in on ok); got ${show(value)}`);
    return { f, key, keyId, value: null };
  }
  // A read of a key nobody appended to may come back as null: it is the empty list.
  const read = value === null || value === undefined ? [] : integerList(event, value, `${field}[2]`);
  return { f, key, keyId, value: stage === 'ok' ? read : null };
}
