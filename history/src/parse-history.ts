/**
 * Strict parsing of a JSONL history into events and paired operations.
 *
 * Every line is one JSON object with exactly the fields of the format (`index`, `process`,
 * `type`, `f`, `key`, `value`, `time`, plus Jepsen's optional `node` and `error`, which are
 * ignored). Anything else is an InvalidHistoryError naming the line and the field: a checker
 * fed a misread history would judge the wrong thing, and a typo such as `tiem` must not turn
 * into "time 0".
 *
 * Invariants of the result: see history-event.ts. Blank lines are skipped (a trailing newline
 * is the norm for JSONL).
 */
import { type EventType, type History, type HistoryEvent, type HistoryKey, type JsonValue, type Operation, keyIdOf, formatKey } from './history-event.js';
import { InvalidHistoryError, show } from './invalid-history-error.js';
import { type ModelName } from './model-name.js';
import { assert, unreachable } from './assert.js';
import { registerOperations } from './register/register-operations.js';
import { setOperations } from './set/set-operations.js';
import { bankOperations } from './bank/bank-operations.js';
import { listAppendTxns } from './list-append/txn-operations.js';

/** Options of parseHistory. */
export interface ParseHistoryOptions {
  /** When given, also check every value against this model's shapes (as the checker will). */
  readonly model?: ModelName;
}

const eventTypes: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const requiredFields = ['index', 'process', 'type', 'f', 'time'] as const;
const knownFields = new Set<string>([...requiredFields, 'key', 'value', 'node', 'error']);

/**
 * Parses a JSONL history. Throws InvalidHistoryError naming the line and field of the first
 * problem; with `options.model`, values are checked against that model too.
 */
export function parseHistory(text: string, options: ParseHistoryOptions = {}): History {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').replace(/\r$/, '');
    if (raw.trim() === '') continue;
    events.push(parseEvent(raw, i + 1, events.at(-1)));
  }
  const history: History = { events, operations: pairOperations(events) };
  if (options.model !== undefined) validateModel(history, options.model);
  return history;
}

/** Checks every operation's `f` and `value` against a model; throws InvalidHistoryError. */
export function validateModel(history: History, model: ModelName): void {
  switch (model) {
    case 'register':
      registerOperations(history);
      return;
    case 'set':
      setOperations(history);
      return;
    case 'bank':
      bankOperations(history);
      return;
    case 'list-append':
      listAppendTxns(history);
      return;
    default:
      unreachable(model, 'Unknown model');
  }
}

function parseEvent(raw: string, line: number, previous: HistoryEvent | undefined): HistoryEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidHistoryError(line, null, `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidHistoryError(line, null, `must be a JSON object (one event per line); got ${show(parsed)}`);
  }
  const record = parsed as Record<string, unknown>;
  for (const field of Object.keys(record)) {
    if (!knownFields.has(field)) throw new InvalidHistoryError(line, field, `is not a field of the history format (index, process, type, f, key, value, time)`);
  }
  for (const field of requiredFields) {
    if (!(field in record)) throw new InvalidHistoryError(line, field, 'is missing');
  }
  const index = naturalNumber(record.index, line, 'index');
  if (previous !== undefined && index <= previous.index) {
    throw new InvalidHistoryError(line, 'index', `must increase from line to line; ${index} follows ${previous.index} (line ${previous.line})`);
  }
  const process = naturalNumber(record.process, line, 'process');
  const type = record.type;
  if (typeof type !== 'string' || !(eventTypes as readonly string[]).includes(type)) {
    throw new InvalidHistoryError(line, 'type', `must be one of "invoke", "ok", "fail", "info"; got ${show(type)}`);
  }
  const f = record.f;
  if (typeof f !== 'string' || f === '') throw new InvalidHistoryError(line, 'f', `must be a non-empty string; got ${show(f)}`);
  const key = record.key ?? null;
  if (key !== null && typeof key !== 'string' && !Number.isSafeInteger(key)) {
    throw new InvalidHistoryError(line, 'key', `must be a string, an integer or null; got ${show(key)}`);
  }
  const timeNs = naturalNumber(record.time, line, 'time', ' (nanoseconds)');
  if (previous !== undefined && timeNs < previous.timeNs) {
    throw new InvalidHistoryError(line, 'time', `must not decrease (monotonic nanoseconds); ${timeNs} follows ${previous.timeNs} (line ${previous.line})`);
  }
  const node = record.node;
  if (node !== undefined && node !== null && typeof node !== 'string' && !Number.isSafeInteger(node)) {
    throw new InvalidHistoryError(line, 'node', `must be a string or an integer; got ${show(node)}`);
  }
  return { index, process, type: type as EventType, f, key: key as HistoryKey | null, value: (record.value ?? null) as JsonValue, timeNs, line };
}

function naturalNumber(value: unknown, line: number, field: string, unit = ''): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidHistoryError(line, field, `must be a non-negative integer${unit}; got ${show(value)}`);
  }
  return value;
}

interface PendingOperation {
  readonly id: number;
  readonly invoke: HistoryEvent;
}

/** Pairs invocations with completions per process; an invocation left open becomes info. */
function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  const operations: Operation[] = [];
  const slots: (Operation | null)[] = [];
  const pending = new Map<number, PendingOperation>();
  for (const event of events) {
    const open = pending.get(event.process);
    if (event.type === 'invoke') {
      if (open !== undefined) {
        throw new InvalidHistoryError(event.line, 'process', `${event.process} invokes again while its invocation at line ${open.invoke.line} is outstanding (one outstanding invocation per process)`);
      }
      pending.set(event.process, { id: slots.length, invoke: event });
      slots.push(null);
      continue;
    }
    if (open === undefined) {
      throw new InvalidHistoryError(event.line, 'process', `${event.process} completes ("${event.type}") with no outstanding invocation`);
    }
    if (event.f !== open.invoke.f) {
      throw new InvalidHistoryError(event.line, 'f', `"${event.f}" does not match its invocation's "${open.invoke.f}" (line ${open.invoke.line})`);
    }
    if (!sameKey(event.key, open.invoke.key)) {
      throw new InvalidHistoryError(event.line, 'key', `${formatKey(event.key)} does not match its invocation's ${formatKey(open.invoke.key)} (line ${open.invoke.line})`);
    }
    pending.delete(event.process);
    slots[open.id] = operation(open, event);
  }
  for (const open of pending.values()) slots[open.id] = operation(open, null);
  for (const slot of slots) {
    assert(slot !== null, 'Every invocation is completed or left pending');
    operations.push(slot);
  }
  return operations;
}

function sameKey(a: HistoryKey | null, b: HistoryKey | null): boolean {
  if (a === null || b === null) return a === b;
  return keyIdOf(a) === keyIdOf(b);
}

function operation(open: PendingOperation, completion: HistoryEvent | null): Operation {
  const { invoke } = open;
  // An invocation the history never completes is indeterminate, exactly like an info completion.
  const outcome = completion === null || completion.type === 'info' ? 'info' : completion.type === 'ok' ? 'ok' : 'fail';
  return {
    id: open.id,
    process: invoke.process,
    f: invoke.f,
    key: invoke.key,
    outcome,
    invoke,
    completion,
    invokeTimeNs: invoke.timeNs,
    completeTimeNs: outcome === 'info' || completion === null ? null : completion.timeNs,
  };
}
