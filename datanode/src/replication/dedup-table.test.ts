import { describe, expect, it } from 'vitest';
import { DedupTable } from './dedup-table.js';

const id = (n: number): Buffer => Buffer.from(`request-${n}`);

describe('DedupTable', () => {
  it('remembers what each recorded write became, and nothing for an empty or unknown id', () => {
    const t = new DedupTable({ dedupEntriesMax: 10, dedupWindowMs: 1_000 });
    t.record(id(1), 3, 'put', 0);
    t.record(Buffer.alloc(0), 4, 'put', 0);
    t.record(id(2), 5, 'delete', 0);
    expect(t.size).toBe(2);
    expect(t.lookup(id(1), 0)).toEqual({ index: 3, kind: 'put' });
    expect(t.lookup(id(2), 0)).toEqual({ index: 5, kind: 'delete' });
    expect(t.lookup(id(3), 0)).toBeUndefined();
    expect(t.lookup(Buffer.alloc(0), 0)).toBeUndefined();
  });

  it('tells ids apart byte for byte, any bytes included', () => {
    const t = new DedupTable({ dedupEntriesMax: 10, dedupWindowMs: 1_000 });
    const a = Buffer.from([0, 255, 128, 1]);
    const b = Buffer.from([0, 255, 128, 2]);
    t.record(a, 1, 'put', 0);
    expect(t.lookup(Buffer.from(a), 0)?.index).toBe(1);
    expect(t.lookup(b, 0)).toBeUndefined();
    expect(t.lookup(Buffer.from([0, 255, 128]), 0)).toBeUndefined();
  });

  it('forgets the oldest records beyond dedupEntriesMax, first in first out', () => {
    const t = new DedupTable({ dedupEntriesMax: 3, dedupWindowMs: 1_000_000 });
    for (let n = 1; n <= 5; n++) t.record(id(n), n, 'put', 0);
    expect(t.size).toBe(3);
    expect([1, 2, 3, 4, 5].map((n) => t.lookup(id(n), 0)?.index)).toEqual([undefined, undefined, 3, 4, 5]);
  });

  it('forgets records older than dedupWindowMs by the clock it is given, keeping one exactly at the window', () => {
    const t = new DedupTable({ dedupEntriesMax: 100, dedupWindowMs: 1_000 });
    t.record(id(1), 1, 'put', 0);
    t.record(id(2), 2, 'put', 500);
    expect(t.lookup(id(1), 1_000)?.index).toBe(1);
    expect(t.lookup(id(1), 1_001)).toBeUndefined();
    expect(t.lookup(id(2), 1_001)?.index).toBe(2);
    expect(t.size).toBe(1);
    t.record(id(3), 3, 'put', 2_000);
    expect(t.size).toBe(1);
    expect(t.lookup(id(3), 2_000)?.index).toBe(3);
  });

  it('stays bounded by the count whatever the clock does', () => {
    const t = new DedupTable({ dedupEntriesMax: 1_000, dedupWindowMs: 60_000 });
    for (let n = 1; n <= 10_000; n++) t.record(id(n), n, n % 2 === 0 ? 'put' : 'delete', 0);
    expect(t.size).toBe(1_000);
    expect(t.lookup(id(9_001), 0)?.index).toBe(9_001);
    expect(t.lookup(id(9_000), 0)).toBeUndefined();
  });

  it('drops the records of a truncated suffix, so a truncated index never answers a retry', () => {
    const t = new DedupTable({ dedupEntriesMax: 10, dedupWindowMs: 1_000 });
    t.record(id(1), 1, 'put', 0);
    t.record(id(2), 2, 'put', 0);
    t.record(id(3), 4, 'delete', 0);
    t.truncateAfter(2);
    expect(t.lookup(id(3), 0)).toBeUndefined();
    expect(t.lastIndex).toBe(2);
    t.record(id(4), 3, 'put', 0);
    expect(t.lookup(id(4), 0)?.index).toBe(3);
    t.truncateAfter(0);
    expect(t.size).toBe(0);
    expect(t.lastIndex).toBe(0);
  });

  it('lets a newer entry with a forgotten id replace it, and keeps it when the older record leaves', () => {
    const t = new DedupTable({ dedupEntriesMax: 2, dedupWindowMs: 1_000 });
    t.record(id(1), 1, 'put', 0);
    // As rebuilt from a log holding the same id twice (the first was forgotten when the second was appended).
    t.record(id(1), 2, 'put', 0);
    expect(t.lookup(id(1), 0)?.index).toBe(2);
    t.record(id(2), 3, 'put', 0);
    expect(t.lookup(id(1), 0)?.index).toBe(2);
    t.truncateAfter(1);
    // The older record of the id is not restored: forgetting is the safe direction for the log.
    expect(t.lookup(id(1), 0)).toBeUndefined();
  });

  it('forgets everything on clear', () => {
    const t = new DedupTable({ dedupEntriesMax: 10, dedupWindowMs: 1_000 });
    t.record(id(1), 7, 'put', 0);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.lookup(id(1), 0)).toBeUndefined();
    t.record(id(1), 1, 'put', 0);
    expect(t.lookup(id(1), 0)?.index).toBe(1);
  });

  it.each([
    ['a record at an index not above the newest', () => {
      const t = new DedupTable({ dedupEntriesMax: 10, dedupWindowMs: 1_000 });
      t.record(id(1), 5, 'put', 0);
      t.record(id(2), 5, 'put', 0);
    }],
    ['a count of 0', () => new DedupTable({ dedupEntriesMax: 0, dedupWindowMs: 1_000 })],
    ['a window of 0', () => new DedupTable({ dedupEntriesMax: 1, dedupWindowMs: 0 })],
  ])('refuses %s (assertion)', (_name, f) => {
    expect(f).toThrow();
  });
});
