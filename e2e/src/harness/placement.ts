/**
 * Where a cluster's replicas stand, read from one ClusterStatus answer (pure): the partitions
 * that are under-replicated, the moves in flight, the replica counts of the nodes that take
 * replicas, and whether the cluster has settled — every partition with R replicas all in sync
 * under a live leader, no move in flight, nothing left on a node that is down, and (when asked)
 * the replicas balanced within one per node, which is the move planner's target (RFC 0003).
 */
import type { ClusterStatusResponse, MoveInfo } from '@quire/proto';
import { movePhaseName } from '@quire/common';

/** What a ClusterStatus answer says about placement. */
export interface Placement {
  /** Partitions (`keyspace/id`) with fewer replicas or in-sync replicas than their keyspace's replication factor, or no live leader. */
  readonly underReplicated: readonly string[];
  /** Partitions with more replicas than the replication factor (a move between its add and its remove). */
  readonly overReplicated: readonly string[];
  /** Replica moves in flight. */
  readonly moves: readonly MoveInfo[];
  /** Replica counts of the live nodes that are not draining: the nodes balance is about. */
  readonly counts: ReadonlyMap<string, number>;
  /** Largest minus smallest of `counts` (0 with fewer than two nodes). */
  readonly spread: number;
  /** Replica counts of draining nodes. */
  readonly draining: ReadonlyMap<string, number>;
  /** Replica counts of nodes that are not live (dead, stopped, or gone), when above 0. */
  readonly onDownNodes: ReadonlyMap<string, number>;
  /** Live data nodes. */
  readonly live: readonly string[];
}

/** Reads placement from a ClusterStatus answer. */
export function placementOf(status: ClusterStatusResponse): Placement {
  const underReplicated: string[] = [];
  const overReplicated: string[] = [];
  for (const ks of status.keyspaces) {
    for (const p of ks.partitions) {
      const id = `${ks.keyspace}/${p.partitionId}`;
      if (p.replicas.length < ks.replicationFactor || p.isr.length < ks.replicationFactor || !p.leaderLive) underReplicated.push(id);
      if (p.replicas.length > ks.replicationFactor) overReplicated.push(id);
    }
  }
  const counts = new Map<string, number>();
  const draining = new Map<string, number>();
  const onDownNodes = new Map<string, number>();
  for (const n of status.nodes) {
    if (!n.live) {
      if (n.replicaCount > 0) onDownNodes.set(n.nodeId, n.replicaCount);
    } else if (n.draining) {
      draining.set(n.nodeId, n.replicaCount);
    } else {
      counts.set(n.nodeId, n.replicaCount);
    }
  }
  const values = [...counts.values()];
  const spread = values.length < 2 ? 0 : Math.max(...values) - Math.min(...values);
  return { underReplicated, overReplicated, moves: status.moves, counts, spread, draining, onDownNodes, live: status.nodes.filter((n) => n.live).map((n) => n.nodeId) };
}

/** What settled means for a wait. */
export interface SettledOptions {
  /** Require the replica counts of the live, non-draining nodes within one of each other. */
  readonly balanced: boolean;
  /** Require exactly these live, non-draining nodes (e.g. after nodes joined or left). */
  readonly nodes?: readonly string[];
  /** Require these draining nodes to hold nothing. */
  readonly drained?: readonly string[];
}

/** Why `p` is not settled by `options` ('' when it is). */
export function unsettledBecause(p: Placement, options: SettledOptions): string {
  const reasons: string[] = [];
  if (p.underReplicated.length > 0) reasons.push(`under-replicated ${p.underReplicated.join(',')}`);
  if (p.overReplicated.length > 0) reasons.push(`over-replicated ${p.overReplicated.join(',')}`);
  if (p.moves.length > 0) reasons.push(`${p.moves.length} move(s) in flight`);
  if (p.onDownNodes.size > 0) reasons.push(`replicas on down nodes ${formatCounts(p.onDownNodes)}`);
  if (options.balanced && p.spread > 1) reasons.push(`unbalanced (spread ${p.spread})`);
  if (options.nodes !== undefined) {
    const want = [...options.nodes].sort().join(',');
    const have = [...p.counts.keys()].sort().join(',');
    if (want !== have) reasons.push(`nodes taking replicas are ${have === '' ? 'none' : have}, not ${want}`);
  }
  for (const id of options.drained ?? []) {
    const left = p.draining.get(id) ?? p.counts.get(id) ?? p.onDownNodes.get(id) ?? 0;
    if (left > 0 || !p.draining.has(id)) reasons.push(`${id} ${p.draining.has(id) ? `still holds ${left}` : 'is not draining'}`);
  }
  return reasons.join('; ');
}

/**
 * Nodes of `drained` that are live and not draining: their drain was lost (forgotten or
 * cancelled by someone else), so they will never be drained by waiting.
 */
export function lostDrains(p: Placement, drained: readonly string[]): string[] {
  return drained.filter((id) => p.live.includes(id) && !p.draining.has(id));
}

/** `node-1 6, node-2 5` in node order. */
export function formatCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([n, c]) => `${n} ${c}`).join(', ');
}

/** One line: counts, draining, down nodes, moves and under-replicated partitions. */
export function describePlacement(p: Placement): string {
  const parts = [`replicas ${formatCounts(p.counts)} (spread ${p.spread})`];
  if (p.draining.size > 0) parts.push(`draining ${formatCounts(p.draining)}`);
  if (p.onDownNodes.size > 0) parts.push(`on down nodes ${formatCounts(p.onDownNodes)}`);
  parts.push(`moves in flight ${p.moves.length === 0 ? 0 : p.moves.map(describeMove).join(', ')}`);
  parts.push(`under-replicated ${p.underReplicated.length === 0 ? 0 : p.underReplicated.join(',')}`);
  return parts.join('; ');
}

/** `default/3 node-1->node-4 catching-up (balance)`, with the outcome of a rolled-back move. */
export function describeMove(m: MoveInfo): string {
  return `${m.keyspace}/${m.partitionId} ${m.source}->${m.target} ${movePhaseName(m.phase)} (${m.reason}${m.outcome === '' ? '' : `: ${m.outcome}`})`;
}

/** `default/3 node-1->node-4 (balance)`: which move, whatever its phase. */
export const moveName = (m: MoveInfo): string => `${m.keyspace}/${m.partitionId} ${m.source}->${m.target} (${m.reason})`;

/** A move's identity across its records: keyspace, partition and start time. */
export const moveId = (m: MoveInfo): string => `${m.keyspace}/${m.partitionId}@${m.startedAtMs}`;
