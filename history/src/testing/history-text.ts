/**
 * Test helpers: write a history as JSONL from a compact list of operations, and a tiny seeded
 * PRNG for randomized tests. Not exported from the package; only tests import this.
 *
 * Invariant of historyText: events come out in time order with completions before invocations
 * at equal times (so a process may invoke again at the instant its previous call returned),
 * and get consecutive indexes from 0.
 */
import type { HistoryKey, JsonValue } from '../history-event.js';

/** One operation: its process, function, key, argument, outcome, result and time window. */
export interface OperationSpec {
  readonly process: number;
  readonly f: string;
  readonly key?: HistoryKey | null;
  /** Invocation value. */
  readonly value?: JsonValue;
  /** `open`: the history ends before it completes. */
  readonly type: 'ok' | 'fail' | 'info' | 'open';
  /** Completion value; default: the invocation value. */
  readonly result?: JsonValue;
  readonly invokeNs: number;
  readonly completeNs?: number;
}

/** Renders operations as a JSONL history. */
export function historyText(specs: readonly OperationSpec[]): string {
  const events: { timeNs: number; order: number; completion: boolean; record: Record<string, JsonValue> }[] = [];
  specs.forEach((spec, order) => {
    const base = { process: spec.process, f: spec.f, key: spec.key ?? null };
    events.push({ timeNs: spec.invokeNs, order, completion: false, record: { ...base, type: 'invoke', value: spec.value ?? null } });
    if (spec.type !== 'open') {
      const completeNs = spec.completeNs ?? spec.invokeNs + 1;
      events.push({ timeNs: completeNs, order, completion: true, record: { ...base, type: spec.type, value: spec.result === undefined ? (spec.value ?? null) : spec.result } });
    }
  });
  events.sort((a, b) => a.timeNs - b.timeNs || Number(b.completion) - Number(a.completion) || a.order - b.order);
  return events.map((e, index) => JSON.stringify({ index, ...e.record, time: e.timeNs })).join('\n') + '\n';
}

/** A seeded generator (mulberry32): the same seed gives the same sequence on every run. */
export function seededRandom(seed: number): { next(): number; below(bound: number): number } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { next, below: (bound: number) => Math.floor(next() * bound) };
}
