/**
 * Asks partition leaders for their followers' progress over
 * `quire.v1.internal.Replication.GetFollowerProgress`, for the follower lag in ClusterStatus
 * (RFC 0001, "Follower reads"). An adapter, beside the pure status/ builder.
 *
 * Invariants: every call carries a deadline and the calls run in parallel, so a status waits at
 * most one deadline whatever the nodes do; a node that fails or does not answer in time is
 * `undefined` (its followers' lag shows as unknown), never an exception; one client channel per
 * address, closed once no registered node has that address.
 */
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type LedPartitionProgress } from '@quire/proto';
import { clientCredentials, fromGrpcError, grpcClientOptions, type Clock, type Logger, type MetadataView } from '@quire/common';

/** Where follower progress comes from (FollowerProgressClient in production). */
export interface FollowerProgressSource {
  /** Asks each node in parallel; resolves within `deadlineMs` with an answer, or undefined, per node id. */
  progressOf(nodes: readonly { readonly nodeId: string; readonly address: string }[], deadlineMs: number): Promise<Map<string, LedPartitionProgress[] | undefined>>;
}

/** The production FollowerProgressSource. */
export class FollowerProgressClient implements FollowerProgressSource {
  private readonly clients = new Map<string, ReplicationClient>();
  private readonly unsubscribe: () => void;

  constructor(
    view: MetadataView,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.unsubscribe = view.subscribe((v) => this.retain(new Set([...v.nodes.values()].map((n) => n.address))));
  }

  async progressOf(nodes: readonly { readonly nodeId: string; readonly address: string }[], deadlineMs: number): Promise<Map<string, LedPartitionProgress[] | undefined>> {
    const answers = await Promise.all(nodes.map(async (n) => [n.nodeId, await this.ask(n.nodeId, n.address, deadlineMs)] as const));
    return new Map(answers);
  }

  private ask(nodeId: string, address: string, deadlineMs: number): Promise<LedPartitionProgress[] | undefined> {
    const client = this.clientFor(address);
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

  /** Closes every client. */
  close(): void {
    this.unsubscribe();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private clientFor(address: string): ReplicationClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
      this.clients.set(address, client);
    }
    return client;
  }

  private retain(addresses: ReadonlySet<string>): void {
    for (const [address, client] of this.clients) {
      if (addresses.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }
}
