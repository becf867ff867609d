import { describe, expect, it } from 'vitest';
import { PartitionScheme, type PartitionRecord } from '@quire/proto';
import { RangeIndex, initialRanges, intersectRange, keyInRange, splitKeysProblem } from './key-ranges.js';
import type { KeyspaceEntry } from './metadata-view.js';

const b = (s: string): Buffer => Buffer.from(s);
const rec = (partitionId: number, start: string, end: string): PartitionRecord => ({
  keyspace: 'r', partitionId, replicas: ['n1'], leader: 'n1', epoch: 1, isr: ['n1'], startKey: b(start), endKey: b(end), splitFrom: undefined,
});
const entry = (records: (PartitionRecord | undefined)[]): KeyspaceEntry => ({
  record: { name: 'r', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: records.length, replicationFactor: 1, ackPolicy: 0, minIsr: 1, splitKeys: [] },
  modRevision: 1,
  partitions: records.map((record) => (record === undefined ? undefined : { record, modRevision: 1 })),
});

describe('key ranges', () => {
  it.each([
    ['a', '', '', true],
    ['a', 'a', 'b', true],
    ['b', 'a', 'b', false],
    ['', 'a', '', false],
    ['zzz', 'm', '', true],
  ])('keyInRange(%j, [%j, %j)) is %s', (key, start, end, expected) => {
    expect(keyInRange(b(key), b(start), b(end))).toBe(expected);
  });

  it('intersects a scan range with a partition range', () => {
    const r = (start: string, end: string) => ({ start: b(start), end: b(end) });
    const show = (x: { start: Buffer; end: Buffer } | undefined) => (x === undefined ? undefined : [x.start.toString(), x.end.toString()]);
    expect(show(intersectRange(r('', ''), b('g'), b('p')))).toEqual(['g', 'p']);
    expect(show(intersectRange(r('a', 'h'), b('g'), b('')))).toEqual(['g', 'h']);
    expect(show(intersectRange(r('q', ''), b('g'), b('p')))).toBeUndefined();
    expect(show(intersectRange(r('h', 'j'), b(''), b('')))).toEqual(['h', 'j']);
  });

  it('gives the initial partitions the ranges their split keys bound', () => {
    expect(initialRanges([b('g'), b('p')]).map((r) => [r.start.toString(), r.end.toString()])).toEqual([['', 'g'], ['g', 'p'], ['p', '']]);
    expect(initialRanges([]).map((r) => [r.start.toString(), r.end.toString()])).toEqual([['', '']]);
  });

  it.each([
    [['a', 'b'], undefined],
    [['b', 'a'], 'split key 1 sorts before split key 0 (split keys must be strictly ascending)'],
    [['a', 'a'], 'split key 1 repeats split key 0'],
    [['a', ''], 'split key 1 is empty'],
  ])('splitKeysProblem(%j) is %j', (keys, expected) => {
    expect(splitKeysProblem(keys.map(b))).toBe(expected);
  });

  // Partition ids in creation order: 0 = ['', g) after splits at g and p made 1 = [p, '') and 2 = [g, p).
  const index = new RangeIndex(entry([rec(0, '', 'g'), rec(1, 'p', ''), rec(2, 'g', 'p')]));

  it.each([
    ['', 0],
    ['a', 0],
    ['g', 2],
    ['os', 2],
    ['p', 1],
    ['zz', 1],
  ])('routes key %j to partition %i by range, not by id', (key, id) => {
    expect(index.partitionOf(b(key))).toBe(id);
  });

  it('routes nowhere for a key whose partition is not placed yet', () => {
    expect(new RangeIndex(entry([rec(0, '', 'g'), undefined])).partitionOf(b('x'))).toBeUndefined();
  });

  it('lists the partitions a scan touches in key order, each with its clipped bounds', () => {
    const parts = (start: string, end: string): [number, string, string][] =>
      index.overlapping(b(start), b(end)).map((p) => [p.partitionId, p.start.toString(), p.end.toString()]);
    expect(parts('', '')).toEqual([[0, '', 'g'], [2, 'g', 'p'], [1, 'p', '']]);
    expect(parts('h', 'k')).toEqual([[2, 'h', 'k']]);
    expect(parts('b', 'q')).toEqual([[0, 'b', 'g'], [2, 'g', 'p'], [1, 'p', 'q']]);
    expect(parts('g', 'p')).toEqual([[2, 'g', 'p']]);
    expect(parts('q', '')).toEqual([[1, 'q', '']]);
  });
});
