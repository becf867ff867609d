/**
 * The production LogEndSource: asks a data node for its replica's log end over
 * `quire.v1.internal.Replication.GetLogEnd` (RFC 0001, "Failure detection and failover").
 * An adapter, so it lives outside the pure `failover/` core.
 *
 * Invariants: one client channel per address, created on first use and closed as soon as no
 * registered node has that address (a node that re-registers elsewhere gets a new one); every
 * call carries a deadline; the answer is never an exception: any error, deadline or malformed
 * answer is `undefined`, which the failover planner reads as "did not answer".
 */
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type GetLogEndResponse } from '@quire/proto';
import { clientCredentials, fromGrpcError, grpcClientOptions, type Clock, type Logger, type MetadataView } from '@quire/common';
import type { LogEndSource } from './controller.js';
import type { LogEnd } from './failover/index.js';

/** Asks data nodes for their log ends, one cached client per registered address. */
export class LogEndClient implements LogEndSource {
  private readonly clients = new Map<string, ReplicationClient>();
  private readonly unsubscribe: () => void;

  constructor(
    view: MetadataView,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.unsubscribe = view.subscribe((v) => this.retain(new Set([...v.nodes.values()].map((n) => n.address))));
  }

  /** Returns the log end of `nodeId`'s replica of the partition, or undefined on any error or after `deadlineMs`. */
  logEnd(nodeId: string, address: string, keyspace: string, partitionId: number, deadlineMs: number): Promise<LogEnd | undefined> {
    const client = this.clientFor(address);
    const fields = { nodeId, address, keyspace, partitionId };
    return new Promise((resolve) => {
      client.getLogEnd({ keyspace, partitionId }, new Metadata(), { deadline: this.clock.nowMs() + deadlineMs }, (err, response) => {
        if (err !== null) {
          const e = fromGrpcError(err, `data node ${nodeId} at ${address}`);
          this.log.warn('A failover candidate did not report its log end', { ...fields, code: e.code, err: e.message });
          resolve(undefined);
          return;
        }
        const logEnd = logEndOf(response);
        if (logEnd === undefined) this.log.warn('A failover candidate reported a malformed log end', { ...fields, logEnd: response.logEnd });
        resolve(logEnd);
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

  /** Closes the clients of addresses no registered node uses any more (their calls end as failures). */
  private retain(addresses: ReadonlySet<string>): void {
    for (const [address, client] of this.clients) {
      if (addresses.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }
}

/**
 * Returns the answer's log end, or undefined if it breaks the wire contract (negative or
 * unsafe numbers, or index 0 without epoch 0 and vice versa): a remote answer is input to
 * validate, not an invariant to assert. An absent log end is the empty log, (0, 0).
 */
export function logEndOf(response: GetLogEndResponse): LogEnd | undefined {
  const { epoch, index } = response.logEnd ?? { epoch: 0, index: 0 };
  const count = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!count(epoch) || !count(index) || (epoch === 0) !== (index === 0)) return undefined;
  return { epoch, index };
}
