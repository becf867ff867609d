import { describe, expect, it } from 'vitest';
import { loadHashPartitioner } from './partitioner.js';

describe('hash partitioning', () => {
  // Published xxHash64 (seed 0) values: the xxHash reference and python-xxhash's documentation.
  it.each([
    ['', 0xef46db3751d8e999n],
    ['a', 0xd24ec4f1a98c6e5bn],
    ['abc', 0x44bc2cf5ad770999n],
    ['Nobody inspects the spammish repetition', 0xfbcea83c8a378bf1n],
  ])('hashes %j to the reference xxhash64', async (input, expected) => {
    const p = await loadHashPartitioner();
    expect(p.hash64(Buffer.from(input))).toBe(expected);
  });

  it('maps a key to xxhash64 mod P, always the same partition', async () => {
    const p = await loadHashPartitioner();
    expect(p.partitionOf(Buffer.from('abc'), 16)).toBe(Number(0x44bc2cf5ad770999n % 16n));
    expect(p.partitionOf(Buffer.from('abc'), 16)).toBe(p.partitionOf(Buffer.from('abc'), 16));
  });

  it('spreads 10 000 keys over 16 partitions within 40% of the mean', async () => {
    const p = await loadHashPartitioner();
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 10_000; i++) counts[p.partitionOf(Buffer.from(`user:${i}`), 16)]! += 1;
    for (const c of counts) {
      expect(c).toBeGreaterThan(625 * 0.6);
      expect(c).toBeLessThan(625 * 1.4);
    }
  });
});
