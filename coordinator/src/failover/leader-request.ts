/**
 * The checks every request a partition leader sends the coordinator shares (AlterIsr,
 * TransferLeader): it names the record's current epoch, comes from that epoch's leader, and was
 * computed from the record's current mod revision. Pure: a refusal is returned as the typed
 * error the caller answers with.
 */
import { ConditionFailedError, NotLeaderError, StaleEpochError, type PartitionEntry, type QuireError } from '@quire/common';
import { assertCount, assertPartitionRecord } from './record-invariant.js';

/** What a leader's request claims about the record. */
export interface LeaderRequestClaims {
  /** Node id of the node asking: it must lead the partition. */
  readonly requester: string;
  /** The epoch the requester leads at. */
  readonly epoch: number;
  /** The partition record's mod revision the request was computed from. */
  readonly expectedRevision: number;
}

/**
 * Asserts the record's invariant and returns the refusal of a request (`what`, e.g. "AlterIsr")
 * that does not match the record, or undefined when it does.
 */
export function leaderRequestRefusal(partition: PartitionEntry, request: LeaderRequestClaims, what: string): QuireError | undefined {
  const { record, modRevision } = partition;
  assertPartitionRecord(record, 'Partition');
  assertCount(modRevision, 'Partition mod revision');
  const name = `${record.keyspace}/${record.partitionId}`;
  const routing = { partitionId: record.partitionId, epoch: record.epoch, leaderHint: record.leader };
  if (request.epoch !== record.epoch) {
    return new StaleEpochError(`${what} for partition ${name} names epoch ${request.epoch}, but the partition is at epoch ${record.epoch}`, routing);
  }
  if (request.requester !== record.leader) {
    return new NotLeaderError(`${what} for partition ${name} comes from ${request.requester}, but ${record.leader} leads epoch ${record.epoch}`, routing);
  }
  if (request.expectedRevision !== modRevision) {
    return new ConditionFailedError(
      `${what} for partition ${name} was computed from record revision ${request.expectedRevision}, but the record is at revision ${modRevision}`,
      { ...routing, currentVersion: modRevision },
    );
  }
  return undefined;
}
