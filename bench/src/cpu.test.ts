import { describe, expect, it } from 'vitest';
import { parseProcStat, processesCpuSeconds } from './cpu.js';

describe('parseProcStat', () => {
  it('reads utime and stime after a command name that holds spaces and parentheses', () => {
    // Fields 3.. of a real line, with utime (14) = 250 and stime (15) = 50 ticks.
    const rest = 'S 1 2 3 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 11 0 12345 1915028000 70000';
    const { userSeconds, systemSeconds } = parseProcStat(`4242 (MainThread (x) y) ${rest}`, 100);
    expect(userSeconds).toBe(2.5);
    expect(systemSeconds).toBe(0.5);
  });

  it('refuses a line that is not a stat line', () => {
    expect(() => parseProcStat('no parenthesis here', 100)).toThrow(/Not a \/proc/);
  });
});

describe('processesCpuSeconds', () => {
  it('counts a running process and skips a pid that does not exist', () => {
    let spin = 0;
    for (let i = 0; i < 5e6; i++) spin += i;
    expect(spin).toBeGreaterThan(0);
    const own = processesCpuSeconds([process.pid]);
    expect(own).toBeGreaterThan(0);
    // Pids above the kernel's pid_max (at most 2^22) never exist.
    expect(processesCpuSeconds([process.pid, 1 << 23])).toBeGreaterThanOrEqual(own);
    expect(processesCpuSeconds([1 << 23])).toBe(0);
  });
});
