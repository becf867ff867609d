/**
 * Finds and classifies cycles inside one strongly connected component of the dependency
 * graph. For each anomaly type the search looks for a short cycle made only of the edge labels
 * the type allows and holding the counts it requires (e.g. G-single: ww/wr/rw edges with
 * exactly one rw). It anchors the cycle on an edge of the type's distinguishing label (ww for
 * G0, wr for G1c, rw for G-single and G2, rt for every realtime variant) and runs a
 * breadth-first search back from the anchor's target to its source over (node, rw count,
 * wr seen) states, so the cycle found is the shortest through that anchor. A realtime variant
 * is searched only when the plain type was not found: it is reported when a real-time edge is
 * *needed*.
 *
 * Invariants: only edges inside the component (and inside the sub-component of the allowed
 * labels) are followed; every edge examined takes one budget step; a cycle returned satisfies
 * its type's constraints by construction.
 */
import { assert } from '../assert.js';
import type { StepBudget } from '../step-budget.js';
import type { CycleAnomalyType, EdgeLabel } from './anomaly.js';
import type { DependencyGraph, Edge } from './dependency-graph.js';
import { stronglyConnected } from './strongly-connected.js';

interface CycleShape {
  readonly type: CycleAnomalyType;
  readonly labels: ReadonlySet<EdgeLabel>;
  /** The label of the edge every cycle is anchored on; 'any' anchors on every edge. */
  readonly anchor: EdgeLabel | 'any';
  /** Fewest and most rw edges (counts above 2 are not tracked: 2 means "2 or more"). */
  readonly rwMin: number;
  readonly rwMax: number;
  readonly wrMin: number;
}

const plain = new Set<EdgeLabel>(['ww', 'wr', 'rw']);
const withRealtime = new Set<EdgeLabel>(['ww', 'wr', 'rw', 'rt']);
const shapes: readonly CycleShape[] = [
  { type: 'G0', labels: new Set(['ww']), anchor: 'ww', rwMin: 0, rwMax: 0, wrMin: 0 },
  { type: 'G1c', labels: new Set(['ww', 'wr']), anchor: 'wr', rwMin: 0, rwMax: 0, wrMin: 1 },
  { type: 'G-single', labels: plain, anchor: 'rw', rwMin: 1, rwMax: 1, wrMin: 0 },
  { type: 'G2', labels: plain, anchor: 'rw', rwMin: 2, rwMax: 2, wrMin: 0 },
  { type: 'G0-realtime', labels: new Set(['ww', 'rt']), anchor: 'rt', rwMin: 0, rwMax: 0, wrMin: 0 },
  { type: 'G1c-realtime', labels: new Set(['ww', 'wr', 'rt']), anchor: 'rt', rwMin: 0, rwMax: 0, wrMin: 1 },
  { type: 'G-single-realtime', labels: withRealtime, anchor: 'rt', rwMin: 1, rwMax: 1, wrMin: 0 },
  { type: 'G2-realtime', labels: withRealtime, anchor: 'rt', rwMin: 2, rwMax: 2, wrMin: 0 },
];

/** A classified cycle: its edges in order, each leading to the next, the last back to the first. */
export interface FoundCycle {
  readonly type: CycleAnomalyType;
  readonly edges: readonly Edge[];
}

/** The cycles of one component, and whether the budget ran out before every type was searched. */
export interface ComponentCycles {
  readonly cycles: readonly FoundCycle[];
  readonly exhausted: boolean;
}

/** Searches one strongly connected component (`members`, ascending ids) for each cycle type. */
export function classifyComponent(graph: DependencyGraph, members: readonly number[], budget: StepBudget): ComponentCycles {
  const cycles: FoundCycle[] = [];
  const found = new Set<CycleAnomalyType>();
  for (const shape of shapes) {
    if (shape.anchor === 'rt' && found.has(shape.type.replace('-realtime', '') as CycleAnomalyType)) continue;
    const edges = findCycle(graph, members, shape, budget);
    if (edges === null) return { cycles, exhausted: true };
    if (edges === undefined) continue;
    assert(classifyCycle(edges) === shape.type, `A ${shape.type} search returned a ${classifyCycle(edges)} cycle`);
    cycles.push({ type: shape.type, edges });
    found.add(shape.type);
  }
  if (cycles.length === 0) {
    // Every component holds a simple cycle, but the searches above skip paths that reach a
    // state already reached another way, so in rare graphs they can miss all of them. The
    // shortest cycle through one member is always found; classify it by its labels.
    const edges = findCycle(graph, members, { type: 'G2-realtime', labels: withRealtime, anchor: 'any', rwMin: 0, rwMax: 2, wrMin: 0 }, budget);
    if (edges === null) return { cycles, exhausted: true };
    assert(edges !== undefined, 'A strongly connected component has no cycle');
    cycles.push({ type: classifyCycle(edges), edges });
  }
  return { cycles, exhausted: false };
}

/** A cycle of the shape, undefined if there is none, null if the budget ran out. */
function findCycle(graph: DependencyGraph, members: readonly number[], shape: CycleShape, budget: StepBudget): readonly Edge[] | undefined | null {
  const memberSet = new Set(members);
  const allowed = (edge: Edge): boolean => shape.labels.has(edge.label) && memberSet.has(edge.to);
  const sub = stronglyConnected(members, (node) => (graph.outgoing[node] ?? []).filter(allowed).map((e) => e.to), budget);
  if (sub === null) return null;
  for (const source of members) {
    for (const anchor of graph.outgoing[source] ?? []) {
      if ((shape.anchor !== 'any' && anchor.label !== shape.anchor) || !allowed(anchor) || sub.get(source) !== sub.get(anchor.to)) continue;
      const path = shortestPath(graph, anchor, shape, (node) => sub.get(node) === sub.get(source), budget);
      if (path === null) return null;
      if (path !== undefined) return [anchor, ...path];
    }
  }
  return undefined;
}

/**
 * The shortest path from the anchor's target back to its source that completes a cycle of the
 * shape; undefined if none, null if the budget ran out.
 */
function shortestPath(graph: DependencyGraph, anchor: Edge, shape: CycleShape, inside: (node: number) => boolean, budget: StepBudget): readonly Edge[] | undefined | null {
  // A state packs the node with the rw count so far (0..2) and whether a wr edge was used.
  const pack = (node: number, rw: number, wr: number): number => node * 6 + rw * 2 + wr;
  const start = pack(anchor.to, anchor.label === 'rw' ? 1 : 0, anchor.label === 'wr' ? 1 : 0);
  const cameFrom = new Map<number, { state: number; edge: Edge } | null>([[start, null]]);
  let frontier = [start];
  while (frontier.length > 0) {
    const following: number[] = [];
    for (const state of frontier) {
      const node = Math.floor(state / 6);
      const rw = Math.floor((state % 6) / 2);
      const wr = state % 2;
      if (node === anchor.from) {
        // The cycle closes here; a walk that went on through the anchor's source would not be
        // a simple cycle, and its edge counts would not describe one.
        if (rw < shape.rwMin || wr < shape.wrMin) continue;
        const path: Edge[] = [];
        for (let step = cameFrom.get(state); step !== null && step !== undefined; step = cameFrom.get(step.state)) path.push(step.edge);
        return path.reverse();
      }
      for (const edge of graph.outgoing[node] ?? []) {
        if (!budget.take()) return null;
        if (!shape.labels.has(edge.label) || !inside(edge.to)) continue;
        const rwNext = Math.min(2, rw + (edge.label === 'rw' ? 1 : 0));
        if (rwNext > shape.rwMax) continue;
        const next = pack(edge.to, rwNext, edge.label === 'wr' ? 1 : wr);
        if (cameFrom.has(next) || onPath(cameFrom, state, edge.to)) continue;
        cameFrom.set(next, { state, edge });
        following.push(next);
      }
    }
    frontier = following;
  }
  return undefined;
}

/** True when `node` is on the path that reached `state` (keeps cycles simple). */
function onPath(cameFrom: ReadonlyMap<number, { state: number; edge: Edge } | null>, state: number, node: number): boolean {
  for (let current: number | undefined = state; current !== undefined; ) {
    if (Math.floor(current / 6) === node) return true;
    current = cameFrom.get(current)?.state;
  }
  return false;
}

/** The type of a simple cycle from its edge labels. */
export function classifyCycle(edges: readonly Edge[]): CycleAnomalyType {
  const rw = edges.filter((e) => e.label === 'rw').length;
  const wr = edges.some((e) => e.label === 'wr');
  const base: CycleAnomalyType = rw >= 2 ? 'G2' : rw === 1 ? 'G-single' : wr ? 'G1c' : 'G0';
  return edges.some((e) => e.label === 'rt') ? (`${base}-realtime` as CycleAnomalyType) : base;
}
