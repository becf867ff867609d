/**
 * The data node's client of the coordinator leader's Coordination service (AlterIsr, RFC 0001
 * "ISR changes"; TransferLeader, "Leadership transfer"). One channel, re-created when the leader's address changes; every call has a
 * deadline and fails with the typed error the coordinator answered (fromGrpcError).
 */
import { Metadata } from '@grpc/grpc-js';
import {
  CoordinationClient,
  type AlterIsrRequest,
  type AlterIsrResponse,
  type CoordinationTransferLeaderRequest,
  type CoordinationTransferLeaderResponse,
  type RequestSplitRequest,
  type RequestSplitResponse,
} from '@quire/proto';
import { clientCredentials, fromGrpcError, grpcClientOptions } from '@quire/common';

/** Deadline of one AlterIsr or TransferLeader call. */
const callDeadlineMs = 2_000;

/** Calls the coordinator leader. */
export class CoordinationCaller {
  private client: CoordinationClient | undefined;
  private address = '';

  /** Sends one AlterIsr to the coordinator at `address`. */
  alterIsr(address: string, request: AlterIsrRequest): Promise<AlterIsrResponse> {
    const client = this.clientFor(address);
    return new Promise<AlterIsrResponse>((resolve, reject) => {
      client.alterIsr(request, new Metadata(), { deadline: Date.now() + callDeadlineMs }, (err, res) => {
        if (err !== null) reject(fromGrpcError(err, `the coordinator at ${address}`));
        else resolve(res);
      });
    });
  }

  /** Sends one TransferLeader to the coordinator at `address`. */
  transferLeader(address: string, request: CoordinationTransferLeaderRequest): Promise<CoordinationTransferLeaderResponse> {
    const client = this.clientFor(address);
    return new Promise<CoordinationTransferLeaderResponse>((resolve, reject) => {
      client.transferLeader(request, new Metadata(), { deadline: Date.now() + callDeadlineMs }, (err, res) => {
        // A transfer lost after it was sent may have been written: AMBIGUOUS_RESULT, not a failure.
        if (err !== null) reject(fromGrpcError(err, `the coordinator at ${address}`, true));
        else resolve(res);
      });
    });
  }

  /** Sends one RequestSplit to the coordinator at `address` (a lost answer: the next check asks again, or finds the split). */
  requestSplit(address: string, request: RequestSplitRequest): Promise<RequestSplitResponse> {
    const client = this.clientFor(address);
    return new Promise<RequestSplitResponse>((resolve, reject) => {
      client.requestSplit(request, new Metadata(), { deadline: Date.now() + callDeadlineMs }, (err, res) => {
        if (err !== null) reject(fromGrpcError(err, `the coordinator at ${address}`, true));
        else resolve(res);
      });
    });
  }

  private clientFor(address: string): CoordinationClient {
    if (this.client === undefined || this.address !== address) {
      this.client?.close();
      this.client = new CoordinationClient(address, clientCredentials(), grpcClientOptions);
      this.address = address;
    }
    return this.client;
  }

  /** Closes the channel. */
  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}
