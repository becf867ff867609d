import { describe, expect, it } from 'vitest';
import { ByteRate } from './byte-rate.js';

describe('ByteRate', () => {
  it('lets a burst of burstMs worth of bytes go at once, then paces the rest at the rate', () => {
    const rate = new ByteRate(1_000_000, 100); // 1 MB/s: 100 ms = 100 kB of burst
    expect(rate.reserve(50_000, 0)).toBe(0);
    expect(rate.reserve(50_000, 0)).toBe(0);
    expect(rate.reserve(100_000, 0)).toBe(100); // scheduled until 200 ms, 100 of them ahead
    expect(rate.reserve(100_000, 0)).toBe(200);
  });

  it('keeps the long-run rate whatever the chunk sizes: 64 MiB at 32 MiB/s takes 2 s', () => {
    const rate = new ByteRate(32 * 1024 * 1024);
    let nowMs = 0;
    for (let sent = 0; sent < 64 * 1024 * 1024; sent += 1024 * 1024) nowMs += rate.reserve(1024 * 1024, nowMs);
    expect(nowMs).toBeGreaterThanOrEqual(1_900 - 100);
    expect(nowMs).toBeLessThanOrEqual(2_000);
  });

  it('does not bank idle time beyond the burst', () => {
    const rate = new ByteRate(1_000_000, 100);
    rate.reserve(1_000_000, 0);
    // 10 s later the schedule is long past: only the burst goes at once again.
    expect(rate.reserve(100_000, 10_000)).toBe(0);
    expect(rate.reserve(100_000, 10_000)).toBe(100);
  });

  it('refuses a rate that is not a positive integer', () => {
    expect(() => new ByteRate(0)).toThrow(/bytesPerSecond 0/);
  });
});
