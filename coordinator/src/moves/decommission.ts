/**
 * DecommissionNode's decision (RFC 0003 "Triggers"): whether a data node may start draining.
 * Pure: from the view, it answers the typed refusal or what to write. Refused, with nothing
 * written: an empty node id (INVALID_ARGUMENT), a node no record names (NODE_NOT_FOUND), and a
 * drain after which fewer live, non-draining data nodes would remain than some keyspace's
 * replication factor (FAILED_PRECONDITION: its replicas would have nowhere to go).
 */
import { FailedPreconditionError, InvalidArgumentError, NodeNotFoundError, type MetadataView, type QuireError } from '@quire/common';
import { replicaCounts } from './move-records.js';

/** The decision: refuse, nothing to do (already draining), or record the drain. */
export type DecommissionDecision =
  | { readonly ok: false; readonly error: QuireError }
  | { readonly ok: true; readonly alreadyDraining: boolean; readonly replicaCount: number };

/** Whether any record names the node: a registration, a known-node record or a replica. */
export function nodeKnown(view: MetadataView, nodeId: string): boolean {
  return view.nodes.has(nodeId) || view.knownNodes.has(nodeId) || (replicaCounts(view).get(nodeId) ?? 0) > 0;
}

/** Checks the node id of DecommissionNode and CancelDecommission. */
export function checkNodeId(view: MetadataView, nodeId: string): QuireError | undefined {
  if (nodeId === '') return new InvalidArgumentError('node_id is required: the id of a data node (quire status lists them)', { field: 'node_id' });
  if (!nodeKnown(view, nodeId)) return new NodeNotFoundError(`No data node "${nodeId}" is known to the cluster (quire status lists them); nothing changed`, { field: 'node_id' });
  return undefined;
}

/** Decides DecommissionNode for `nodeId`. */
export function planDecommission(view: MetadataView, nodeId: string): DecommissionDecision {
  const bad = checkNodeId(view, nodeId);
  if (bad !== undefined) return { ok: false, error: bad };
  const replicaCount = replicaCounts(view).get(nodeId) ?? 0;
  if (view.drains.has(nodeId)) return { ok: true, alreadyDraining: true, replicaCount };
  const remaining = [...view.nodes.keys()].filter((n) => n !== nodeId && !view.drains.has(n)).length;
  let needed = 0;
  let neededBy = '';
  for (const name of view.keyspaceNames()) {
    const rf = view.keyspace(name)?.record.replicationFactor ?? 0;
    if (rf > needed) {
      needed = rf;
      neededBy = name;
    }
  }
  if (remaining < needed) {
    return {
      ok: false,
      error: new FailedPreconditionError(
        `Draining ${nodeId} would leave ${remaining} live data node(s) that are not draining, fewer than keyspace "${neededBy}"'s replication factor ${needed}: its replicas would have nowhere to go; add a node first. Nothing changed`,
        { field: 'node_id', limit: needed, actual: remaining },
      ),
    };
  }
  return { ok: true, alreadyDraining: false, replicaCount };
}

/** ForgetNode's decision: refuse, or delete the drain record (at its revision, when there is one) and the known-node record. */
export type ForgetNodeDecision = { readonly ok: false; readonly error: QuireError } | { readonly ok: true; readonly drainRevision: number | undefined };

/**
 * Decides ForgetNode: a node may be forgotten only once it is stopped (no registration) and
 * holds no replica; otherwise FAILED_PRECONDITION, nothing changed.
 */
export function planForgetNode(view: MetadataView, nodeId: string): ForgetNodeDecision {
  const bad = checkNodeId(view, nodeId);
  if (bad !== undefined) return { ok: false, error: bad };
  const held = replicaCounts(view).get(nodeId) ?? 0;
  if (view.nodes.has(nodeId) || held > 0) {
    const why = view.nodes.has(nodeId) ? 'is running (it holds a registration)' : `still holds ${held} replica(s)`;
    return { ok: false, error: new FailedPreconditionError(`Data node ${nodeId} ${why}: drain it (quire drain ${nodeId} --wait) and stop it first. Nothing changed`, { field: 'node_id' }) };
  }
  return { ok: true, drainRevision: view.drains.get(nodeId)?.modRevision };
}
