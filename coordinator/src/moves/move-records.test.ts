import { describe, expect, it } from 'vitest';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { addRangeKeyspace } from '../testing/range-fixtures.js';
import { carvingPartitions, plannerInputOf } from './move-records.js';

describe('plannerInputOf', () => {
  it('marks a partition still being carved by a split, and its parent, as moving so no move starts on either', () => {
    const view = viewOf({ live: ['n1', 'n2', 'n3', 'n4'] });
    const replicas = ['n1', 'n2', 'n3'];
    addRangeKeyspace(view, 'r', ['g'], [
      { id: 0, start: '', end: 'c', leader: 'n1', replicas, epoch: 2 },
      { id: 1, start: 'g', end: '', leader: 'n1', replicas },
      { id: 2, start: 'c', end: 'g', leader: 'n1', replicas, isr: ['n1'], epoch: 2, splitFrom: { parentPartitionId: 0, parentEpoch: 2 } },
    ], { partitionCount: 3, replicationFactor: 3 });
    const input = plannerInputOf(view, () => false, [], new Set());
    expect(input.partitions.map((p) => [p.partitionId, p.moving])).toEqual([
      [0, true],
      [1, false],
      [2, true],
    ]);
  });

  it('frees both once the split is carved (splitFrom cleared)', () => {
    const view = viewOf({ live: ['n1', 'n2'] });
    addRangeKeyspace(view, 'r', [], [
      { id: 0, start: '', end: 'c', leader: 'n1', epoch: 2 },
      { id: 1, start: 'c', end: '', leader: 'n1', epoch: 2 },
    ], { partitionCount: 2 });
    expect(plannerInputOf(view, () => false, [], new Set()).partitions.map((p) => p.moving)).toEqual([false, false]);
  });
});

describe('carvingPartitions', () => {
  it('lists every partition with splitFrom and its parent', () => {
    const origin = (parentPartitionId: number) => ({ parentPartitionId, parentEpoch: 1 });
    expect([...carvingPartitions([{ partitionId: 0, splitFrom: undefined }, undefined, { partitionId: 5, splitFrom: origin(0) }, { partitionId: 6, splitFrom: origin(5) }])].sort()).toEqual([0, 5, 6]);
  });
});
