/**
 * Asks partition leaders for their followers' progress over
 * `quire.v1.internal.Replication.GetFollowerProgress`, for the follower lag in ClusterStatus
 * (RFC 0001, "Follower reads"). An adapter, beside the pure status/ builder.
 *
 * Invariants: every call carries a deadline and the calls run in parallel, so a status waits at
 * most one deadline whatever the nodes do; a node that fails or does not answer in time is
 * `undefined` (its followers' lag shows as unknown), never an exception; channels come from the
 * shared ReplicationClients.
 */
import { Metadata } from '@grpc/grpc-js';
import type { LedPartitionProgress } from '@quire/proto';
import { fromGrpcError, type Clock, type Logger } from '@quire/common';
import type { ReplicationClients } from './replication-clients.js';

/** Where follower progress comes from (FollowerProgressClient in production). */
export interface FollowerProgressSource {
  /** Asks each node in parallel; resolves within `deadlineMs` with an answer, or undefined, per node id. */
  progressOf(nodes: readonly { readonly nodeId: string; readonly address: string }[], deadlineMs: number): Promise<Map<string, LedPartitionProgress[] | undefined>>;
}

/** The production FollowerProgressSource. */
export class FollowerProgressClient implements FollowerProgressSource {
  constructor(
    private readonly clients: ReplicationClients,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async progressOf(nodes: readonly { readonly nodeId: string; readonly address: string }[], deadlineMs: number): Promise<Map<string, LedPartitionProgress[] | undefined>> {
    const answers = await Promise.all(nodes.map(async (n) => [n.nodeId, await this.ask(n.nodeId, n.address, deadlineMs)] as const));
    return new Map(answers);
  }

  private ask(nodeId: string, address: string, deadlineMs: number): Promise<LedPartitionProgress[] | undefined> {
    const client = this.clients.clientFor(address);
    return new Promise((resolve) => {
      client.getFollowerProgress({}, new Metadata(), { deadline: this.clock.nowMs() + deadlineMs }, (err, response) => {
        if (err !== null) {
          const e = fromGrpcError(err, `data node ${nodeId} at ${address}`);
          this.log.debug('A partition leader did not report its followers', { nodeId, address, code: e.code, err: e.message });
          resolve(undefined);
          return;
        }
        resolve(response.partitions);
      });
    });
  }
}
