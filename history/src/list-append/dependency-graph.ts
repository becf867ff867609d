/**
 * The dependency graph of a list-append history (Adya's, as Elle infers it). Nodes are the ok
 * transactions plus the indeterminate ones whose appends some read observed (those certainly
 * committed). Edges, each with the reason it exists:
 * - ww: T1 appended element e_i of a key and T2 appended e_(i+1);
 * - wr: T2's first read of a key (before any append of its own to it) ended in T1's element;
 * - rw: T1's first read of a key ended at e_i (or was empty) and T2 appended e_(i+1);
 * - rt: T1 completed before T2 was invoked (strict serializability's real-time order).
 *
 * Invariants: no self-edges; at most one edge per (from, to, label); ww and rw edges only from
 * keys with a version order; rt edges are a transitive reduction of real-time order (a
 * completed transaction stops getting successors once a later-completed one has it as a
 * predecessor), which keeps them near-linear in number yet preserves every rt path; equal
 * timestamps are concurrent (invocations are processed before completions at the same time).
 */
import { formatKey } from '../history-event.js';
import type { EdgeLabel } from './anomaly.js';
import type { Txn } from './txn-operations.js';
import { isPrefix, writerOf, type VersionOrders } from './version-order.js';

/** A dependency edge between transaction ids. */
export interface Edge {
  readonly from: number;
  readonly to: number;
  readonly label: EdgeLabel;
  /** Why the edge exists; rendered only for the edges a report shows. */
  readonly why: () => string;
}

/** The graph: adjacency lists indexed by transaction id. */
export interface DependencyGraph {
  /** Transaction ids that are nodes, ascending. */
  readonly nodes: readonly number[];
  readonly inGraph: readonly boolean[];
  readonly outgoing: readonly (readonly Edge[])[];
  readonly edgeCounts: Readonly<Record<EdgeLabel, number>>;
}

/** Builds the dependency graph. */
export function buildDependencyGraph(txns: readonly Txn[], versions: VersionOrders): DependencyGraph {
  // An element was observed if some ok read holds it: the key's longest read holds every
  // element of the reads that are its prefixes, so only the other reads are scanned.
  const observedElsewhere = new Map<string, Set<number>>();
  for (const [keyId, key] of versions.byKey) {
    for (const read of key.reads) {
      if (isPrefix(read.value, key.longest)) continue;
      const set = observedElsewhere.get(keyId) ?? new Set<number>();
      observedElsewhere.set(keyId, set);
      for (const e of read.value) set.add(e);
    }
  }
  const longestSets = new Map<string, ReadonlySet<number>>();
  const observed = (keyId: string, value: number): boolean => {
    let set = longestSets.get(keyId);
    if (set === undefined) {
      set = new Set(versions.byKey.get(keyId)?.longest ?? []);
      longestSets.set(keyId, set);
    }
    return set.has(value) || observedElsewhere.get(keyId)?.has(value) === true;
  };
  const inGraph = txns.map((txn) => txn.operation.outcome === 'ok' || (txn.operation.outcome === 'info' && txn.ops.some((op) => op.f === 'append' && observed(op.keyId, op.value))));
  const outgoing: Edge[][] = txns.map(() => []);
  const edgeKeys = new Set<string>();
  const edgeCounts: Record<EdgeLabel, number> = { ww: 0, wr: 0, rw: 0, rt: 0 };
  const add = (from: Txn, to: Txn, label: EdgeLabel, why: () => string): void => {
    if (from === to || inGraph[from.id] !== true || inGraph[to.id] !== true) return;
    const key = `${from.id},${to.id},${label}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    edgeCounts[label]++;
    outgoing[from.id]?.push({ from: from.id, to: to.id, label, why });
  };
  const writer = (keyId: string, value: number): Txn | undefined => writerOf(versions, keyId, value)?.txn;

  // ww: consecutive elements of each version order.
  for (const [keyId, { order }] of versions.byKey) {
    if (order === null) continue;
    for (let i = 0; i + 1 < order.length; i++) {
      const [a, b] = [order[i] as number, order[i + 1] as number];
      const [first, second] = [writer(keyId, a), writer(keyId, b)];
      if (first === undefined || second === undefined) continue;
      const key = keyOf(first, keyId);
      add(first, second, 'ww', () => `${first.name} appended ${a} to ${key} and ${second.name} appended the next element, ${b}`);
    }
  }
  // wr and rw from each ok transaction's external reads (its first micro-op on a key is a read).
  for (const txn of txns) {
    if (txn.operation.outcome !== 'ok') continue;
    const touched = new Set<string>();
    for (const op of txn.ops) {
      if (touched.has(op.keyId)) continue;
      touched.add(op.keyId);
      if (op.f !== 'r' || op.value === null) continue;
      const read = op.value;
      // Reads can hold thousands of elements: render one only when an edge needs it.
      const shown = (): string => `${txn.name} read ${formatKey(op.key)} = [${read.join(' ')}]`;
      const last = read.at(-1);
      if (last !== undefined) {
        const source = writer(op.keyId, last);
        if (source !== undefined) add(source, txn, 'wr', () => `${shown()}, observing ${source.name}'s append of ${last}`);
      }
      const order = versions.byKey.get(op.keyId)?.order ?? undefined;
      const nextElement = order?.[read.length];
      // A key with an order has only reads that are prefixes of it, so order[read.length] is
      // the element appended right after what this read saw.
      if (order === undefined || nextElement === undefined) continue;
      const successor = writer(op.keyId, nextElement);
      if (successor !== undefined) add(txn, successor, 'rw', () => `${shown()}, which does not include ${successor.name}'s append of ${nextElement}, the next element`);
    }
  }
  // rt: sweep invocations and completions in time order, keeping the completed transactions
  // that no later-completed one has yet superseded.
  const events: { timeNs: number; completes: boolean; txn: Txn }[] = [];
  for (const txn of txns) {
    if (inGraph[txn.id] !== true) continue;
    events.push({ timeNs: txn.operation.invokeTimeNs, completes: false, txn });
    if (txn.operation.completeTimeNs !== null) events.push({ timeNs: txn.operation.completeTimeNs, completes: true, txn });
  }
  events.sort((a, b) => a.timeNs - b.timeNs || Number(a.completes) - Number(b.completes) || a.txn.id - b.txn.id);
  let frontier: Txn[] = [];
  const predecessors = new Map<number, Txn[]>();
  for (const { completes, txn } of events) {
    if (!completes) {
      predecessors.set(txn.id, [...frontier]);
      for (const before of frontier) {
        add(before, txn, 'rt', () => `${before.name} completed (at ${String(before.operation.completeTimeNs)} ns) before ${txn.name} was invoked (at ${txn.operation.invokeTimeNs} ns)`);
      }
      continue;
    }
    const superseded = new Set(predecessors.get(txn.id) ?? []);
    frontier = frontier.filter((t) => !superseded.has(t));
    frontier.push(txn);
    predecessors.delete(txn.id);
  }
  const nodes = txns.filter((t) => inGraph[t.id] === true).map((t) => t.id);
  return { nodes, inGraph, outgoing, edgeCounts };
}

function keyOf(txn: Txn, keyId: string): string {
  const op = txn.ops.find((o) => o.keyId === keyId);
  return op === undefined ? keyId : formatKey(op.key);
}
