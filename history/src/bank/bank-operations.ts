/**
 * Decodes bank operations: `transfer` (`{"from", "to", "amount"}`, accounts named by strings or
 * integers, amount a non-negative integer) and `read` (null on invoke; on ok, an object from
 * account to balance). A null balance is kept: the checker reports it rather than the parser
 * rejecting it, because it is something a buggy store can return.
 */
import type { History, JsonValue, Operation } from '../history-event.js';
import { fieldError, show } from '../invalid-history-error.js';
import { expectEchoOrNull, expectF, expectNullArgument, isInteger } from '../value-shapes.js';

/** Balances by account as an ok read returned them. */
export type Balances = ReadonlyMap<string, number | null>;

/** A bank call. */
export type BankCall =
  | { readonly f: 'transfer'; readonly from: string; readonly to: string; readonly amount: number }
  /** `balances` is what an ok read returned; null for fail and info reads. */
  | { readonly f: 'read'; readonly balances: Balances | null };

/** One operation of the bank model. */
export interface BankOperation {
  readonly operation: Operation;
  readonly call: BankCall;
}

const bankFunctions = ['transfer', 'read'] as const;
const transferFields = new Set(['from', 'to', 'amount']);

/** Decodes every operation of a bank history; throws InvalidHistoryError on a bad one. */
export function bankOperations(history: History): BankOperation[] {
  return history.operations.map((operation) => {
    const { invoke, completion } = operation;
    const f = expectF(invoke, bankFunctions, 'bank');
    if (f === 'transfer') {
      const value = invoke.value;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw fieldError(invoke, 'value', `of a transfer must be {"from", "to", "amount"}; got ${show(value)}`);
      }
      const fields = value as { readonly [field: string]: JsonValue };
      for (const field of Object.keys(fields)) {
        if (!transferFields.has(field)) throw fieldError(invoke, `value.${field}`, 'is not a transfer field (from, to, amount)');
      }
      const from = account(fields.from);
      const to = account(fields.to);
      if (from === null) throw fieldError(invoke, 'value.from', `must be an account name (string or integer); got ${show(fields.from)}`);
      if (to === null) throw fieldError(invoke, 'value.to', `must be an account name (string or integer); got ${show(fields.to)}`);
      const amount = fields.amount;
      if (!isInteger(amount) || amount < 0) throw fieldError(invoke, 'value.amount', `must be a non-negative integer; got ${show(amount)}`);
      expectEchoOrNull(operation);
      return { operation, call: { f, from, to, amount } };
    }
    expectNullArgument(invoke);
    if (completion === null || completion.type !== 'ok') {
      expectEchoOrNull(operation);
      return { operation, call: { f, balances: null } };
    }
    const value = completion.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw fieldError(completion, 'value', `of an ok read must be an object from account to balance; got ${show(value)}`);
    }
    const balances = new Map<string, number | null>();
    for (const [name, balance] of Object.entries(value as { readonly [field: string]: JsonValue })) {
      if (balance !== null && !isInteger(balance)) throw fieldError(completion, `value.${name}`, `must be an integer balance or null; got ${show(balance)}`);
      balances.set(name, balance);
    }
    return { operation, call: { f, balances } };
  });
}

/** Account names are strings in reads (JSON object keys), so integer names in transfers become strings. */
function account(value: JsonValue | undefined): string | null {
  if (typeof value === 'string' && value !== '') return value;
  if (isInteger(value)) return String(value);
  return null;
}
