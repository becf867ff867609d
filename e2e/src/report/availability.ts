/**
 * Availability figures from a recorded history (issue 15's chaos checks): for each key, the
 * longest interval with no successful operation on it, measured between successive ok
 * completions of operations on that key (reads, writes and compare-and-set alike), and how many
 * operations ended indeterminate (`info`: AMBIGUOUS_RESULT, deadline, lost connection) or
 * failed. A fault that stalls a key shows as one long gap; the workload keeps every active key
 * busy (several clients per key), so a gap is never idleness of the workload itself.
 *
 * Pure: events in, figures out.
 */
import type { RecordedEvent } from '../workloads/recorder.js';

/** What a history says about availability. */
export interface AvailabilityFigures {
  /** Keys with at least two ok completions (the ones a gap can be measured on). */
  readonly keys: number;
  /** Per key, the longest interval without an ok completion, in ms, by key. */
  readonly longestGapMsByKey: ReadonlyMap<string, number>;
  /** The median and 99th percentile (nearest rank) over keys of the longest gap, and the longest, in ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The key of the longest gap, and when it started (ms since the run began). */
  readonly worstKey: string | undefined;
  readonly worstFromMs: number;
  /** Completions of type info (outcome unknown) and fail. */
  readonly indeterminate: number;
  readonly failed: number;
}

/** The q-quantile (nearest rank) of `values`; NaN when empty. */
function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}

/** Measures the longest no-success interval per key of a history. */
export function availabilityOf(events: readonly RecordedEvent[]): AvailabilityFigures {
  const okTimes = new Map<string, number[]>();
  let indeterminate = 0;
  let failed = 0;
  for (const e of events) {
    if (e.type === 'info') indeterminate++;
    else if (e.type === 'fail') failed++;
    if (e.type !== 'ok' || e.key === null) continue;
    const key = String(e.key);
    let times = okTimes.get(key);
    if (times === undefined) {
      times = [];
      okTimes.set(key, times);
    }
    times.push(e.time);
  }
  const longestGapMsByKey = new Map<string, number>();
  let worstKey: string | undefined;
  let worstFromMs = 0;
  let maxMs = 0;
  for (const [key, times] of okTimes) {
    if (times.length < 2) continue;
    times.sort((a, b) => a - b);
    let longest = 0;
    let from = 0;
    for (let i = 1; i < times.length; i++) {
      const gap = ((times[i] as number) - (times[i - 1] as number)) / 1e6;
      if (gap > longest) {
        longest = gap;
        from = (times[i - 1] as number) / 1e6;
      }
    }
    longestGapMsByKey.set(key, longest);
    if (longest > maxMs || worstKey === undefined) {
      maxMs = longest;
      worstKey = key;
      worstFromMs = from;
    }
  }
  const gaps = [...longestGapMsByKey.values()];
  return { keys: gaps.length, longestGapMsByKey, p50Ms: quantile(gaps, 0.5), p99Ms: quantile(gaps, 0.99), maxMs, worstKey, worstFromMs, indeterminate, failed };
}

/** One line for logs and reports: "longest no-success interval per key p50 … ms, p99 … ms, max … ms (key k at t s); N indeterminate, M failed". */
export function formatAvailability(a: AvailabilityFigures): string {
  const worst = a.worstKey === undefined ? '' : ` (key ${a.worstKey} from ${(a.worstFromMs / 1000).toFixed(1)} s)`;
  return `longest no-success interval per key over ${a.keys} keys: p50 ${a.p50Ms.toFixed(0)} ms, p99 ${a.p99Ms.toFixed(0)} ms, max ${a.maxMs.toFixed(0)} ms${worst}; ${a.indeterminate} indeterminate, ${a.failed} failed`;
}
