/**
 * Which replica serves a SESSION or STALE get (RFC 0001, "Follower reads"), pure. Followers are
 * preferred, to take reads off the leader: the live in-sync followers of the partition in the
 * view, taken in turn (round robin over a counter the router keeps), skipping those already
 * tried for this request. When none is left the answer is undefined and the router asks the
 * leader, as for a linearizable read — which also covers a partition with one replica.
 *
 * Only ISR members are chosen: a follower outside the ISR is behind by definition, and would
 * refuse most STALE reads and make SESSION reads wait.
 */
import type { KeyspaceEntry, MetadataView } from '@quire/common';
import type { Route } from './route.js';

/**
 * Returns the route to a follower for a read of `partitionId`, or undefined when no live
 * in-sync follower is left outside `tried`. `turn` spreads consecutive reads over the followers.
 */
export function chooseReadReplica(view: MetadataView, ks: KeyspaceEntry, partitionId: number, tried: ReadonlySet<string>, turn: number): Route | undefined {
  const entry = ks.partitions[partitionId];
  if (entry === undefined || entry.record.leader === '') return undefined;
  const { record } = entry;
  const candidates: { nodeId: string; address: string }[] = [];
  for (const nodeId of record.replicas) {
    if (nodeId === record.leader || tried.has(nodeId) || !record.isr.includes(nodeId)) continue;
    const registration = view.nodes.get(nodeId);
    if (registration !== undefined) candidates.push({ nodeId, address: registration.address });
  }
  if (candidates.length === 0) return undefined;
  const chosen = candidates[Math.abs(turn) % candidates.length] as { nodeId: string; address: string };
  return { keyspace: ks.record.name, partitionId, epoch: record.epoch, nodeId: chosen.nodeId, address: chosen.address, mapRevision: view.revision };
}
