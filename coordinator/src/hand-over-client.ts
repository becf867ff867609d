/**
 * The production HandOverSource: asks a partition's leader data node to hand its leadership
 * over, through `quire.v1.internal.Replication.HandOver` (RFC 0001, "Leadership transfer").
 * An adapter, so it lives outside the pure `failover/` core.
 *
 * Invariants: every call carries a deadline; a failure is the typed error the data node
 * answered (fromGrpcError), so the Admin caller sees the node's reason. Transfers are rare
 * (upgrades, rebalancing), so each call opens its own channel and closes it when answered.
 */
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type HandOverRequest, type HandOverResponse } from '@quire/proto';
import { clientCredentials, fromGrpcError, grpcClientOptions, type Clock } from '@quire/common';

/** Asks a data node to hand a partition's leadership over. */
export interface HandOverSource {
  /** Resolves with the record the coordinator wrote, or rejects with the typed refusal. */
  handOver(nodeId: string, address: string, request: HandOverRequest, deadlineMs: number): Promise<HandOverResponse>;
}

/** Calls Replication.HandOver on data nodes. */
export class HandOverClient implements HandOverSource {
  constructor(private readonly clock: Clock) {}

  handOver(nodeId: string, address: string, request: HandOverRequest, deadlineMs: number): Promise<HandOverResponse> {
    const client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
    return new Promise<HandOverResponse>((resolve, reject) => {
      client.handOver(request, new Metadata(), { deadline: this.clock.nowMs() + deadlineMs }, (err, response) => {
        client.close();
        if (err !== null) reject(fromGrpcError(err, `data node ${nodeId} at ${address}`));
        else resolve(response);
      });
    });
  }
}
