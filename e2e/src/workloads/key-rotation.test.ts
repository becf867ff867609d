import { describe, expect, it } from 'vitest';
import { seededRng } from '@quire/common';
import { keyRotation } from './key-rotation.js';

describe('keyRotation', () => {
  it('uses every key at most opsPerKeyMax times and keeps the number of keys in use fixed', () => {
    const pick = keyRotation(3, 5, seededRng(9));
    const counts = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const k = pick();
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (const n of counts.values()) expect(n).toBeLessThanOrEqual(5);
    // 300 operations at 5 per key need at least 60 keys; 3 are in use at any time.
    expect(counts.size).toBeGreaterThanOrEqual(60);
    expect(counts.size).toBeLessThanOrEqual(60 + 3);
  });
});
