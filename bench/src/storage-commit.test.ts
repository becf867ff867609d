import { describe, expect, it } from 'vitest';
import { perEntryComparison, phaseFigures, replayLine, type PhaseSample } from './storage-commit.js';

describe('storage commit benchmark figures', () => {
  const sample = (over: Partial<PhaseSample>): PhaseSample => ({
    phase: 'lmdb-commit',
    round: 1,
    commits: 1_000,
    entries: 20_000,
    seconds: 2,
    cpuSeconds: 1.5,
    commitMsP50: 2.25,
    ...over,
  });

  it('divides the phase CPU by commits and by entries', () => {
    const f = phaseFigures(sample({}));
    expect(f.commitsPerSecond).toBe(500);
    expect(f.commitMsP50).toBe(2.25);
    expect(f.cpuMsPerCommit).toBeCloseTo(1.5, 9);
    expect(f.cpuUsPerEntry).toBeCloseTo(75, 9);
  });

  it('charges the WAL design one append share and one apply share per entry', () => {
    const today = phaseFigures(sample({ cpuSeconds: 1.8 })); // 90 µs/entry
    const append = phaseFigures(sample({ phase: 'wal-append', cpuSeconds: 0.2 })); // 10 µs/entry
    const apply = phaseFigures(sample({ phase: 'lmdb-apply', commits: 100, cpuSeconds: 0.4 })); // 20 µs/entry
    const c = perEntryComparison(today, append, apply);
    expect(c.todayUs).toBeCloseTo(90, 9);
    expect(c.walUs).toBeCloseTo(30, 9);
    expect(c.ratio).toBeCloseTo(3, 9);
  });

  it('reports the replay of the log as batches, size, time, throughput and CPU', () => {
    expect(replayLine({ batches: 10, mebibytes: 64, wallMs: 500, cpuMs: 300 })).toBe('10 batches, 64.0 MiB replayed in 500 ms (128 MiB/s, CPU 300 ms)');
  });
});
