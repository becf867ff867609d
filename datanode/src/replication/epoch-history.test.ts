import { describe, expect, it } from 'vitest';
import { AssertionError, seededRng } from '@quire/common';
import { EpochHistory } from './epoch-history.js';

/** Builds the history of a log starting at index 1 whose entry i + 1 has epochs[i]. */
function historyOf(epochs: readonly number[]): EpochHistory {
  const h = EpochHistory.empty();
  epochs.forEach((epoch, i) => h.append(epoch, i + 1));
  return h;
}

// Entries 1..12: epoch 1 at 1..5, epoch 3 at 6..9, epoch 5 at 10..12.
const log = [1, 1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5];

describe('EpochHistory', () => {
  it('records one pair per epoch, at the epoch’s first entry', () => {
    expect(historyOf(log).pairs).toEqual([
      { epoch: 1, firstIndex: 1 },
      { epoch: 3, firstIndex: 6 },
      { epoch: 5, firstIndex: 10 },
    ]);
    expect(historyOf(log).lastEpoch).toBe(5);
    expect(EpochHistory.empty().lastEpoch).toBe(0);
  });

  it('reports a change only for the first entry of a new epoch, so callers persist it only then', () => {
    const h = EpochHistory.empty();
    expect([h.append(1, 1), h.append(1, 2), h.append(2, 3), h.append(2, 4), h.append(7, 5)]).toEqual([true, false, true, false, true]);
  });

  it.each([
    [0, 0, 'epoch 0 is the empty prefix: nothing ends later'],
    [1, 5, 'a known epoch ends where the next begins'],
    [2, 5, 'an epoch this log never had ends where the largest epoch below it ends'],
    [3, 9, 'a known epoch in the middle'],
    [4, 9, 'another unknown epoch between known ones'],
    [5, 12, 'the last epoch ends at the log end'],
    [9, 12, 'an epoch newer than any known ends at the log end'],
  ])('endOfEpoch(%i) is %i: %s', (epoch, end) => {
    expect(historyOf(log).endOfEpoch(epoch, 12)).toBe(end);
  });

  it.each([
    [0, 0],
    [1, 1],
    [2, 1],
    [3, 3],
    [4, 3],
    [5, 5],
    [9, 5],
  ])('floorEpoch(%i) is %i', (epoch, floor) => {
    expect(historyOf(log).floorEpoch(epoch)).toBe(floor);
  });

  it.each([
    [0, 0],
    [1, 1],
    [5, 1],
    [6, 3],
    [9, 3],
    [10, 5],
    [12, 5],
    [13, undefined],
    [-1, undefined],
    [1.5, undefined],
  ])('epochAt(%s) is %s', (index, epoch) => {
    expect(historyOf(log).epochAt(index, 12)).toBe(epoch);
  });

  it.each([
    [12, [1, 3, 5]],
    [10, [1, 3, 5]],
    [9, [1, 3]],
    [6, [1, 3]],
    [5, [1]],
    [0, []],
  ])('truncateAfter(%i) keeps the epochs %j', (index, epochs) => {
    const h = historyOf(log);
    h.truncateAfter(index);
    expect(h.pairs.map((p) => p.epoch)).toEqual(epochs);
    expect(h.lastEpoch).toBe(epochs.at(-1) ?? 0);
  });

  it('lets a truncated log continue in a newer epoch from the truncation point', () => {
    const h = historyOf(log);
    h.truncateAfter(7);
    expect(h.append(4, 8)).toBe(true);
    expect(h.endOfEpoch(3, 9)).toBe(7);
    expect(h.endOfEpoch(4, 9)).toBe(9);
  });

  describe('after prefix truncation', () => {
    it.each([
      // index, base epoch, pairs left
      [2, 1, [3, 5]],
      [6, 1, [3, 5]],
      [7, 3, [5]],
      [10, 3, [5]],
      [11, 5, []],
      [13, 5, []],
    ])('truncateBefore(%i) keeps base epoch %i and the epochs %j', (index, base, epochs) => {
      const h = historyOf(log);
      h.truncateBefore(index);
      expect(h.startIndex).toBe(index);
      expect(h.baseEpoch).toBe(base);
      expect(h.pairs.map((p) => p.epoch)).toEqual(epochs);
      expect(h.lastEpoch).toBe(5);
    });

    it('still answers for the base epoch and newer ones, and refuses to guess for older ones', () => {
      const h = historyOf(log);
      h.truncateBefore(8); // entry 7 (epoch 3) is the newest one gone
      expect(h.endOfEpoch(3, 12)).toBe(9);
      expect(h.endOfEpoch(4, 12)).toBe(9);
      expect(h.endOfEpoch(5, 12)).toBe(12);
      expect(h.endOfEpoch(2, 12)).toBeUndefined();
      expect(h.floorEpoch(2)).toBeUndefined();
      expect(h.epochAt(7, 12)).toBe(3);
      expect(h.epochAt(6, 12)).toBeUndefined();
    });

    it('describes an empty log continuing after a snapshot', () => {
      const h = EpochHistory.startingAfter(100, 4);
      expect([h.startIndex, h.baseEpoch, h.lastEpoch]).toEqual([101, 4, 4]);
      expect(h.endOfEpoch(4, 100)).toBe(100);
      expect(h.endOfEpoch(9, 100)).toBe(100);
      expect(h.endOfEpoch(3, 100)).toBeUndefined();
      expect(h.epochAt(100, 100)).toBe(4);
      expect(h.append(4, 101)).toBe(false);
      expect(h.append(6, 102)).toBe(true);
      expect(h.endOfEpoch(5, 103)).toBe(101);
    });
  });

  describe('encoding', () => {
    it.each([
      ['an empty log', EpochHistory.empty()],
      ['a log with three epochs', historyOf(log)],
      ['a log after a snapshot', EpochHistory.startingAfter(2 ** 40, 7)],
      ['a prefix-truncated log', (() => { const h = historyOf(log); h.truncateBefore(8); return h; })()],
      ['a log with the largest safe values', EpochHistory.of(10, 3, [{ epoch: Number.MAX_SAFE_INTEGER, firstIndex: Number.MAX_SAFE_INTEGER }])],
    ])('round-trips %s', (_what, h) => {
      const decoded = EpochHistory.decode(h.encode());
      expect([decoded.startIndex, decoded.baseEpoch, decoded.pairs]).toEqual([h.startIndex, h.baseEpoch, h.pairs]);
      expect(decoded.encode().equals(h.encode())).toBe(true);
    });

    it('decodes from a view into a larger buffer', () => {
      const bytes = historyOf(log).encode();
      const big = Buffer.concat([Buffer.from([9, 9, 9]), bytes, Buffer.from([9])]);
      expect(EpochHistory.decode(big.subarray(3, 3 + bytes.length)).pairs).toEqual(historyOf(log).pairs);
    });

    const valid = historyOf(log).encode();
    const corrupt = (edit: (b: Buffer) => Buffer): Buffer => edit(Buffer.from(valid));
    it.each([
      ['shorter than its header', corrupt((b) => b.subarray(0, 10))],
      ['of an unknown format', corrupt((b) => { b.writeUInt8(2, 0); return b; })],
      ['with a pair count that does not match its length', corrupt((b) => { b.writeUInt32BE(4, 17); return b; })],
      ['with a truncated pair', corrupt((b) => b.subarray(0, b.length - 1))],
      ['with epochs out of order', corrupt((b) => { b.writeBigUInt64BE(9n, 21 + 16); return b; })],
      ['with first indexes out of order', corrupt((b) => { b.writeBigUInt64BE(1n, 21 + 16 + 8); return b; })],
      ['with an unsafe integer', corrupt((b) => { b.writeBigUInt64BE(2n ** 60n, 21 + 32); return b; })],
      ['with a base epoch but starting at 1', corrupt((b) => { b.writeBigUInt64BE(3n, 9); return b; })],
    ])('refuses to decode a history %s', (_what, bytes) => {
      expect(() => EpochHistory.decode(bytes)).toThrow(AssertionError);
    });
  });

  describe('refuses invalid use', () => {
    it.each([
      ['an epoch older than the last', (h: EpochHistory) => h.append(4, 13)],
      ['epoch 0', (h: EpochHistory) => EpochHistory.empty().append(0, 1) && h],
      ['a fractional epoch', (h: EpochHistory) => h.append(5.5, 13)],
      ['a new epoch at the index where the last one starts', (h: EpochHistory) => h.append(6, 10)],
      ['an entry of the last epoch before that epoch starts', (h: EpochHistory) => h.append(5, 9)],
      ['an index below the log start', (h: EpochHistory) => EpochHistory.startingAfter(10, 2).append(3, 10) && h],
      ['truncating after an index below the log start', (h: EpochHistory) => { h.truncateBefore(5); h.truncateAfter(3); }],
      ['truncating before the current log start', (h: EpochHistory) => { h.truncateBefore(5); h.truncateBefore(4); }],
      ['truncating the prefix of a log that does not reach it', () => EpochHistory.empty().truncateBefore(5)],
      ['a log end before the last epoch starts', (h: EpochHistory) => h.endOfEpoch(1, 9)],
      ['a log end below the log start', () => EpochHistory.startingAfter(10, 2).endOfEpoch(2, 9)],
      ['a negative epoch', (h: EpochHistory) => h.endOfEpoch(-1, 12)],
      ['a snapshot at index 0 with an epoch', () => EpochHistory.startingAfter(0, 3)],
      ['pairs with repeated epochs', () => EpochHistory.of(1, 0, [{ epoch: 1, firstIndex: 1 }, { epoch: 1, firstIndex: 3 }])],
      ['pairs starting below the log start', () => EpochHistory.of(5, 1, [{ epoch: 2, firstIndex: 4 }])],
      ['a pair no newer than the base epoch', () => EpochHistory.of(5, 2, [{ epoch: 2, firstIndex: 6 }])],
    ])('%s', (_what, misuse) => {
      expect(() => misuse(historyOf(log))).toThrow(AssertionError);
    });
  });

  describe('against a model log, with random appends and truncations', () => {
    interface Model {
      start: number;
      base: number;
      epochs: number[]; // epochs[i] is the epoch of index start + i
    }
    const end = (m: Model): number => m.start - 1 + m.epochs.length;
    const epochAt = (m: Model, index: number): number | undefined =>
      index === m.start - 1 ? m.base : index >= m.start && index <= end(m) ? m.epochs[index - m.start] : undefined;
    const endOfEpoch = (m: Model, epoch: number): number | undefined => {
      if (epoch < m.base) return undefined;
      let last = m.start - 1;
      for (let i = m.start; i <= end(m); i++) if ((epochAt(m, i) as number) <= epoch) last = i;
      return last;
    };

    it.each([1, 2, 3, 4, 5, 6, 7, 8])('agrees with the model at every step (seed %i)', (seed) => {
      const rng = seededRng(seed);
      const m: Model = { start: 1, base: 0, epochs: [] };
      let h = EpochHistory.empty();
      let epoch = 1;
      for (let step = 0; step < 400; step++) {
        const roll = rng.below(10);
        if (roll < 6) {
          if (rng.below(4) === 0) epoch += 1 + rng.below(3);
          const index = end(m) + 1;
          const changed = h.append(epoch, index);
          expect(changed).toBe(epochAt(m, index - 1) !== epoch);
          m.epochs.push(epoch);
        } else if (roll < 8 && m.epochs.length > 0) {
          const keep = m.start - 1 + rng.below(m.epochs.length + 1);
          h.truncateAfter(keep);
          m.epochs.length = keep - m.start + 1;
        } else if (roll < 9 && m.epochs.length > 0) {
          const start = m.start + 1 + rng.below(m.epochs.length);
          h.truncateBefore(start);
          m.base = epochAt(m, start - 1) as number;
          m.epochs = m.epochs.slice(start - m.start);
          m.start = start;
        } else {
          h = EpochHistory.decode(h.encode());
        }
        expect([h.startIndex, h.baseEpoch, h.lastEpoch]).toEqual([m.start, m.base, epochAt(m, end(m))]);
        for (let e = 0; e <= epoch + 1; e++) {
          if (h.endOfEpoch(e, end(m)) !== endOfEpoch(m, e)) expect.fail(`Step ${step}: endOfEpoch(${e}) is ${h.endOfEpoch(e, end(m))}, model ${endOfEpoch(m, e)}`);
        }
        for (let i = m.start - 2; i <= end(m) + 1; i++) {
          if (h.epochAt(i, end(m)) !== epochAt(m, i)) expect.fail(`Step ${step}: epochAt(${i}) is ${h.epochAt(i, end(m))}, model ${epochAt(m, i)}`);
        }
      }
    });
  });
});
