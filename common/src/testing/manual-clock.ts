/**
 * A Clock for unit tests: time moves only when the test calls advance(), and timers fire in
 * time order as it does. Import from tests only.
 */
import type { Clock, TimerHandle } from '../clock.js';

interface Timer {
  at: number;
  readonly interval: number | undefined;
  readonly callback: () => void;
  cancelled: boolean;
}

/** A manually advanced clock. */
export class ManualClock implements Clock {
  private now = 0;
  private readonly timers: Timer[] = [];

  constructor(private readonly wallOffsetMs = 1_700_000_000_000) {}

  nowMs(): number {
    return this.wallOffsetMs + this.now;
  }

  monotonicMs(): number {
    return this.now;
  }

  after(delayMs: number, callback: () => void): TimerHandle {
    return this.add({ at: this.now + delayMs, interval: undefined, callback, cancelled: false });
  }

  every(intervalMs: number, callback: () => void): TimerHandle {
    return this.add({ at: this.now + intervalMs, interval: intervalMs, callback, cancelled: false });
  }

  private add(timer: Timer): TimerHandle {
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Moves time forward by `ms`, firing every timer that comes due, in order. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.now = due.at;
      if (due.interval === undefined) due.cancelled = true;
      else due.at += due.interval;
      due.callback();
    }
    this.now = target;
  }
}
