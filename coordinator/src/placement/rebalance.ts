/**
 * The rebalance planner (RFC 0003, step 3): a pure function from the nodes and the partitions'
 * replica sets to the replica moves that bring the cluster toward its target, in priority order:
 *  1. repair — a replica on a node that is gone (dead past --node-dead-after) moves to a live
 *     node: the partition is under-replicated until it does;
 *  2. drain — a replica on a draining node moves away;
 *  3. balance — while the eligible nodes' replica counts differ by more than one, a replica moves
 *     from the most loaded to the least loaded; only from a node above the mean count to a node
 *     below it, so every replica moves at most once (a node that joins is not fed from the nodes
 *     that lost replicas to it while it is busy: it waits for its own moves to end).
 * It only proposes; the move executor runs each move with `stepMove` (moves/move-step.ts).
 *
 * Rules:
 *  - A target is a live, non-draining node with room (its partitions_max) that holds no replica
 *    of the partition, chosen by: fewest of the partition's replicas in its zone (so replicas
 *    stay in distinct zones while there are enough; a node without a zone is a zone of its
 *    own), then fewest replicas, then node id — the same order as initial placement.
 *  - A balancing move never lowers the number of distinct zones the partition spans, and its
 *    source prefers a replica it does not lead (no hand-over needed).
 *  - Throttle: a node takes part (as source or target) in at most `movesPerNodeMax` moves,
 *    counting those in flight; a partition has at most one move. A dead source does not count
 *    (it does no work).
 *  - Counts include the moves already proposed in this plan, and count every move in flight as
 *    done (its target holds the replica, its source no longer does), so neither one plan nor the
 *    plans made while moves run overshoot.
 *
 * Invariant: every proposed move has source ∈ replicas, target ∉ replicas, target eligible; the
 * plan is deterministic (ties by node id, partitions in keyspace and id order).
 */

/** A data node as the planner sees it. */
export interface RebalanceNode {
  readonly nodeId: string;
  /** '' when the node has no zone. */
  readonly zone: string;
  /** Most replicas it may hold (Infinity when not known). */
  readonly capacity: number;
  /** Holds a live registration. */
  readonly live: boolean;
  /** Being drained: its replicas move away and it gets none. */
  readonly draining: boolean;
  /** Gone for longer than --node-dead-after: its replicas are re-created elsewhere. */
  readonly dead: boolean;
}

/** A partition as the planner sees it. */
export interface RebalancePartition {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly replicas: readonly string[];
  readonly leader: string;
  /** A move of this partition is in flight (nothing else is planned for it). */
  readonly moving: boolean;
}

/** A move in flight: for the throttle, and counted as done (its target holds the replica, its source does not). */
export interface MoveInFlight {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly source: string;
  readonly target: string;
}

/** Why a move is proposed. */
export type MoveReason = 'repair' | 'drain' | 'balance';

/** A proposed move. */
export interface ProposedMove {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly source: string;
  readonly target: string;
  readonly reason: MoveReason;
}

/** Planner settings. */
export interface RebalanceSettings {
  /** Most moves a node takes part in at once (as source or target). */
  readonly movesPerNodeMax: number;
}

/** Plans moves; see the module comment. */
export function planRebalance(
  nodes: readonly RebalanceNode[],
  partitions: readonly RebalancePartition[],
  inFlight: readonly MoveInFlight[],
  settings: RebalanceSettings,
): ProposedMove[] {
  const byId = new Map([...nodes].sort((a, b) => cmp(a.nodeId, b.nodeId)).map((n) => [n.nodeId, n]));
  const load = new Map<string, number>([...byId.keys()].map((id) => [id, 0]));
  const movingNow = new Map(inFlight.map((m) => [key(m), m]));
  for (const p of partitions) {
    // A move in flight counts as done: the replica set it ends with.
    const m = movingNow.get(key(p));
    const replicas = m === undefined ? p.replicas : [...new Set([...p.replicas.filter((r) => r !== m.source), m.target])];
    for (const r of replicas) load.set(r, (load.get(r) ?? 0) + 1);
  }
  const busy = new Map<string, number>();
  const take = (nodeId: string): void => void busy.set(nodeId, (busy.get(nodeId) ?? 0) + 1);
  for (const m of inFlight) {
    if (byId.get(m.source)?.dead !== true) take(m.source);
    take(m.target);
  }
  const free = (nodeId: string): boolean => byId.get(nodeId)?.dead === true || (busy.get(nodeId) ?? 0) < settings.movesPerNodeMax;
  const eligible = (n: RebalanceNode | undefined): n is RebalanceNode => n !== undefined && n.live && !n.draining && !n.dead;
  const zoneOf = (nodeId: string): string => {
    const z = byId.get(nodeId)?.zone ?? '';
    return z === '' ? `node:${nodeId}` : `zone:${z}`;
  };
  const sorted = [...partitions].sort((a, b) => cmp(a.keyspace, b.keyspace) || a.partitionId - b.partitionId);
  const replicasOf = new Map(sorted.map((p) => [key(p), [...p.replicas]]));
  const planned = new Set(sorted.filter((p) => p.moving).map(key));
  const moves: ProposedMove[] = [];

  /** The best target for moving `source`'s replica of `p`, or undefined. */
  const targetFor = (p: RebalancePartition, source: string, maxLoad = Number.POSITIVE_INFINITY): string | undefined => {
    const replicas = replicasOf.get(key(p)) ?? [];
    const staying = replicas.filter((r) => r !== source);
    let best: string | undefined;
    let bestZoneUse = Number.POSITIVE_INFINITY;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const n of byId.values()) {
      const l = load.get(n.nodeId) ?? 0;
      if (!eligible(n) || replicas.includes(n.nodeId) || l >= n.capacity || l >= maxLoad || !free(n.nodeId)) continue;
      const zoneUse = staying.filter((r) => zoneOf(r) === zoneOf(n.nodeId)).length;
      if (zoneUse < bestZoneUse || (zoneUse === bestZoneUse && l < bestLoad)) {
        best = n.nodeId;
        bestZoneUse = zoneUse;
        bestLoad = l;
      }
    }
    return best;
  };
  const propose = (p: RebalancePartition, source: string, target: string, reason: MoveReason): void => {
    moves.push({ keyspace: p.keyspace, partitionId: p.partitionId, source, target, reason });
    planned.add(key(p));
    if (byId.get(source)?.dead !== true) take(source);
    take(target);
    load.set(source, (load.get(source) ?? 0) - 1);
    load.set(target, (load.get(target) ?? 0) + 1);
    const replicas = replicasOf.get(key(p)) ?? [];
    replicasOf.set(key(p), [...replicas.filter((r) => r !== source), target]);
  };

  // 1 and 2: replicas on dead nodes, then on draining ones (a node that is down but not yet dead
  // is waited for: it may come back with its data).
  for (const reason of ['repair', 'drain'] as const) {
    for (const p of sorted) {
      if (planned.has(key(p))) continue;
      const source = p.replicas.find((r) => {
        const n = byId.get(r);
        return reason === 'repair' ? n === undefined || n.dead : n?.draining === true && !n.dead;
      });
      if (source === undefined || !free(source)) continue;
      const target = targetFor(p, source);
      if (target !== undefined) propose(p, source, target, reason);
    }
  }

  // 3: balance the eligible nodes within one replica of each other.
  for (;;) {
    const candidates = [...byId.values()].filter(eligible);
    if (candidates.length < 2) break;
    const counts = candidates.map((n) => load.get(n.nodeId) ?? 0);
    const min = Math.min(...counts);
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    // Most loaded first (ties by node id), among nodes that may still take part in a move.
    const sources = candidates.filter((n) => (load.get(n.nodeId) ?? 0) > min + 1 && (load.get(n.nodeId) ?? 0) > mean && free(n.nodeId)).sort((a, b) => (load.get(b.nodeId) ?? 0) - (load.get(a.nodeId) ?? 0) || cmp(a.nodeId, b.nodeId));
    let moved = false;
    for (const source of sources) {
      const sourceLoad = load.get(source.nodeId) ?? 0;
      // Followers first (no hand-over), then partitions it leads.
      const options = sorted
        .filter((p) => !planned.has(key(p)) && (replicasOf.get(key(p)) ?? []).includes(source.nodeId))
        .sort((a, b) => Number(a.leader === source.nodeId) - Number(b.leader === source.nodeId));
      for (const p of options) {
        // Below the mean only: a node at the mean would have to give the replica away again.
        const target = targetFor(p, source.nodeId, Math.min(sourceLoad - 1, Math.ceil(mean)));
        if (target === undefined) continue;
        const replicas = replicasOf.get(key(p)) ?? [];
        const zonesBefore = new Set(replicas.map(zoneOf)).size;
        const zonesAfter = new Set([...replicas.filter((r) => r !== source.nodeId), target].map(zoneOf)).size;
        if (zonesAfter < zonesBefore) continue;
        propose(p, source.nodeId, target, 'balance');
        moved = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) break;
  }
  return moves;
}

function key(p: { readonly keyspace: string; readonly partitionId: number }): string {
  return `${p.keyspace}/${p.partitionId}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
