/**
 * The production LogEndSource: asks a data node for its replica's log end over
 * `quire.v1.internal.Replication.GetLogEnd` (RFC 0001, "Failure detection and failover").
 * An adapter, so it lives outside the pure `failover/` core.
 *
 * Invariants: channels come from the shared ReplicationClients (one per registered address);
 * every call carries a deadline; the answer is never an exception: any error, deadline or malformed
 * answer is `undefined`, which the failover planner reads as "did not answer".
 */
import { Metadata } from '@grpc/grpc-js';
import type { GetLogEndResponse } from '@quire/proto';
import { fromGrpcError, type Clock, type Logger } from '@quire/common';
import type { LogEndSource } from './controller.js';
import type { LogEnd } from './failover/index.js';
import type { ReplicationClients } from './replication-clients.js';

/** Asks data nodes for their log ends. */
export class LogEndClient implements LogEndSource {
  constructor(
    private readonly clients: ReplicationClients,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Returns the log end of `nodeId`'s replica of the partition, or undefined on any error or after `deadlineMs`. */
  logEnd(nodeId: string, address: string, keyspace: string, partitionId: number, deadlineMs: number): Promise<LogEnd | undefined> {
    const client = this.clients.clientFor(address);
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
