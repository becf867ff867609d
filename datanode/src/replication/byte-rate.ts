/**
 * ByteRate: a node-wide byte-rate limit (the snapshot streams that replica moves and catch-ups
 * cause, `--snapshot-bytes-per-second`). Pure: the caller passes the time and sleeps for the
 * delay it is given. Each reservation is scheduled after the previous ones at `bytesPerSecond`;
 * up to `burstMs` worth of bytes may go ahead of that schedule, so a stream that was idle does
 * not wait for its first chunk.
 *
 * Invariant: over any interval the bytes reserved with no delay are at most
 * bytesPerSecond × (interval + burstMs) / 1000.
 */
import { assert } from '@quire/common';

export class ByteRate {
  /** Monotonic ms at which the bytes reserved so far will have been sent at the rate. */
  private scheduledUntilMs = 0;

  constructor(
    readonly bytesPerSecond: number,
    private readonly burstMs = 100,
  ) {
    assert(Number.isSafeInteger(bytesPerSecond) && bytesPerSecond >= 1, `bytesPerSecond ${bytesPerSecond} is not a positive integer`);
  }

  /** Reserves `bytes` at `nowMs`; returns how long to wait before sending them (0: at once). */
  reserve(bytes: number, nowMs: number): number {
    const startMs = Math.max(nowMs, this.scheduledUntilMs);
    this.scheduledUntilMs = startMs + (bytes * 1000) / this.bytesPerSecond;
    return Math.max(0, this.scheduledUntilMs - nowMs - this.burstMs);
  }
}
