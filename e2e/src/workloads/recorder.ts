/**
 * Records a history in Jepsen's shape, one event per line:
 * `{"index", "process", "type": "invoke"|"ok"|"fail"|"info", "f", "key", "value", "time"}`,
 * `time` in nanoseconds on the run's monotonic clock (shared with the nemesis log, so
 * operations and faults line up). The completion repeats its invocation's process, f and key.
 *
 * Invariant: a process has at most one outstanding invocation (asserted), as the checkers
 * assume. An operation that never completes is left without a completion: the checkers treat
 * it as indeterminate.
 */
import { writeFileSync } from 'node:fs';

/** Nanoseconds since the start of a run, from the monotonic clock. */
export class RunClock {
  private readonly originNs = process.hrtime.bigint();

  /** Nanoseconds since the clock was created. */
  nowNs(): number {
    return Number(process.hrtime.bigint() - this.originNs);
  }
}

/** A JSON value as histories carry it. */
export type HistoryValue = null | boolean | number | string | readonly HistoryValue[] | { readonly [field: string]: HistoryValue };

/** One recorded event. */
export interface RecordedEvent {
  readonly index: number;
  readonly process: number;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: string;
  readonly key: string | number | null;
  readonly value: HistoryValue;
  readonly time: number;
}

/** An invocation waiting for its completion. */
export interface Invocation {
  readonly process: number;
  readonly f: string;
  readonly key: string | number | null;
  readonly timeNs: number;
}

/** Collects events in memory and writes them as JSON lines. */
export class HistoryRecorder {
  private readonly list: RecordedEvent[] = [];
  private readonly outstanding = new Set<number>();
  readonly counts = { invoke: 0, ok: 0, fail: 0, info: 0 };

  constructor(readonly clock: RunClock) {}

  /** Records an invocation. */
  invoke(process: number, f: string, key: string | number | null, value: HistoryValue): Invocation {
    if (this.outstanding.has(process)) throw new Error(`Process ${process} already has an outstanding invocation`);
    this.outstanding.add(process);
    const time = this.clock.nowNs();
    this.push({ process, type: 'invoke', f, key, value, time });
    return { process, f, key, timeNs: time };
  }

  /** Records the completion of `invocation`. */
  complete(invocation: Invocation, type: 'ok' | 'fail' | 'info', value: HistoryValue): void {
    if (!this.outstanding.delete(invocation.process)) throw new Error(`Process ${invocation.process} has no outstanding invocation`);
    this.push({ process: invocation.process, type, f: invocation.f, key: invocation.key, value, time: this.clock.nowNs() });
  }

  private push(e: Omit<RecordedEvent, 'index'>): void {
    this.counts[e.type]++;
    this.list.push({ index: this.list.length, ...e });
  }

  /** The events so far. */
  get events(): readonly RecordedEvent[] {
    return this.list;
  }

  /** The history as JSON lines. */
  toJsonl(): string {
    return this.list.map((e) => JSON.stringify(e)).join('\n') + (this.list.length > 0 ? '\n' : '');
  }

  /** Writes the history to `path`. */
  write(path: string): void {
    writeFileSync(path, this.toJsonl());
  }
}
