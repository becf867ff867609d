/**
 * FencedWriter applies the coordinator leader's metadata changes in one etcd transaction
 * that succeeds only if (a) the leader key still has the writer's term as its create
 * revision, (b) every changed key still has the mod revision the change was planned
 * against (0 = must not exist) and (c) every key the caller needs absent is absent. A deposed
 * leader, or a plan made from a stale view, changes nothing.
 */
import { coordinatorLeaderKey } from '@quire/common';
import { revisionOf, type EtcdClient } from './connect.js';

/** One planned key change. */
export interface FencedChange {
  readonly key: string;
  /** New value, or undefined to delete. */
  readonly value: Uint8Array | undefined;
  /** The mod revision the plan saw; 0 when the key must not exist yet; 'any': not compared. */
  readonly expectedModRevision: number | 'any';
}

/** The outcome of a fenced transaction. */
export type FencedResult =
  | { readonly applied: true; readonly revision: number }
  | { readonly applied: false; readonly revision: number; readonly reason: 'term' | 'conflict' };

/** Writes metadata under the leader's fencing term. */
export class FencedWriter {
  constructor(private readonly etcd: EtcdClient) {}

  /**
   * Applies `changes` atomically if the term and every expected revision still hold, and none
   * of `absentKeys` exists (a failover promotes only while the old leader's registration is
   * gone: a node that re-registered meanwhile keeps its partitions; RFC 0001 "Leader leases").
   */
  async apply(term: number, changes: readonly FencedChange[], absentKeys: readonly string[] = []): Promise<FencedResult> {
    let txn = this.etcd.if(coordinatorLeaderKey, 'Create', '==', term);
    for (const c of changes) if (c.expectedModRevision !== 'any') txn = txn.and(c.key, 'Mod', '==', c.expectedModRevision);
    for (const key of absentKeys) txn = txn.and(key, 'Create', '==', 0);
    const ops = changes.map((c) =>
      c.value === undefined ? this.etcd.delete().key(c.key) : this.etcd.put(c.key).value(Buffer.from(c.value)),
    );
    const res = await txn
      .then(...ops)
      .else(this.etcd.get(coordinatorLeaderKey))
      .commit();
    const revision = revisionOf(res.header.revision);
    if (res.succeeded) return { applied: true, revision };
    const leaderKv = res.responses[0]?.response_range?.kvs[0];
    const holdsTerm = leaderKv !== undefined && revisionOf(leaderKv.create_revision) === term;
    return { applied: false, revision, reason: holdsTerm ? 'conflict' : 'term' };
  }
}
