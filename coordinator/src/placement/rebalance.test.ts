import { describe, expect, it } from 'vitest';
import { planRebalance, type ProposedMove, type RebalanceNode, type RebalancePartition } from './rebalance.js';

const node = (nodeId: string, over: Partial<RebalanceNode> = {}): RebalanceNode => ({ nodeId, zone: '', capacity: Number.POSITIVE_INFINITY, live: true, draining: false, dead: false, ...over });

/** `count` partitions of replication `r` placed round robin over `nodeIds` (leader first). */
function placed(count: number, r: number, nodeIds: readonly string[]): RebalancePartition[] {
  return Array.from({ length: count }, (_, i) => {
    const replicas = Array.from({ length: r }, (_, k) => nodeIds[(i + k) % nodeIds.length] as string);
    return { keyspace: 'ks', partitionId: i, replicas, leader: replicas[0] as string, moving: false };
  });
}

const loads = (nodes: readonly RebalanceNode[], partitions: readonly RebalancePartition[]): Record<string, number> => {
  const out: Record<string, number> = Object.fromEntries(nodes.map((n) => [n.nodeId, 0]));
  for (const p of partitions) for (const r of p.replicas) out[r] = (out[r] ?? 0) + 1;
  return out;
};

/** Applies moves as if each finished. */
const apply = (partitions: readonly RebalancePartition[], moves: readonly ProposedMove[]): RebalancePartition[] =>
  partitions.map((p) => {
    const m = moves.find((x) => x.keyspace === p.keyspace && x.partitionId === p.partitionId);
    if (m === undefined) return p;
    const replicas = [...p.replicas.filter((r) => r !== m.source), m.target];
    return { ...p, replicas, leader: p.leader === m.source ? m.target : p.leader };
  });

/** Plans and applies until nothing is left; returns the final partitions and every move made. */
function converge(nodes: readonly RebalanceNode[], start: readonly RebalancePartition[], movesPerNodeMax = 2): { partitions: RebalancePartition[]; moves: ProposedMove[] } {
  let partitions = [...start];
  const all: ProposedMove[] = [];
  for (let round = 0; round < 200; round++) {
    const moves = planRebalance(nodes, partitions, [], { movesPerNodeMax });
    if (moves.length === 0) return { partitions, moves: all };
    all.push(...moves);
    partitions = apply(partitions, moves);
  }
  throw new Error('did not converge in 200 rounds');
}

const spread = (l: Record<string, number>, ids: readonly string[]): number => Math.max(...ids.map((id) => l[id] ?? 0)) - Math.min(...ids.map((id) => l[id] ?? 0));

describe('planRebalance', () => {
  it('proposes nothing for a balanced cluster', () => {
    const nodes = ['n1', 'n2', 'n3'].map((id) => node(id));
    expect(planRebalance(nodes, placed(16, 3, ['n1', 'n2', 'n3']), [], { movesPerNodeMax: 4 })).toEqual([]);
  });

  it('moves replicas onto nodes that joined until every node is within one (3 -> 5 nodes, replication 3)', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => node(id));
    const { partitions, moves } = converge(nodes, placed(16, 3, ['n1', 'n2', 'n3']));
    const l = loads(nodes, partitions);
    expect(spread(l, ['n1', 'n2', 'n3', 'n4', 'n5'])).toBeLessThanOrEqual(1);
    expect(moves.every((m) => m.reason === 'balance' && ['n4', 'n5'].includes(m.target))).toBe(true);
    // 48 replicas over 5 nodes: the new nodes get 9 or 10 each, and no more moves than that.
    expect(moves.length).toBe((l.n4 ?? 0) + (l.n5 ?? 0));
    for (const p of partitions) expect(new Set(p.replicas).size).toBe(3);
  });

  it('moves every replica at most once while moves finish one at a time (3 -> 4 nodes): the joined node waits for its own moves, the others are not shuffled', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
    // The record during a move lists the target as well (adding .. removing); the move ends with the source removed.
    let partitions = placed(8, 3, ['n1', 'n2', 'n3']);
    let inFlight: ProposedMove[] = [];
    const all: ProposedMove[] = [];
    for (let round = 0; round < 100; round++) {
      const moves = planRebalance(nodes, partitions, inFlight, { movesPerNodeMax: 2 });
      all.push(...moves);
      inFlight.push(...moves);
      partitions = partitions.map((p) => {
        const m = moves.find((x) => x.partitionId === p.partitionId);
        return m === undefined ? p : { ...p, replicas: [...p.replicas, m.target], moving: true };
      });
      const done = inFlight[0];
      if (done === undefined) break;
      inFlight = inFlight.slice(1);
      partitions = partitions.map((p) => (p.partitionId === done.partitionId ? { ...p, replicas: p.replicas.filter((r) => r !== done.source), moving: false } : p));
    }
    const l = loads(nodes, partitions);
    expect(spread(l, ['n1', 'n2', 'n3', 'n4'])).toBeLessThanOrEqual(1);
    expect(all.map((m) => m.target)).toEqual(['n4', 'n4', 'n4', 'n4', 'n4', 'n4']);
  });

  it('keeps every node within movesPerNodeMax moves, counting those in flight', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
    const moves = planRebalance(nodes, placed(12, 3, ['n1', 'n2', 'n3']), [{ keyspace: 'ks', partitionId: 0, source: 'n1', target: 'n4' }], { movesPerNodeMax: 2 });
    const part = new Map<string, number>([['n1', 1], ['n4', 1]]);
    for (const m of moves) for (const n of [m.source, m.target]) part.set(n, (part.get(n) ?? 0) + 1);
    expect(Math.max(...part.values())).toBeLessThanOrEqual(2);
    expect(moves.length).toBe(1); // n4 has room for one more
  });

  it('leaves a partition with a move in flight alone', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
    const partitions = placed(1, 3, ['n1', 'n2', 'n3']).map((p) => ({ ...p, moving: true }));
    expect(planRebalance([...nodes.slice(0, 3), node('n4', { draining: false })], partitions, [], { movesPerNodeMax: 9 })).toEqual([]);
    expect(planRebalance(nodes.map((n) => (n.nodeId === 'n1' ? { ...n, draining: true } : n)), partitions, [], { movesPerNodeMax: 9 })).toEqual([]);
  });

  it('moves every replica off a draining node, to nodes that are not draining, and none onto it', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => node(id, { draining: id === 'n5' }));
    const { partitions, moves } = converge(nodes, placed(20, 3, ['n1', 'n2', 'n3', 'n4', 'n5']), 3);
    const l = loads(nodes, partitions);
    expect(l.n5).toBe(0);
    expect(moves.filter((m) => m.reason === 'drain').every((m) => m.source === 'n5')).toBe(true);
    expect(moves.some((m) => m.target === 'n5')).toBe(false);
    expect(spread(l, ['n1', 'n2', 'n3', 'n4'])).toBeLessThanOrEqual(1);
  });

  it('re-creates the replicas of a dead node (repair) first, but waits for one that is only down', () => {
    const partitions = placed(8, 3, ['n1', 'n2', 'n3', 'n4']);
    const down = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id, { live: id !== 'n4' }));
    expect(planRebalance(down, partitions, [], { movesPerNodeMax: 99 }).filter((m) => m.source === 'n4')).toEqual([]);
    const dead = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id, { live: id !== 'n4', dead: id === 'n4' }));
    const moves = planRebalance(dead, partitions, [], { movesPerNodeMax: 99 });
    const onDead = partitions.filter((p) => p.replicas.includes('n4')).length;
    expect(moves.filter((m) => m.reason === 'repair')).toHaveLength(onDead);
    expect(moves.slice(0, onDead).every((m) => m.reason === 'repair' && m.source === 'n4')).toBe(true);
    // A dead source does no work: its replicas are not held back by the throttle.
    expect(planRebalance(dead, partitions, [], { movesPerNodeMax: 1 }).filter((m) => m.reason === 'repair').length).toBeGreaterThan(1);
  });

  it('re-creates a replica on a node the view no longer knows at all', () => {
    const nodes = ['n1', 'n2', 'n3'].map((id) => node(id));
    const partitions: RebalancePartition[] = [{ keyspace: 'ks', partitionId: 0, replicas: ['n1', 'gone'], leader: 'n1', moving: false }];
    expect(planRebalance(nodes, partitions, [], { movesPerNodeMax: 2 })).toEqual([{ keyspace: 'ks', partitionId: 0, source: 'gone', target: 'n2', reason: 'repair' }]);
  });

  it('keeps replicas in distinct zones: a drained node\'s replicas go to its zone\'s other node', () => {
    const zones: Record<string, string> = { n1: 'a', n2: 'a', n3: 'b', n4: 'b', n5: 'c', n6: 'c' };
    const nodes = Object.keys(zones).map((id) => node(id, { zone: zones[id] ?? '', draining: id === 'n1' }));
    // Every partition spans a, b, c.
    const partitions: RebalancePartition[] = Array.from({ length: 6 }, (_, i) => {
      const replicas = [i % 2 === 0 ? 'n1' : 'n2', i % 2 === 0 ? 'n3' : 'n4', i % 2 === 0 ? 'n5' : 'n6'];
      return { keyspace: 'ks', partitionId: i, replicas, leader: replicas[0] as string, moving: false };
    });
    const { partitions: after, moves } = converge(nodes, partitions, 3);
    expect(moves.filter((m) => m.reason === 'drain').every((m) => m.target === 'n2')).toBe(true);
    for (const p of after) expect(new Set(p.replicas.map((r) => zones[r])).size).toBe(3);
  });

  it('never lowers the zones a partition spans to balance, and balances within one when zones allow', () => {
    const zones: Record<string, string> = { n1: 'a', n2: 'b', n3: 'c', n4: 'a', n5: 'b', n6: 'c' };
    const nodes = Object.keys(zones).map((id) => node(id, { zone: zones[id] ?? '' }));
    const { partitions, moves } = converge(nodes, placed(18, 3, ['n1', 'n2', 'n3']), 4);
    expect(moves.length).toBeGreaterThan(0);
    for (const p of partitions) expect(new Set(p.replicas.map((r) => zones[r])).size).toBe(3);
    expect(spread(loads(nodes, partitions), Object.keys(zones))).toBeLessThanOrEqual(1);
  });

  it('moves a follower replica rather than one the source leads when it can', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
    const partitions: RebalancePartition[] = [
      { keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2'], leader: 'n1', moving: false },
      { keyspace: 'ks', partitionId: 1, replicas: ['n2', 'n1'], leader: 'n2', moving: false },
      { keyspace: 'ks', partitionId: 2, replicas: ['n1', 'n3'], leader: 'n1', moving: false },
    ];
    const moves = planRebalance(nodes, partitions, [], { movesPerNodeMax: 1 });
    expect(moves[0]).toEqual({ keyspace: 'ks', partitionId: 1, source: 'n1', target: 'n4', reason: 'balance' });
  });

  it('respects each node\'s capacity', () => {
    const nodes = [node('n1'), node('n2'), node('n3'), node('n4', { capacity: 2 })];
    const { partitions } = converge(nodes, placed(12, 3, ['n1', 'n2', 'n3']), 4);
    expect(loads(nodes, partitions).n4).toBe(2);
  });

  it('is deterministic', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => node(id));
    const partitions = placed(16, 3, ['n1', 'n2', 'n3']);
    expect(planRebalance(nodes, partitions, [], { movesPerNodeMax: 3 })).toEqual(planRebalance([...nodes].reverse(), [...partitions].reverse(), [], { movesPerNodeMax: 3 }));
  });
});
