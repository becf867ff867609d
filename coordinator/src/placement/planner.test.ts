import { describe, expect, it } from 'vitest';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { addRangeKeyspace } from '../testing/range-fixtures.js';
import { planPlacement } from './planner.js';

/** The key range of a HASH partition's record: none. */
const hash = { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined };

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
    expect(plan.assignments[0]?.record).toEqual({ ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1'], leader: 'n1', epoch: 1, isr: ['n1'] });
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

  describe('with a replication factor above 1', () => {
    const replicaCounts = (plan: ReturnType<typeof planPlacement>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const a of plan.assignments) for (const r of a.record.replicas) out[r] = (out[r] ?? 0) + 1;
      return out;
    };
    const spread = (byNode: Record<string, number>): number => Math.max(...Object.values(byNode)) - Math.min(...Object.values(byNode));

    it('R=3 on 3 nodes puts every partition on all 3 and spreads 3 leaders 1/1/1, ISR = replicas with the leader first', () => {
      const plan = planPlacement(viewOf({ keyspaces: { default: 3 }, replicationFactors: { default: 3 }, live: ['n3', 'n1', 'n2'] }), { nodesMin: 1 });
      expect(plan.assignments.map((a) => a.record)).toEqual([
        { ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 1, isr: ['n1', 'n2', 'n3'] },
        { ...hash, keyspace: 'default', partitionId: 1, replicas: ['n2', 'n1', 'n3'], leader: 'n2', epoch: 1, isr: ['n2', 'n1', 'n3'] },
        { ...hash, keyspace: 'default', partitionId: 2, replicas: ['n3', 'n1', 'n2'], leader: 'n3', epoch: 1, isr: ['n3', 'n1', 'n2'] },
      ]);
      expect(plan).toMatchObject({ unassigned: 0, waitingFor: undefined });
    });

    it('R=3 on 3 nodes spreads 8 leaders within one of each other', () => {
      const plan = planPlacement(viewOf({ keyspaces: { default: 8 }, replicationFactors: { default: 3 }, live: ['n1', 'n2', 'n3'] }), { nodesMin: 3 });
      expect(plan.assignments).toHaveLength(8);
      expect(replicaCounts(plan)).toEqual({ n1: 8, n2: 8, n3: 8 });
      expect(counts(plan)).toEqual({ n1: 3, n2: 3, n3: 2 });
      expect(spread(counts(plan))).toBeLessThanOrEqual(1);
    });

    it('R=2 on 4 nodes keeps replica and leader counts within one of each other, deterministically', () => {
      for (const partitions of [5, 16, 17]) {
        const view = viewOf({ keyspaces: { default: partitions }, replicationFactors: { default: 2 }, live: ['n1', 'n2', 'n3', 'n4'] });
        const plan = planPlacement(view, { nodesMin: 1 });
        expect(plan.assignments).toHaveLength(partitions);
        expect(Object.keys(replicaCounts(plan)).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
        expect(spread(replicaCounts(plan))).toBeLessThanOrEqual(1);
        expect(Object.values(replicaCounts(plan)).reduce((a, b) => a + b, 0)).toBe(2 * partitions);
        expect(spread({ n1: 0, n2: 0, n3: 0, n4: 0, ...counts(plan) })).toBeLessThanOrEqual(1);
        expect(planPlacement(view, { nodesMin: 1 })).toEqual(plan);
      }
    });

    it('gives every partition R distinct nodes with leader ∈ ISR = replicas', () => {
      const plan = planPlacement(viewOf({ keyspaces: { default: 32 }, replicationFactors: { default: 3 }, live: ['n1', 'n2', 'n3', 'n4', 'n5'] }), { nodesMin: 1 });
      expect(plan.assignments).toHaveLength(32);
      for (const { record } of plan.assignments) {
        expect(record.replicas).toHaveLength(3);
        expect(new Set(record.replicas).size).toBe(3);
        expect(record.replicas[0]).toBe(record.leader);
        expect(record.isr).toEqual(record.replicas);
        expect(record.epoch).toBe(1);
      }
      expect(spread(replicaCounts(plan))).toBeLessThanOrEqual(1);
      expect(spread(counts(plan))).toBeLessThanOrEqual(1);
    });

    it('waits, with a reason naming the replication factor, while fewer than R nodes are live', () => {
      const view = viewOf({ keyspaces: { default: 4 }, replicationFactors: { default: 3 }, live: ['n1', 'n2'] });
      expect(planPlacement(view, { nodesMin: 1 })).toEqual({ assignments: [], unassigned: 4, waitingFor: '2 of 3 data nodes are live (replication factor 3)' });
      expect(planPlacement(view, { nodesMin: 4 })).toEqual({ assignments: [], unassigned: 4, waitingFor: '2 of 4 data nodes are live' });
    });

    it('places a keyspace whose R is met while another waits for more nodes', () => {
      const view = viewOf({ keyspaces: { a: 2, b: 2 }, replicationFactors: { a: 2, b: 3 }, live: ['n1', 'n2'] });
      const plan = planPlacement(view, { nodesMin: 1 });
      expect(plan.assignments.map((a) => [a.record.keyspace, a.record.partitionId, a.record.replicas])).toEqual([
        ['a', 0, ['n1', 'n2']],
        ['a', 1, ['n2', 'n1']],
      ]);
      expect(plan).toMatchObject({ unassigned: 2, waitingFor: '2 of 3 data nodes are live (replication factor 3)' });
    });

    it('counts the replicas and leaderships of assigned partitions, and leaves those partitions alone', () => {
      const assigned = [
        { id: 0, leader: 'n1', replicas: ['n1', 'n2'], isr: ['n1', 'n2'] },
        { id: 1, leader: 'n1', replicas: ['n1', 'n2'], isr: ['n1'] },
      ];
      const view = viewOf({ keyspaces: { default: 4 }, replicationFactors: { default: 2 }, partitions: assigned, live: ['n1', 'n2', 'n3'] });
      const plan = planPlacement(view, { nodesMin: 1 });
      expect(plan.assignments.map((a) => a.record)).toEqual([
        { ...hash, keyspace: 'default', partitionId: 2, replicas: ['n3', 'n1'], leader: 'n3', epoch: 1, isr: ['n3', 'n1'] },
        { ...hash, keyspace: 'default', partitionId: 3, replicas: ['n2', 'n3'], leader: 'n2', epoch: 1, isr: ['n2', 'n3'] },
      ]);
    });
  });

  describe('with node capacities (partitions_max)', () => {
    it('never gives a node more replicas than its partitions_max, and fills the others instead', () => {
      const plan = planPlacement(viewOf({ live: ['n1', 'n2', 'n3'], partitionsMax: { n1: 2 } }), { nodesMin: 1 });
      expect(counts(plan)).toEqual({ n1: 2, n2: 7, n3: 7 });
      expect(plan).toMatchObject({ unassigned: 0, waitingFor: undefined });
    });

    it('leaves partitions unassigned, with a reason, when too few nodes have room for R replicas', () => {
      const view = viewOf({ live: ['n1', 'n2', 'n3'], replicationFactors: { default: 3 }, partitionsMax: { n1: 4, n2: 10, n3: 10 } });
      const plan = planPlacement(view, { nodesMin: 1 });
      expect(plan.assignments).toHaveLength(4);
      expect(plan.unassigned).toBe(12);
      expect(plan.waitingFor).toBe('2 of the 3 data nodes default/4 needs have room for another replica (--partitions-max)');
    });

    it('counts replicas already placed against the capacity', () => {
      const partitions = Array.from({ length: 3 }, (_, id) => ({ id, leader: 'n1' }));
      const plan = planPlacement(viewOf({ partitions, live: ['n1', 'n2'], partitionsMax: { n1: 3, n2: 100 } }), { nodesMin: 1 });
      expect(counts(plan)).toEqual({ n2: 13 });
    });
  });

  describe('with zones', () => {
    const zonesOf = (plan: ReturnType<typeof planPlacement>, zones: Record<string, string>): string[][] => plan.assignments.map((a) => a.record.replicas.map((r) => zones[r] ?? r).sort());
    const perNode = (plan: ReturnType<typeof planPlacement>): number[] => {
      const n = new Map<string, number>();
      for (const a of plan.assignments) for (const r of a.record.replicas) n.set(r, (n.get(r) ?? 0) + 1);
      return [...n.values()];
    };

    it('puts the R replicas of every partition in R distinct zones, replicas and leaders balanced within one', () => {
      const zones = { n1: 'a', n2: 'a', n3: 'b', n4: 'b', n5: 'c', n6: 'c' };
      const plan = planPlacement(viewOf({ live: Object.keys(zones), zones, replicationFactors: { default: 3 } }), { nodesMin: 1 });
      expect(plan.unassigned).toBe(0);
      for (const z of zonesOf(plan, zones)) expect(z).toEqual(['a', 'b', 'c']);
      const replicas = perNode(plan);
      expect(Math.max(...replicas) - Math.min(...replicas)).toBeLessThanOrEqual(1);
      const leaders = Object.values(counts(plan));
      expect(leaders).toHaveLength(6);
      expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
    });

    it('with fewer zones than R, spreads each partition over every zone and never puts all R in one', () => {
      const zones = { n1: 'a', n2: 'a', n3: 'b', n4: 'b' };
      const plan = planPlacement(viewOf({ live: Object.keys(zones), zones, replicationFactors: { default: 3 } }), { nodesMin: 1 });
      for (const z of zonesOf(plan, zones)) expect(new Set(z)).toEqual(new Set(['a', 'b']));
    });

    it('treats a node without a zone as a zone of its own', () => {
      const zones = { n1: 'a', n2: 'a' };
      const plan = planPlacement(viewOf({ live: ['n1', 'n2', 'n3'], zones, replicationFactors: { default: 2 } }), { nodesMin: 1 });
      // Every partition has n3 (its own zone) and one of zone a's nodes.
      for (const a of plan.assignments) expect(a.record.replicas).toContain('n3');
      for (const z of zonesOf(plan, zones)) expect(z).toEqual(['a', 'n3']);
    });

    it('chooses exactly as without zones when every node is in its own zone', () => {
      const live = ['n1', 'n2', 'n3', 'n4'];
      const without = planPlacement(viewOf({ live, replicationFactors: { default: 2 } }), { nodesMin: 1 });
      const distinct = planPlacement(viewOf({ live, zones: { n1: 'w', n2: 'x', n3: 'y', n4: 'z' }, replicationFactors: { default: 2 } }), { nodesMin: 1 });
      expect(distinct).toEqual(without);
    });
  });

  describe('RANGE keyspaces', () => {
    it('gives the initial partitions the ranges their split keys bound, and HASH partitions none', () => {
      const view = viewOf({ keyspaces: { default: 1 }, live: ['n1', 'n2'] });
      addRangeKeyspace(view, 'r', ['g', 'p'], []);
      const plan = planPlacement(view, { nodesMin: 1 });
      const ranges = plan.assignments.map((a) => [a.record.keyspace, a.record.partitionId, a.record.startKey.toString(), a.record.endKey.toString(), a.record.splitFrom]);
      expect(ranges).toEqual([
        ['default', 0, '', '', undefined],
        ['r', 0, '', 'g', undefined],
        ['r', 1, 'g', 'p', undefined],
        ['r', 2, 'p', '', undefined],
      ]);
    });

    it('never creates a record for an id past the initial ones (a split writes those)', () => {
      const view = viewOf({ live: ['n1'] });
      // Created with one split key (partitions 0 and 1); partition 2 came from a split whose record is missing.
      addRangeKeyspace(view, 'r', ['g'], [{ id: 0, start: '', end: 'g', leader: 'n1' }], { partitionCount: 3 });
      const plan = planPlacement(view, { nodesMin: 1 });
      expect(plan.assignments.filter((a) => a.record.keyspace === 'r').map((a) => [a.record.partitionId, a.record.startKey.toString(), a.record.endKey.toString()])).toEqual([[1, 'g', '']]);
    });
  });
});
