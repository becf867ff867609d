/**
 * Network partitions as Jepsen grudges: a grudge maps each node to the set of nodes whose
 * packets it drops. Pure functions over node names, so each shape is unit-tested; the
 * partition nemesis turns a grudge into iptables rules (network.ts).
 */
import type { Rng } from '@quire/common';
import { pick } from './targets.js';

/** node → the nodes it drops packets from. */
export type Grudge = ReadonlyMap<string, ReadonlySet<string>>;

/** A complete grudge over components: every node drops every node outside its component. */
export function completeGrudge(components: readonly (readonly string[])[]): Grudge {
  const all = components.flat();
  const out = new Map<string, Set<string>>();
  for (const component of components) {
    const inside = new Set(component);
    for (const node of component) out.set(node, new Set(all.filter((n) => !inside.has(n))));
  }
  return out;
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  return pick(items, items.length, rng);
}

/** One node, chosen at random, isolated from all the others. */
export function isolateOne(nodes: readonly string[], rng: Rng): Grudge {
  const [victim] = pick(nodes, 1, rng);
  if (victim === undefined) return new Map();
  return completeGrudge([[victim], nodes.filter((n) => n !== victim)]);
}

/** The nodes split at random into two halves (the first has floor(n/2)). */
export function halves(nodes: readonly string[], rng: Rng): Grudge {
  const s = shuffle(nodes, rng);
  const cut = Math.floor(s.length / 2);
  return completeGrudge([s.slice(0, cut), s.slice(cut)]);
}

/**
 * Majorities ring: nodes in a shuffled ring, each sees only itself and its neighbours within
 * a majority, so every node sees a majority and no two see the same one (needs ≥ 5 nodes to
 * be interesting; with 3 it is a ring where each node sees everyone).
 */
export function majoritiesRing(nodes: readonly string[], rng: Rng): Grudge {
  const ring = shuffle(nodes, rng);
  const n = ring.length;
  const majority = Math.floor(n / 2) + 1;
  const out = new Map<string, Set<string>>();
  ring.forEach((node, i) => {
    const visible = new Set<string>();
    // A window of `majority` nodes centred on i.
    const before = Math.floor((majority - 1) / 2);
    for (let k = -before; k < majority - before; k++) visible.add(ring[(((i + k) % n) + n) % n] ?? node);
    out.set(node, new Set(ring.filter((x) => !visible.has(x))));
  });
  return out;
}

/** Bridge: two halves, except one node of the second half that stays connected to everyone. */
export function bridge(nodes: readonly string[], rng: Rng): Grudge {
  const s = shuffle(nodes, rng);
  const cut = Math.floor(s.length / 2);
  const first = s.slice(0, cut);
  const [bridgeNode, ...second] = s.slice(cut);
  const out = new Map<string, Set<string>>();
  for (const a of first) out.set(a, new Set(second));
  for (const b of second) out.set(b, new Set(first));
  if (bridgeNode !== undefined) out.set(bridgeNode, new Set());
  return out;
}

/** Each of `isolated` in its own singleton component, cut from every other node. */
export function isolateEach(nodes: readonly string[], isolated: readonly string[]): Grudge {
  const set = new Set(isolated);
  return completeGrudge([...isolated.map((n) => [n]), nodes.filter((n) => !set.has(n))]);
}

/**
 * Only the victims and the `cutFrom` nodes lose each other, both ways (e.g. a node cut from
 * etcd only, or a leader and a router cut from etcd together); victims keep hearing each other.
 */
export function cutLinks(victims: string | readonly string[], cutFrom: readonly string[]): Grudge {
  // A node on both sides would have to drop itself: it counts only among the cutFrom nodes.
  const list = [...new Set(typeof victims === 'string' ? [victims] : victims)].filter((v) => !cutFrom.includes(v));
  const out = new Map<string, Set<string>>();
  for (const v of list) out.set(v, new Set(cutFrom));
  for (const n of cutFrom) out.set(n, new Set(list));
  return out;
}

/** The directed links a grudge cuts, as [dropper, source] pairs, sorted. */
export function cutPairs(grudge: Grudge): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [node, dropped] of grudge) for (const src of dropped) pairs.push([node, src]);
  return pairs.sort((a, b) => (a[0] === b[0] ? a[1].localeCompare(b[1]) : a[0].localeCompare(b[0])));
}
