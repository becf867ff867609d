import { describe, expect, it } from 'vitest';
import { AssertionError, seededRng } from '@quire/common';
import type { StoredEntry } from '../storage/engine.js';
import { PendingView, type PendingViewLimits } from './pending-view.js';

const limits: PendingViewLimits = { pendingEntriesMax: 8, pendingBytesMax: 1000, retryAfterMs: 10 };
const b = (s: string): Buffer => Buffer.from(s);
const committed = (key: string, value: string, version: number): StoredEntry => ({ key: b(key), value: b(value), version });

function view(appliedIndex = 10, overrides: Partial<PendingViewLimits> = {}): PendingView {
  return new PendingView({ ...limits, ...overrides }, appliedIndex);
}

describe('PendingView', () => {
  it('falls back to committed data for a key with no pending write', () => {
    const v = view();
    expect(v.versionOf(b('k'), 4)).toBe(4);
    expect(v.valueOf(b('k'), committed('k', 'old', 4))).toEqual(committed('k', 'old', 4));
    expect(v.valueOf(b('k'), undefined)).toBeUndefined();
  });

  it('restores logged entries past its limits (they were accepted before a restart), while add() keeps refusing', () => {
    const v = view(10, { pendingEntriesMax: 1 });
    v.restore(11, b('a'), 'put', b('1'));
    v.restore(12, b('b'), 'put', b('2'));
    expect(v.size).toBe(2);
    expect(v.add(13, b('c'), 'put', b('3'))?.code).toBe('OVERLOADED');
    expect(v.valueOf(b('b'), undefined)).toEqual(committed('b', '2', 12));
  });

  it('visits a range of entries in index order, from memory, also after the front was applied', () => {
    const v = view(10);
    v.add(11, b('a'), 'put', b('1'));
    v.add(12, b('b'), 'delete', b(''));
    v.add(13, b('a'), 'put', b('3'));
    v.applyUpTo(11);
    const seen: string[] = [];
    v.forEachInRange(12, 13, (index, kind, key, value) => {
      seen.push(`${index}:${kind}:${key}=${value}`);
    });
    expect(seen).toEqual(['12:delete:b=', '13:put:a=3']);
    expect(() => v.forEachInRange(11, 12, () => undefined)).toThrow(AssertionError);
    expect(() => v.forEachInRange(12, 14, () => undefined)).toThrow(AssertionError);
  });

  it('shows reads only acknowledged entries: as of an index, and merged for a key range', () => {
    const v = view(10);
    v.add(11, b('a'), 'put', b('1'));
    v.add(12, b('c'), 'put', b('2'));
    v.add(13, b('a'), 'delete', b(''));
    expect(v.acknowledgedValueOf(b('a'), 10, committed('a', 'old', 5))).toEqual(committed('a', 'old', 5));
    expect(v.acknowledgedValueOf(b('a'), 12, undefined)).toEqual(committed('a', '1', 11));
    expect(v.acknowledgedValueOf(b('a'), 13, undefined)).toBeUndefined();
    expect(v.acknowledgedInRange(b(''), b(''), 12).map((e) => `${e.key}:${e.entry?.value ?? 'deleted'}`)).toEqual(['a:1', 'c:2']);
    expect(v.acknowledgedInRange(b('b'), b(''), 13).map((e) => `${e.key}`)).toEqual(['c']);
    expect(v.acknowledgedInRange(b(''), b('b'), 13).map((e) => `${e.key}:${e.entry === undefined ? 'deleted' : 'put'}`)).toEqual(['a:deleted']);
  });

  it('answers with the newest pending write of a key, newest first', () => {
    const v = view();
    v.add(11, b('k'), 'put', b('one'));
    v.add(12, b('other'), 'put', b('x'));
    v.add(13, b('k'), 'put', b('two'));
    expect(v.versionOf(b('k'), 4)).toBe(13);
    expect(v.valueOf(b('k'), committed('k', 'old', 4))).toEqual({ key: b('k'), value: b('two'), version: 13 });
  });

  it('shows a pending delete as an absent key with version 0', () => {
    const v = view();
    v.add(11, b('k'), 'put', b('one'));
    v.add(12, b('k'), 'delete', Buffer.alloc(0));
    expect(v.versionOf(b('k'), 4)).toBe(0);
    expect(v.valueOf(b('k'), committed('k', 'old', 4))).toBeUndefined();
  });

  it('lets only the first of two conditional writes to one key in a pipeline pass', () => {
    const v = view();
    const expected = 4;
    const passes = (): boolean => v.versionOf(b('k'), 4) === expected;
    expect(passes()).toBe(true);
    v.add(11, b('k'), 'put', b('first'));
    expect(passes()).toBe(false);
  });

  it('forgets applied entries and falls back to data once a key has none left', () => {
    const v = view();
    v.add(11, b('k'), 'put', b('one'));
    v.add(12, b('j'), 'put', b('x'));
    v.add(13, b('k'), 'put', b('two'));
    v.applyUpTo(11);
    expect([v.size, v.appliedIndex, v.lastIndex]).toEqual([2, 11, 13]);
    expect(v.versionOf(b('k'), 11)).toBe(13);
    v.applyUpTo(13);
    expect([v.size, v.sizeBytes]).toEqual([0, 0]);
    expect(v.versionOf(b('k'), 13)).toBe(13);
    expect(v.valueOf(b('j'), committed('j', 'x', 12))).toEqual(committed('j', 'x', 12));
  });

  it('forgets a truncated suffix: keys fall back to their older pending write or to data, and new entries follow the cut', () => {
    const v = view(10);
    v.add(11, b('a'), 'put', b('1'));
    v.add(12, b('b'), 'put', b('2'));
    v.add(13, b('a'), 'put', b('3'));
    v.add(14, b('c'), 'delete', b(''));
    v.applyUpTo(11);
    v.truncateAfter(12);
    expect(v.size).toBe(1);
    expect(v.lastIndex).toBe(12);
    expect(v.sizeBytes).toBe(2);
    expect(v.versionOf(b('a'), 11)).toBe(11);
    expect(v.valueOf(b('c'), committed('c', 'kept', 5))).toEqual(committed('c', 'kept', 5));
    expect(v.add(13, b('d'), 'put', b('4'))).toBeUndefined();
    expect(v.valueOf(b('d'), undefined)).toEqual(committed('d', '4', 13));
    expect(() => v.truncateAfter(10)).toThrow(AssertionError);
    v.truncateAfter(11);
    expect(v.size).toBe(0);
    expect(v.valueOf(b('b'), undefined)).toBeUndefined();
  });

  it('applying up to the applied index again changes nothing', () => {
    const v = view();
    v.add(11, b('k'), 'put', b('one'));
    v.applyUpTo(10);
    expect(v.size).toBe(1);
  });

  it('keeps keys apart byte for byte, including bytes that are not valid UTF-8', () => {
    const v = view();
    v.add(11, Buffer.from([0xff, 0x00]), 'put', b('a'));
    v.add(12, Buffer.from([0xfe, 0x00]), 'put', b('b'));
    v.add(13, Buffer.from([0xff]), 'put', b('c'));
    expect(v.versionOf(Buffer.from([0xff, 0x00]), 0)).toBe(11);
    expect(v.versionOf(Buffer.from([0xfe, 0x00]), 0)).toBe(12);
    expect(v.versionOf(Buffer.from([0xff]), 0)).toBe(13);
    expect(v.versionOf(Buffer.from([0xef, 0xbf, 0xbd, 0x00]), 7)).toBe(7);
  });

  it('handles 4096-byte keys that differ only in their last byte', () => {
    const v = view(0, { pendingBytesMax: 100_000 });
    const long = (last: number): Buffer => Buffer.concat([Buffer.alloc(4095, 0x61), Buffer.from([last])]);
    v.add(1, long(1), 'put', b('a'));
    v.add(2, long(2), 'put', b('b'));
    expect([v.versionOf(long(1), 0), v.versionOf(long(2), 0), v.versionOf(long(3), 0)]).toEqual([1, 2, 0]);
  });

  it('stays correct over many writes to one hot key applied in small steps', () => {
    const v = view(0, { pendingEntriesMax: 10_000, pendingBytesMax: 1_000_000 });
    for (let i = 1; i <= 6000; i++) v.add(i, b('hot'), 'put', b(String(i)));
    for (let applied = 0; applied < 6000; applied += 7) {
      v.applyUpTo(applied);
      expect(v.versionOf(b('hot'), applied)).toBe(6000);
      expect(v.size).toBe(6000 - applied);
    }
    v.applyUpTo(6000);
    expect(v.versionOf(b('hot'), 6000)).toBe(6000);
    expect(v.size).toBe(0);
  });

  describe('limits', () => {
    it('refuses a write with OVERLOADED once pendingEntriesMax entries wait, and adds nothing', () => {
      const v = view();
      for (let i = 11; i <= 18; i++) expect(v.add(i, b(`k${i}`), 'put', b('v'))).toBeUndefined();
      const refused = v.add(19, b('k19'), 'put', b('v'));
      expect(refused?.code).toBe('OVERLOADED');
      expect(refused?.details).toEqual({ limit: 8, actual: 8, retryAfterMs: 10 });
      expect([v.size, v.lastIndex]).toEqual([8, 18]);
      expect(v.checkCapacity(b('k19'), b('v'))?.code).toBe('OVERLOADED');
      v.applyUpTo(11);
      expect(v.add(19, b('k19'), 'put', b('v'))).toBeUndefined();
    });

    it('refuses a write whose bytes would exceed pendingBytesMax', () => {
      const v = view(10, { pendingBytesMax: 100 });
      v.add(11, b('k'), 'put', Buffer.alloc(59));
      expect(v.sizeBytes).toBe(60);
      const refused = v.add(12, b('j'), 'put', Buffer.alloc(40));
      expect(refused?.code).toBe('OVERLOADED');
      expect(refused?.details).toMatchObject({ limit: 100, actual: 101 });
      expect(v.add(12, b('j'), 'put', Buffer.alloc(39))).toBeUndefined();
      expect(v.sizeBytes).toBe(100);
    });

    it('accepts an entry larger than pendingBytesMax into an empty view, so no write starves', () => {
      const v = view(10, { pendingBytesMax: 100 });
      expect(v.add(11, b('k'), 'put', Buffer.alloc(500))).toBeUndefined();
      expect(v.add(12, b('j'), 'put', b('x'))?.code).toBe('OVERLOADED');
    });
  });

  describe('refuses invalid use', () => {
    it.each([
      ['an index that does not follow the last', (v: PendingView) => v.add(12, b('k'), 'put', b('v'))],
      ['an index already added', (v: PendingView) => { v.add(11, b('k'), 'put', b('v')); v.add(11, b('k'), 'put', b('v')); }],
      ['a delete carrying a value', (v: PendingView) => v.add(11, b('k'), 'delete', b('v'))],
      ['applying backwards', (v: PendingView) => { v.add(11, b('k'), 'put', b('v')); v.applyUpTo(11); v.applyUpTo(10); }],
      ['applying beyond the last entry', (v: PendingView) => v.applyUpTo(11)],
      ['a fractional index', (v: PendingView) => { v.add(11, b('k'), 'put', b('v')); v.applyUpTo(10.5); }],
    ])('%s', (_what, misuse) => {
      expect(() => misuse(view())).toThrow(AssertionError);
    });

    it.each([
      ['pendingEntriesMax 0', { pendingEntriesMax: 0 }, 0],
      ['pendingBytesMax 0', { pendingBytesMax: 0 }, 0],
      ['a negative applied index', {}, -1],
    ])('a view with %s', (_what, overrides, applied) => {
      expect(() => view(applied, overrides)).toThrow(AssertionError);
    });
  });

  it.each([1, 2, 3, 4, 5])('agrees with a model of data plus pending writes under random use (seed %i)', (seed) => {
    const rng = seededRng(seed);
    const v = view(0, { pendingEntriesMax: 50, pendingBytesMax: 5000 });
    const data = new Map<string, StoredEntry>();
    let log: { index: number; key: Buffer; kind: 'put' | 'delete'; value: Buffer }[] = [];
    let applied = 0;
    let last = 0;
    const keys = [b('a'), b('b'), Buffer.from([0x80]), Buffer.from([0x80, 0x00]), b('')];
    for (let step = 0; step < 3000; step++) {
      const key = keys[rng.below(keys.length)] as Buffer;
      if (rng.below(3) > 0) {
        const kind = rng.below(4) === 0 ? 'delete' : 'put';
        const value = kind === 'put' ? Buffer.from(rng.id(1 + rng.below(20)), 'hex') : Buffer.alloc(0);
        if (v.add(last + 1, key, kind, value) === undefined) log.push({ index: ++last, key, kind, value });
      } else {
        const to = applied + rng.below(last - applied + 1);
        for (const e of log.filter((l) => l.index > applied && l.index <= to)) {
          if (e.kind === 'put') data.set(e.key.toString('hex'), { key: e.key, value: e.value, version: e.index });
          else data.delete(e.key.toString('hex'));
        }
        v.applyUpTo(to);
        applied = to;
        log = log.filter((l) => l.index > applied);
      }
      expect(v.size).toBe(last - applied);
      const newest = [...log].reverse().find((l) => l.index > applied && l.key.equals(key));
      const stored = data.get(key.toString('hex'));
      const expected = newest === undefined ? stored : newest.kind === 'put' ? { key, value: newest.value, version: newest.index } : undefined;
      expect(v.valueOf(key, stored)).toEqual(expected);
      expect(v.versionOf(key, stored?.version ?? 0)).toBe(expected?.version ?? 0);
    }
  });
});
