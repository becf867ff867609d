import { describe, expect, it } from 'vitest';
import { median, quantile } from './stats.js';

describe('quantile', () => {
  it('uses the nearest rank, so p50 of 1..100 is 50 and p99 is 99', () => {
    const samples = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(samples, 0.5)).toBe(50);
    expect(quantile(samples, 0.99)).toBe(99);
    expect(quantile(samples, 1)).toBe(100);
    expect(quantile(samples, 0)).toBe(1);
  });

  it('is NaN for no samples and the sample itself for one', () => {
    expect(quantile(new Float64Array(0), 0.5)).toBeNaN();
    expect(quantile(Float64Array.of(7), 0.99)).toBe(7);
  });
});

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
