import { describe, expect, it } from 'vitest';
import { seededRng } from '@quire/common';
import { bridge, completeGrudge, cutLinks, cutPairs, halves, isolateEach, isolateOne, majoritiesRing, type Grudge } from './grudge.js';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** The nodes each node can still hear (itself included). */
function visible(g: Grudge, all: readonly string[]): Map<string, string[]> {
  return new Map(all.map((n) => [n, all.filter((m) => !(g.get(n)?.has(m) ?? false))]));
}

describe('grudges', () => {
  it('cuts every link between components of a complete grudge and none inside them', () => {
    const g = completeGrudge([['n1'], ['n2', 'n3']]);
    expect(cutPairs(g)).toEqual([['n1', 'n2'], ['n1', 'n3'], ['n2', 'n1'], ['n3', 'n1']]);
  });

  it('isolates exactly one node, symmetrically', () => {
    const g = isolateOne(nodes, seededRng(1));
    const isolated = nodes.filter((n) => (g.get(n)?.size ?? 0) === nodes.length - 1);
    expect(isolated).toHaveLength(1);
    for (const n of nodes) if (n !== isolated[0]) expect([...(g.get(n) ?? [])]).toEqual(isolated);
  });

  it('splits into halves of 2 and 3 where nobody hears the other side', () => {
    const g = halves(nodes, seededRng(7));
    const sizes = [...visible(g, nodes).values()].map((v) => v.length).sort();
    expect(sizes).toEqual([2, 2, 3, 3, 3]);
  });

  it('gives every node a different majority in the majorities ring', () => {
    const v = visible(majoritiesRing(nodes, seededRng(3)), nodes);
    const views = [...v.values()].map((x) => [...x].sort().join(','));
    for (const view of v.values()) expect(view.length).toBe(3);
    expect(new Set(views).size).toBe(5);
  });

  it('keeps the bridge node connected to both halves, which cannot hear each other', () => {
    const g = bridge(nodes, seededRng(11));
    const v = visible(g, nodes);
    const bridges = nodes.filter((n) => v.get(n)?.length === 5);
    expect(bridges).toHaveLength(1);
    const others = nodes.filter((n) => n !== bridges[0]);
    for (const n of others) expect(v.get(n)).toContain(bridges[0]);
    expect(cutPairs(g).length).toBe(8);
  });

  it('puts each isolated leader in its own singleton', () => {
    const g = isolateEach(nodes, ['n1', 'n4']);
    const v = visible(g, nodes);
    expect(v.get('n1')).toEqual(['n1']);
    expect(v.get('n4')).toEqual(['n4']);
    expect(v.get('n2')).toEqual(['n2', 'n3', 'n5']);
  });

  it('cuts only the named links, both ways', () => {
    expect(cutPairs(cutLinks('n1', ['etcd1']))).toEqual([['etcd1', 'n1'], ['n1', 'etcd1']]);
    // Several victims (a leader and a router): each loses etcd, they keep each other.
    expect(cutPairs(cutLinks(['n1', 'r2'], ['etcd1']))).toEqual([['etcd1', 'n1'], ['etcd1', 'r2'], ['n1', 'etcd1'], ['r2', 'etcd1']]);
    // A repeated victim counts once, and one named on both sides is only cut from.
    expect(cutPairs(cutLinks(['n1', 'n1', 'etcd1'], ['etcd1']))).toEqual([['etcd1', 'n1'], ['n1', 'etcd1']]);
  });
});
