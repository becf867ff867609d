/**
 * Time as an injected dependency. Core modules never read the system clock or schedule
 * timers themselves; they receive a Clock, so a deterministic simulator can drive them.
 */

/** A handle to cancel a scheduled callback. */
export interface TimerHandle {
  cancel(): void;
}

/** Wall and monotonic time plus timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall clock; may jump). */
  nowMs(): number;
  /** Milliseconds from an arbitrary origin that never goes backwards. */
  monotonicMs(): number;
  /** Runs `callback` once after `delayMs`. */
  after(delayMs: number, callback: () => void): TimerHandle;
  /** Runs `callback` every `intervalMs` until cancelled. */
  every(intervalMs: number, callback: () => void): TimerHandle;
}

/** The real clock, for production wiring in main.ts. */
export const systemClock: Clock = Object.freeze({
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  after(delayMs: number, callback: () => void): TimerHandle {
    const t = setTimeout(callback, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(intervalMs: number, callback: () => void): TimerHandle {
    const t = setInterval(callback, intervalMs);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
});
