import { describe, expect, it } from 'vitest';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { planPlacement } from './planner.js';

const counts = (plan: ReturnType<typeof planPlacement>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const a of plan.assignments) out[a.record.leader] = (out[a.record.leader] ?? 0) + 1;
  return out;
};

describe('planPlacement', () => {
  it('waits, with a reason, until nodesMin data nodes are live', () => {
    const plan = planPlacement(viewOf({ live: ['n1', 'n2'] }), { nodesMin: 3 });
    expect(plan).toEqual({ assignments: [], unassigned: 16, waitingFor: '2 of 3 data nodes are live' });
  });

  it('spreads 16 partitions over 3 nodes 6/5/5, deterministically by node id, leader = only replica = ISR at epoch 1', () => {
    const view = viewOf({ live: ['n3', 'n1', 'n2'] });
    const plan = planPlacement(view, { nodesMin: 3 });
    expect(counts(plan)).toEqual({ n1: 6, n2: 5, n3: 5 });
    expect(plan.assignments[0]?.record).toEqual({ keyspace: 'default', partitionId: 0, replicas: ['n1'], leader: 'n1', epoch: 1, isr: ['n1'] });
    expect(plan.assignments.map((a) => a.record.leader).slice(0, 4)).toEqual(['n1', 'n2', 'n3', 'n1']);
    expect(planPlacement(view, { nodesMin: 3 })).toEqual(plan);
    expect(plan.unassigned).toBe(0);
  });

  it('never moves an assigned partition, even when its node is down', () => {
    const assigned = Array.from({ length: 16 }, (_, id) => ({ id, leader: id < 8 ? 'gone' : 'n1' }));
    const plan = planPlacement(viewOf({ partitions: assigned, live: ['n1', 'n2'] }), { nodesMin: 1 });
    expect(plan.assignments).toEqual([]);
  });

  it('gives only unassigned partitions to new nodes, filling the least loaded first', () => {
    const assigned = Array.from({ length: 12 }, (_, id) => ({ id, leader: id % 2 === 0 ? 'n1' : 'n2' }));
    const plan = planPlacement(viewOf({ partitions: assigned, live: ['n1', 'n2', 'n3'] }), { nodesMin: 1 });
    expect(plan.assignments.map((a) => [a.record.partitionId, a.record.leader])).toEqual([
      [12, 'n3'],
      [13, 'n3'],
      [14, 'n3'],
      [15, 'n3'],
    ]);
  });

  it('plans every keyspace', () => {
    const plan = planPlacement(viewOf({ keyspaces: { a: 2, b: 3 }, live: ['n1'] }), { nodesMin: 1 });
    expect(plan.assignments.map((a) => `${a.record.keyspace}/${a.record.partitionId}`)).toEqual(['a/0', 'a/1', 'b/0', 'b/1', 'b/2']);
  });
});
