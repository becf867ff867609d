/**
 * Which processes a nemesis hits: one at random, a minority, all, named ones, or the data node
 * that leads a given partition or one that leads none, looked up in the cluster status at the
 * moment of the fault.
 */
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster, type ChaosProcess } from '../harness/chaos-cluster.js';

/** A target selector. */
export type TargetSelector =
  | { readonly kind: 'one'; readonly role: ChaosProcess['role'] }
  | { readonly kind: 'minority'; readonly role: ChaosProcess['role'] }
  | { readonly kind: 'all'; readonly role: ChaosProcess['role'] }
  | { readonly kind: 'ids'; readonly ids: readonly string[] }
  | { readonly kind: 'leader-of'; readonly keyspace: string; readonly partition: number }
  /** A live data node that holds replicas and leads no partition (a pure follower), at random. */
  | { readonly kind: 'follower-only' };

/** Returns a random subset of `items` of size `n`. */
export function pick<T>(items: readonly T[], n: number, rng: Rng): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < n && pool.length > 0) out.push(...pool.splice(rng.below(pool.length), 1));
  return out;
}

/** Resolves a selector to processes of the cluster. */
export async function selectTargets(cluster: ChaosCluster, selector: TargetSelector, rng: Rng, client?: QuireClient): Promise<ChaosProcess[]> {
  switch (selector.kind) {
    case 'one':
      return pick(cluster.byRole(selector.role), 1, rng);
    case 'minority': {
      const all = cluster.byRole(selector.role);
      return pick(all, Math.max(1, Math.floor((all.length - 1) / 2)), rng);
    }
    case 'all':
      return cluster.byRole(selector.role);
    case 'ids':
      return selector.ids.map((id) => cluster.process(id));
    case 'follower-only': {
      if (client === undefined) throw new Error('Selecting a follower needs a client');
      const status = await client.clusterStatus();
      const followers = status.nodes.filter((n) => n.live && n.leaderCount === 0 && n.replicaCount > 0).map((n) => n.nodeId);
      if (followers.length === 0) throw new Error(`No live data node holds replicas without leading one: ${status.nodes.map((n) => `${n.nodeId} leads ${n.leaderCount}`).join(', ')}`);
      return pick(followers, 1, rng).map((id) => cluster.process(id));
    }
    case 'leader-of': {
      if (client === undefined) throw new Error('Selecting a partition leader needs a client');
      const status = await client.clusterStatus();
      const ks = status.keyspaces.find((k) => k.keyspace === selector.keyspace);
      const leader = ks?.partitions.find((p) => p.partitionId === selector.partition)?.leader;
      if (leader === undefined || leader === '') throw new Error(`Partition ${selector.keyspace}/${selector.partition} has no leader now`);
      return [cluster.process(leader)];
    }
  }
}
