import { describe, expect, it } from 'vitest';
import { seededRng } from '@quire/common';
import { faketimeOffset, faketimeRate, randomBumpMs } from './clock-faults.js';

describe('clock fault helpers', () => {
  it('renders offsets in libfaketime’s relative seconds format', () => {
    expect(faketimeOffset(0)).toBe('+0.000');
    expect(faketimeOffset(250)).toBe('+0.250');
    expect(faketimeOffset(-1500)).toBe('-1.500');
    expect(faketimeOffset(262_144)).toBe('+262.144');
  });

  it('draws Jepsen bumps of ±2^k ms with k in 2..18, both signs', () => {
    const rng = seededRng(5);
    const bumps = Array.from({ length: 500 }, () => randomBumpMs(rng));
    for (const b of bumps) {
      const k = Math.log2(Math.abs(b));
      expect(Number.isInteger(k) && k >= 2 && k <= 18).toBe(true);
    }
    expect(bumps.some((b) => b < 0) && bumps.some((b) => b > 0)).toBe(true);
  });

  it('renders clock rates as libfaketime speed settings with a zero offset, and refuses nonsense', () => {
    expect(faketimeRate(0.5)).toBe('+0 x0.5');
    expect(faketimeRate(1)).toBe('+0 x1');
    expect(faketimeRate(2)).toBe('+0 x2');
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 101]) expect(() => faketimeRate(bad)).toThrow(/must be in/);
  });
});
