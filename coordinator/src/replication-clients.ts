/**
 * The coordinator's gRPC clients of the data nodes' `quire.v1.internal.Replication` service,
 * one channel per registered address, shared by every adapter that asks data nodes something
 * (LogEndClient for failover, FollowerProgressClient for the status).
 *
 * Invariants: a channel is created on first use and closed as soon as no registered node has
 * its address (a node that re-registers elsewhere gets a new one; calls on a closed channel end
 * as failures, which every caller reads as "did not answer").
 */
import { ReplicationClient } from '@quire/proto';
import { clientCredentials, grpcClientOptions, type MetadataView } from '@quire/common';

/** Replication clients by address, kept in line with the registered nodes. */
export class ReplicationClients {
  private readonly clients = new Map<string, ReplicationClient>();
  private readonly unsubscribe: () => void;

  constructor(view: MetadataView) {
    this.unsubscribe = view.subscribe((v) => this.retain(new Set([...v.nodes.values()].map((n) => n.address))));
  }

  /** The client of `address`, created on first use. */
  clientFor(address: string): ReplicationClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
      this.clients.set(address, client);
    }
    return client;
  }

  /** Closes every client and stops following the view. */
  close(): void {
    this.unsubscribe();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /** Closes the clients of addresses no registered node uses any more. */
  private retain(addresses: ReadonlySet<string>): void {
    for (const [address, client] of this.clients) {
      if (addresses.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }
}
