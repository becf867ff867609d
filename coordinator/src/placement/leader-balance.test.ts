import { describe, expect, it } from 'vitest';
import { planLeaderBalance, type LeaderBalancePartition } from './leader-balance.js';

/** `count` partitions of replication 3 on n1..n3, all led by `leader`, all in sync. */
const ledBy = (leader: string, count: number, from = 0, isr = ['n1', 'n2', 'n3']): LeaderBalancePartition[] =>
  Array.from({ length: count }, (_, i) => ({ keyspace: 'default', partitionId: from + i, leader, epoch: 4, isr, busy: false }));

/** Applies transfers and returns leaderships per node. */
function apply(partitions: LeaderBalancePartition[], eligible: Set<string>, transfersMax = 100): Map<string, number> {
  const transfers = planLeaderBalance(partitions, eligible, transfersMax);
  const byId = new Map(partitions.map((p) => [`${p.keyspace}/${p.partitionId}`, p]));
  for (const t of transfers) {
    const p = byId.get(`${t.keyspace}/${t.partitionId}`)!;
    expect(p.leader).toBe(t.from);
    expect(p.isr).toContain(t.to);
    expect(eligible.has(t.to)).toBe(true);
    byId.set(`${t.keyspace}/${t.partitionId}`, { ...p, leader: t.to, epoch: p.epoch + 1 });
  }
  const counts = new Map([...eligible].map((n) => [n, 0]));
  for (const p of byId.values()) if (counts.has(p.leader)) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return counts;
}

describe('planLeaderBalance', () => {
  it.each([
    ['one node leads all 16 (the others restarted)', ledBy('n1', 16), ['n1', 'n2', 'n3'], [6, 5, 5]],
    ['a node that came back leads nothing', [...ledBy('n1', 8), ...ledBy('n2', 8, 8)], ['n1', 'n2', 'n3'], [6, 5, 5]],
    ['already within one: nothing moves', [...ledBy('n1', 6), ...ledBy('n2', 5, 6), ...ledBy('n3', 5, 11)], ['n1', 'n2', 'n3'], [6, 5, 5]],
  ])('%s', (_what, partitions, nodes, expected) => {
    const counts = apply(partitions, new Set(nodes));
    expect([...counts.values()].sort((a, b) => b - a)).toEqual(expected);
  });

  it('moves nothing when already within one', () => {
    expect(planLeaderBalance([...ledBy('n1', 2), ...ledBy('n2', 1, 2), ...ledBy('n3', 1, 3)], new Set(['n1', 'n2', 'n3']), 10)).toEqual([]);
  });

  it('transfers only to in-sync replicas', () => {
    // n3 is a replica of none of n1's partitions' ISRs: it cannot take any of them.
    const partitions = ledBy('n1', 6, 0, ['n1', 'n2']);
    const counts = apply(partitions, new Set(['n1', 'n2', 'n3']));
    expect(Object.fromEntries(counts)).toEqual({ n1: 3, n2: 3, n3: 0 });
  });

  it('leaves busy partitions (a move or a transfer in flight) alone', () => {
    const partitions = ledBy('n1', 4).map((p) => ({ ...p, busy: true }));
    expect(planLeaderBalance(partitions, new Set(['n1', 'n2', 'n3']), 10)).toEqual([]);
  });

  it('gives draining and down nodes no leaderships and does not count theirs', () => {
    const partitions = [...ledBy('n1', 6), ...ledBy('n4', 3, 6, ['n4', 'n2', 'n3'])];
    const transfers = planLeaderBalance(partitions, new Set(['n1', 'n2', 'n3']), 100);
    expect(transfers.every((t) => t.from === 'n1' && t.to !== 'n4')).toBe(true);
    expect(transfers).toHaveLength(4); // n1 6 -> 2, n2 2, n3 2
  });

  it('stops at transfersMax and carries the epoch the leader leads at', () => {
    const transfers = planLeaderBalance(ledBy('n1', 16), new Set(['n1', 'n2', 'n3']), 3);
    expect(transfers).toHaveLength(3);
    expect(transfers.map((t) => t.epoch)).toEqual([4, 4, 4]);
    expect(transfers.map((t) => t.to)).toEqual(['n2', 'n3', 'n2']);
  });
});
