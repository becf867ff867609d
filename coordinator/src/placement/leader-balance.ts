/**
 * The leader balance planner (issue 16, item 2): a pure function from the partitions' leaders and
 * in-sync replicas to leadership transfers that bring every eligible node (live, not draining)
 * within one leadership of the others. Replica moves balance where replicas are; failover and
 * hand-overs move leaderships among them, and a node that restarts leads nothing until this
 * gives it leaderships back (Kafka's preferred-leader election, TiKV PD's balance-leader).
 *
 * Rules:
 *  - A transfer goes from the node leading the most partitions to the in-sync replica of the
 *    partition that leads the fewest, and only when that lowers the spread: the target leads at
 *    least two fewer than the source.
 *  - Partitions with a move in flight, or a transfer already asked for, are left alone.
 *  - Leaders on nodes that are not eligible (down, draining) are not counted as a node's load;
 *    moving them is failover's and the drain's job.
 *  - At most `transfersMax` transfers per plan; counts include the transfers already planned.
 *
 * Invariant: every proposed transfer has `to` ∈ isr, `to` ≠ `from` = the current leader, `to`
 * eligible; the plan is deterministic (ties by node id, partitions in keyspace and id order).
 */

/** A partition as the leader balancer sees it. */
export interface LeaderBalancePartition {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly leader: string;
  readonly epoch: number;
  readonly isr: readonly string[];
  /** A move or a leadership transfer of it is in flight: left alone. */
  readonly busy: boolean;
}

/** A proposed leadership transfer. */
export interface LeaderTransfer {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly from: string;
  readonly to: string;
  /** The epoch the leader leads at (the hand-over request carries it). */
  readonly epoch: number;
}

/** Plans leadership transfers; see the module comment. `eligible`: live, non-draining node ids. */
export function planLeaderBalance(partitions: readonly LeaderBalancePartition[], eligible: ReadonlySet<string>, transfersMax: number): LeaderTransfer[] {
  const leads = new Map<string, number>([...eligible].sort().map((n) => [n, 0]));
  for (const p of partitions) if (leads.has(p.leader)) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  const sorted = [...partitions].sort((a, b) => (a.keyspace < b.keyspace ? -1 : a.keyspace > b.keyspace ? 1 : a.partitionId - b.partitionId));
  const done = new Set<string>();
  const transfers: LeaderTransfer[] = [];
  while (transfers.length < transfersMax) {
    const ranked = [...leads.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    let planned = false;
    for (const [source, count] of ranked) {
      const options = sorted.filter((p) => p.leader === source && !p.busy && !done.has(`${p.keyspace}/${p.partitionId}`));
      let best: { p: LeaderBalancePartition; to: string; toCount: number } | undefined;
      for (const p of options) {
        for (const to of p.isr) {
          const toCount = leads.get(to);
          if (to === source || toCount === undefined || toCount > count - 2) continue;
          if (best === undefined || toCount < best.toCount || (toCount === best.toCount && to < best.to)) best = { p, to, toCount };
        }
      }
      if (best === undefined) continue;
      transfers.push({ keyspace: best.p.keyspace, partitionId: best.p.partitionId, from: source, to: best.to, epoch: best.p.epoch });
      done.add(`${best.p.keyspace}/${best.p.partitionId}`);
      leads.set(source, count - 1);
      leads.set(best.to, best.toCount + 1);
      planned = true;
      break;
    }
    if (!planned) break;
  }
  return transfers;
}
