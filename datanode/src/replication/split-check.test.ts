import { describe, expect, it } from 'vitest';
import { SplitCheck, splitKeyOf, type SplitObservation, type SplitReason } from './split-check.js';

const thresholds = { sizeBytes: 1000, loadOpsPerSecond: 100, loadWindowMs: 30_000 };

describe('SplitCheck', () => {
  it.each<[string, SplitObservation[], (SplitReason | undefined)[]]>([
    ['splits by size as soon as the data passes the threshold', [{ nowMs: 0, dataBytes: 10, writes: 0 }, { nowMs: 10_000, dataBytes: 1001, writes: 0 }], [undefined, 'size']],
    ['does not split at exactly the size threshold', [{ nowMs: 0, dataBytes: 1000, writes: 0 }], [undefined]],
    [
      'splits by load once every check of the window was above the rate',
      [0, 10_000, 20_000, 30_000].map((nowMs) => ({ nowMs, dataBytes: 0, writes: 2_000 })),
      [undefined, undefined, undefined, 'load'],
    ],
    [
      'a dip below the rate restarts the window',
      [
        { nowMs: 0, dataBytes: 0, writes: 0 },
        { nowMs: 10_000, dataBytes: 0, writes: 2_000 },
        { nowMs: 20_000, dataBytes: 0, writes: 500 },
        { nowMs: 30_000, dataBytes: 0, writes: 2_000 },
        { nowMs: 40_000, dataBytes: 0, writes: 2_000 },
        { nowMs: 50_000, dataBytes: 0, writes: 2_000 },
      ],
      [undefined, undefined, undefined, undefined, undefined, 'load'],
    ],
    ['a burst shorter than the window is not load', [{ nowMs: 0, dataBytes: 0, writes: 0 }, { nowMs: 1_000, dataBytes: 0, writes: 100_000 }, { nowMs: 2_000, dataBytes: 0, writes: 0 }], [undefined, undefined, undefined]],
  ])('%s', (_name, observations, expected) => {
    const check = new SplitCheck(thresholds);
    expect(observations.map((o) => check.observe(o))).toEqual(expected);
  });

  it('never splits with both thresholds off', () => {
    const check = new SplitCheck({ sizeBytes: 0, loadOpsPerSecond: 0, loadWindowMs: 1 });
    expect([0, 1000, 2000].map((nowMs) => check.observe({ nowMs, dataBytes: 1e12, writes: 1e9 }))).toEqual([undefined, undefined, undefined]);
  });
});

describe('splitKeyOf', () => {
  const keys = (...sizes: [string, number][]) => sizes.map(([key, bytes]) => ({ key: Buffer.from(key), bytes }));
  it.each<[string, [string, number][], string | undefined]>([
    ['halves equal entries', [['a', 10], ['b', 10], ['c', 10], ['d', 10]], 'c'],
    ['follows the bytes, not the key count', [['a', 70], ['b', 10], ['c', 10], ['d', 10]], 'b'],
    ['never picks the first key', [['a', 1], ['b', 1000]], 'b'],
    ['none with one key', [['a', 100]], undefined],
    ['none with no key', [], undefined],
  ])('%s', (_name, sizes, expected) => {
    const list = keys(...sizes);
    const total = list.reduce((s, k) => s + k.bytes, 0);
    expect(splitKeyOf(list, total)?.toString()).toBe(expected);
  });
});
