/**
 * Rules of the metadata records that the protobuf schema cannot state: the defaults of the
 * replication settings, how records written before a field existed are read, and the ISR
 * invariant of a partition record (RFC 0001, "Metadata in etcd").
 *
 * Invariants:
 *  - Reading is an upgrade, never a reinterpretation: a field is filled in only where it is
 *    absent (its zero value) and the zero value has a documented meaning in metadata.proto.
 *  - A valid partition record has a leader, and leader ∈ isr ⊆ replicas, with no duplicate in
 *    either list. Records written before the ISR existed have one replica, their leader, so
 *    reading their empty ISR as [leader] keeps the invariant.
 */
import { AckPolicy, MovePhase, type KeyspaceRecord, type PartitionRecord } from '@quire/proto';

/** The ISR size below which a SYNC leader refuses writes when the keyspace does not say: 2 with two or more replicas, else 1. */
export function defaultMinIsr(replicationFactor: number): number {
  return replicationFactor >= 2 ? 2 : 1;
}

/** Returns the ack policy a stored value means: UNSPECIFIED means SYNC. */
export function effectiveAckPolicy(policy: AckPolicy): AckPolicy {
  return policy === AckPolicy.ACK_POLICY_UNSPECIFIED ? AckPolicy.ACK_POLICY_SYNC : policy;
}

/** The ack policies as flags, environment variables and output name them (RFC 0001 "Ack policies and what each loses"). */
export const ackPolicyNames = ['sync', 'semi-sync', 'async'] as const;

/** An ack policy as users write it. */
export type AckPolicyName = (typeof ackPolicyNames)[number];

/** Returns the stored ack policy for a name. */
export function ackPolicyFromName(name: AckPolicyName): AckPolicy {
  switch (name) {
    case 'sync':
      return AckPolicy.ACK_POLICY_SYNC;
    case 'semi-sync':
      return AckPolicy.ACK_POLICY_SEMI_SYNC;
    case 'async':
      return AckPolicy.ACK_POLICY_ASYNC;
  }
}

/** Returns the name of a stored ack policy: sync also for UNSPECIFIED (records from before ack policies). */
export function ackPolicyName(policy: AckPolicy): AckPolicyName {
  switch (policy) {
    case AckPolicy.ACK_POLICY_SEMI_SYNC:
      return 'semi-sync';
    case AckPolicy.ACK_POLICY_ASYNC:
      return 'async';
    default:
      return 'sync';
  }
}

const movePhaseNames: Readonly<Record<number, string>> = {
  [MovePhase.MOVE_PHASE_UNSPECIFIED]: 'unspecified',
  [MovePhase.MOVE_PHASE_ADDING]: 'adding',
  [MovePhase.MOVE_PHASE_CATCHING_UP]: 'catching-up',
  [MovePhase.MOVE_PHASE_TRANSFERRING]: 'transferring',
  [MovePhase.MOVE_PHASE_REMOVING]: 'removing',
  [MovePhase.MOVE_PHASE_ROLLING_BACK]: 'rolling-back',
  [MovePhase.MOVE_PHASE_DONE]: 'done',
  [MovePhase.MOVE_PHASE_ROLLED_BACK]: 'rolled-back',
};

/** A replica move's phase as RFC 0003 and `quire moves` spell it (`phase N` for one this version does not know). */
export function movePhaseName(phase: MovePhase): string {
  return movePhaseNames[phase] ?? `phase ${String(phase)}`;
}

/** Whether `name` is an ack policy name. */
export function isAckPolicyName(name: string): name is AckPolicyName {
  return (ackPolicyNames as readonly string[]).includes(name);
}

/** Returns a decoded keyspace record with the replication settings it predates filled in (SYNC, the default min_isr). */
export function upgradeKeyspaceRecord(record: KeyspaceRecord): KeyspaceRecord {
  const ackPolicy = effectiveAckPolicy(record.ackPolicy);
  const minIsr = record.minIsr === 0 ? defaultMinIsr(record.replicationFactor) : record.minIsr;
  if (ackPolicy === record.ackPolicy && minIsr === record.minIsr) return record;
  return { ...record, ackPolicy, minIsr };
}

/** Returns a decoded partition record whose empty ISR (a record from before the ISR existed) is read as [leader]. */
export function upgradePartitionRecord(record: PartitionRecord): PartitionRecord {
  if (record.isr.length > 0 || record.leader === '') return record;
  return { ...record, isr: [record.leader] };
}

/** Returns why a partition record breaks the ISR invariant (leader ∈ isr ⊆ replicas, no duplicates), or undefined if it holds. */
export function partitionRecordProblem(record: PartitionRecord): string | undefined {
  if (record.leader === '') return 'has no leader';
  if (new Set(record.replicas).size !== record.replicas.length) return `has duplicate replicas [${record.replicas.join(', ')}]`;
  if (new Set(record.isr).size !== record.isr.length) return `has duplicate ISR members [${record.isr.join(', ')}]`;
  if (!record.isr.includes(record.leader)) return `has leader ${record.leader} outside its ISR [${record.isr.join(', ')}]`;
  const outside = record.isr.filter((nodeId) => !record.replicas.includes(nodeId));
  if (outside.length > 0) return `has ISR members [${outside.join(', ')}] that are not replicas [${record.replicas.join(', ')}]`;
  return undefined;
}
