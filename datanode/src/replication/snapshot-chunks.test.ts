import { describe, expect, it } from 'vitest';
import { AssertionError } from '@quire/common';
import type { StoredEntry } from '../storage/engine.js';
import { SnapshotTally, cutChunks, pairBytes } from './snapshot-chunks.js';

const pair = (key: string, valueBytes: number, version = 1): StoredEntry => ({ key: Buffer.from(key), value: Buffer.alloc(valueBytes, 0x61), version });
const keysOf = (chunks: StoredEntry[][]): string[][] => chunks.map((c) => c.map((e) => e.key.toString()));

describe('cutChunks', () => {
  it('cuts at the byte budget, sends an oversized pair alone, and keeps order across input chunks', () => {
    // Sizes (key 1 byte + value): a 10, b 10, c 100, d 5, e 5, f 5.
    const input = [[pair('a', 9), pair('b', 9), pair('c', 99)], [pair('d', 4)], [pair('e', 4), pair('f', 4)]];
    const out = [...cutChunks(input, 20)];
    expect(keysOf(out)).toEqual([['a', 'b'], ['c'], ['d', 'e', 'f']]);
    for (const chunk of out) {
      const bytes = chunk.reduce((n, e) => n + pairBytes(e), 0);
      expect(bytes <= 20 || chunk.length === 1).toBe(true);
    }
  });

  it('yields nothing for an empty partition and refuses a budget below one byte', () => {
    expect([...cutChunks([], 10)]).toEqual([]);
    expect([...cutChunks([[]], 10)]).toEqual([]);
    expect(() => [...cutChunks([[pair('a', 1)]], 0)]).toThrow(AssertionError);
  });
});

describe('SnapshotTally', () => {
  it('counts keys and key+value bytes across chunks, and compares them with SnapshotEnd', () => {
    const t = new SnapshotTally(10);
    expect(t.add([pair('a', 3, 1), pair('b', 4, 10)])).toBeUndefined();
    expect(t.add([pair('c', 0, 5)])).toBeUndefined();
    expect(t.totals).toEqual({ keyCount: 3, payloadBytes: 4 + 5 + 1 });
    expect(t.matches({ keyCount: 3, payloadBytes: 10 })).toBe(true);
    expect(t.matches({ keyCount: 3, payloadBytes: 11 })).toBe(false);
    expect(t.matches({ keyCount: 2, payloadBytes: 10 })).toBe(false);
  });

  it.each([
    ['a key not above the previous chunk’s last', [[pair('b', 1)], [pair('a', 1)]], /not above the previous key/],
    ['a repeated key', [[pair('a', 1), pair('a', 1)]], /not above the previous key/],
    ['a version above the applied index', [[pair('a', 1, 11)]], /version 11, outside 1..10/],
    ['version 0', [[pair('a', 1, 0)]], /version 0/],
    ['an empty key', [[{ key: Buffer.alloc(0), value: Buffer.alloc(0), version: 1 }]], /key of 0 bytes/],
  ])('refuses %s and counts nothing of that chunk', (_what, chunks, why) => {
    const t = new SnapshotTally(10);
    const results = chunks.map((c) => t.add(c));
    expect(results.at(-1)).toMatch(why);
    expect(t.keyCount).toBe(chunks.slice(0, -1).reduce((n, c) => n + c.length, 0));
  });
});
