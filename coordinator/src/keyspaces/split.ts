/**
 * The split of a RANGE partition (issue 16 item 5): a pure planner from the request and the
 * keyspace as the metadata view shows it to the records one fenced etcd transaction writes, or
 * the typed refusal. Admin.SplitPartition (by hand) and Coordination.RequestSplit (a partition
 * leader past its size or load threshold) both call it; the adapter (../split-writer.ts) writes
 * the three records comparing the revisions returned here.
 *
 * A split of partition P = [s, e) at key K (s < K, and K < e or e empty) writes:
 *  - P' = P with epoch + 1 and endKey K (replicas, leader, ISR and splitFrom unchanged);
 *  - Q, the keyspace's next id (partitionCount), = [K, e) on P's replicas (same order) with P's
 *    leader, epoch P.epoch + 1, ISR [leader] only (the followers join through AlterIsr once they
 *    have carved their copy), splitFrom {parent: P's id, parentEpoch: P.epoch + 1};
 *  - the keyspace record with partitionCount + 1.
 *
 * Refusals (nothing is written):
 *  - KEYSPACE_NOT_FOUND: no such keyspace;
 *  - INVALID_ARGUMENT field keyspace: a HASH keyspace (its partitions never change);
 *  - INVALID_ARGUMENT field at: empty or longer than the key limit; already a partition boundary
 *    (the start key of its partition); outside the given partition's bounds;
 *  - INVALID_ARGUMENT field partition_id: no such partition id;
 *  - STALE_EPOCH / NOT_LEADER (RequestSplit only): the requester's epoch is not the record's, or
 *    it does not lead it — its tenure is over;
 *  - PARTITION_UNAVAILABLE: the partition holding `at` is not placed, has no leader, or its
 *    leader is not live;
 *  - FAILED_PRECONDITION: a replica move of the partition is in flight, or an earlier split of it
 *    (it, or a partition carved from it, still has splitFrom set) is still being carved, or the
 *    keyspace has rangePartitionsMax partitions already.
 *
 * Invariants: both records written satisfy leader ∈ isr ⊆ replicas (asserted); P' and Q together
 * cover exactly P's range; the write compares P's and the keyspace record's mod revisions and
 * expects Q's key absent, so two splits planned from one view cannot both apply.
 */
import { PartitionScheme, type KeyspaceRecord, type PartitionRecord } from '@quire/proto';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  KeyspaceNotFoundError,
  NotLeaderError,
  PartitionUnavailableError,
  RangeIndex,
  StaleEpochError,
  keyInRange,
  type KeyspaceEntry,
  type PartitionEntry,
  type QuireError,
} from '@quire/common';
import { assertPartitionRecord } from '../failover/record-invariant.js';

/**
 * The most partitions a RANGE keyspace may have: partition record keys carry the id in 5
 * digits (common/src/metadata/keys.ts), so ids stay below 100 000; 65 536 leaves room.
 */
export const rangePartitionsMax = 65_536;

/** Why a split was asked for (the label of quire_coordinator_splits). */
export type SplitReason = 'manual' | 'size' | 'load';

/** What is asked: a split of `keyspace` at `at`. */
export interface SplitRequest {
  /** The resolved keyspace name. */
  readonly keyspace: string;
  /** The split key: the first key of the new partition. */
  readonly at: Uint8Array;
  /** The partition that must hold `at`, when the caller names it. */
  readonly partitionId: number | undefined;
  /** The request field that carries `at`, for refusals: `at` (Admin) unless given (`split_key`, RequestSplit). */
  readonly atField?: string;
  /** RequestSplit: the requesting leader and the epoch it leads (absent for Admin.SplitPartition). */
  readonly leader?: { readonly nodeId: string; readonly epoch: number };
}

/** What the planner looks at besides the request. */
export interface SplitContext {
  /** The keyspace as the view shows it; undefined when it does not exist. */
  readonly keyspace: KeyspaceEntry | undefined;
  /** Node ids holding a live registration. */
  readonly live: ReadonlySet<string>;
  /** Ids of the keyspace's partitions with a replica move in flight (a MoveRecord exists). */
  readonly moving: ReadonlySet<number>;
  /** The longest key, in bytes (the limits' keyBytesMax). */
  readonly keyBytesMax: number;
}

/** The split to write: each record with the mod revision its write compares (0: must not exist). */
export interface SplitWrite {
  readonly kind: 'split';
  readonly parent: { readonly record: PartitionRecord; readonly expectedRevision: number };
  readonly child: { readonly record: PartitionRecord; readonly expectedRevision: 0 };
  readonly keyspace: { readonly record: KeyspaceRecord; readonly expectedRevision: number };
}

/** The planner's answer. */
export type SplitPlan = { readonly kind: 'refuse'; readonly error: QuireError } | SplitWrite;

/** Decides a split; see the file comment for the records and the refusals. */
export function planSplit(request: SplitRequest, ctx: SplitContext): SplitPlan {
  const refuse = (error: QuireError): SplitPlan => ({ kind: 'refuse', error });
  const name = request.keyspace;
  const ks = ctx.keyspace;
  if (ks === undefined) return refuse(new KeyspaceNotFoundError(`keyspace "${name}" does not exist; nothing changed`, { field: 'keyspace' }));
  if (ks.record.scheme !== PartitionScheme.PARTITION_SCHEME_RANGE) {
    return refuse(new InvalidArgumentError(`keyspace "${name}" is a HASH keyspace: only the partitions of a RANGE keyspace split; nothing changed`, { field: 'keyspace' }));
  }
  const at = request.at;
  const atField = request.atField ?? 'at';
  if (at.length === 0 || at.length > ctx.keyBytesMax) {
    return refuse(
      new InvalidArgumentError(`${atField} is ${at.length} bytes; a split key is 1..${ctx.keyBytesMax} bytes (the key limit); nothing changed`, {
        field: atField,
        limit: ctx.keyBytesMax,
        actual: at.length,
      }),
    );
  }

  const located = locate(request, ks);
  if (!located.ok) return refuse(located.error);
  const entry = located.entry;
  const { record, modRevision } = entry;
  const partition = `${name}/${record.partitionId}`;
  const routing = { partitionId: record.partitionId, epoch: record.epoch, leaderHint: record.leader };
  if (record.leader === '') return refuse(new PartitionUnavailableError(`Partition ${partition} has no leader, so it cannot split now; nothing changed`, routing));
  assertPartitionRecord(record, 'Partition');

  if (request.leader !== undefined) {
    if (request.leader.epoch !== record.epoch) {
      return refuse(new StaleEpochError(`RequestSplit for partition ${partition} names epoch ${request.leader.epoch}, but the partition is at epoch ${record.epoch}`, routing));
    }
    if (request.leader.nodeId !== record.leader) {
      return refuse(new NotLeaderError(`RequestSplit for partition ${partition} comes from ${request.leader.nodeId}, but ${record.leader} leads epoch ${record.epoch}`, routing));
    }
  }
  if (Buffer.compare(at, record.startKey) === 0) {
    return refuse(
      new InvalidArgumentError(`${atField} ${describeKey(at)} is already a partition boundary: the start of partition ${partition} ${describeRange(record)}; nothing changed`, {
        field: atField,
        partitionId: record.partitionId,
      }),
    );
  }
  if (!keyInRange(at, record.startKey, record.endKey)) {
    return refuse(
      new InvalidArgumentError(`${atField} ${describeKey(at)} is not inside partition ${partition}, which holds ${describeRange(record)}; nothing changed`, {
        field: atField,
        partitionId: record.partitionId,
      }),
    );
  }
  if (!ctx.live.has(record.leader)) {
    return refuse(new PartitionUnavailableError(`Partition ${partition} has no live leader (its leader ${record.leader} is not registered), so it cannot split now; nothing changed`, routing));
  }
  if (ctx.moving.has(record.partitionId)) {
    return refuse(new FailedPreconditionError(`a replica move of partition ${partition} is under way; split it once the move has ended. Nothing changed`, { partitionId: record.partitionId }));
  }
  const carving = carvingSplitOf(ks, record);
  if (carving !== undefined) {
    return refuse(
      new FailedPreconditionError(`an earlier split of partition ${partition} is still being carved (${carving}); split it again once that is done. Nothing changed`, {
        partitionId: record.partitionId,
      }),
    );
  }

  const childId = ks.record.partitionCount;
  if (childId >= rangePartitionsMax) {
    return refuse(
      new FailedPreconditionError(`keyspace "${name}" has ${childId} partitions, the most a range keyspace may have (${rangePartitionsMax}); nothing changed`, {
        limit: rangePartitionsMax,
        actual: childId,
      }),
    );
  }
  const epoch = record.epoch + 1;
  const parent: PartitionRecord = { ...record, epoch, endKey: Buffer.from(at) };
  const child: PartitionRecord = {
    ...record,
    partitionId: childId,
    startKey: Buffer.from(at),
    endKey: Buffer.from(record.endKey),
    replicas: [...record.replicas],
    epoch,
    isr: [record.leader],
    splitFrom: { parentPartitionId: record.partitionId, parentEpoch: epoch },
  };
  assertPartitionRecord(parent, 'Split parent');
  assertPartitionRecord(child, 'Split child');
  return {
    kind: 'split',
    parent: { record: parent, expectedRevision: modRevision },
    child: { record: child, expectedRevision: 0 },
    keyspace: { record: { ...ks.record, partitionCount: childId + 1 }, expectedRevision: ks.modRevision },
  };
}

/** The partition the split concerns: the one named (which must exist and be placed), or the one holding `at`. */
function locate(request: SplitRequest, ks: KeyspaceEntry): { readonly ok: true; readonly entry: PartitionEntry } | { readonly ok: false; readonly error: QuireError } {
  const name = request.keyspace;
  const count = ks.partitions.length;
  if (request.partitionId !== undefined) {
    const id = request.partitionId;
    if (id >= count) {
      return {
        ok: false,
        error: new InvalidArgumentError(`partition_id ${id} is out of range: keyspace "${name}" has partitions 0..${count - 1}; nothing changed`, {
          field: 'partition_id',
          limit: count - 1,
          actual: id,
        }),
      };
    }
    const entry = ks.partitions[id];
    if (entry === undefined) return { ok: false, error: new PartitionUnavailableError(`Partition ${name}/${id} is not placed yet; nothing changed`, { partitionId: id }) };
    return { ok: true, entry };
  }
  const id = new RangeIndex(ks).partitionOf(request.at);
  const entry = id === undefined ? undefined : ks.partitions[id];
  if (entry === undefined) {
    return { ok: false, error: new PartitionUnavailableError(`No placed partition of keyspace "${name}" holds ${describeKey(request.at)} yet; nothing changed`, {}) };
  }
  return { ok: true, entry };
}

/**
 * Returns what shows that a split of `record` is still being carved: the partition itself came
 * from a split whose splitFrom is still set, or a partition carved from it still has splitFrom.
 */
function carvingSplitOf(ks: KeyspaceEntry, record: PartitionRecord): string | undefined {
  if (record.splitFrom !== undefined) {
    return `it was carved from partition ${record.splitFrom.parentPartitionId} at epoch ${record.splitFrom.parentEpoch}, and not every replica holds its data yet`;
  }
  const child = ks.partitions.find((p) => p?.record.splitFrom?.parentPartitionId === record.partitionId);
  return child === undefined ? undefined : `partition ${child.record.partitionId} carved from it does not have its data on enough replicas yet`;
}

/** A key for a message: printable ASCII as a quoted string, anything else as hex. */
export function describeKey(key: Uint8Array): string {
  const printable = key.every((b) => b >= 0x20 && b < 0x7f);
  const text = printable ? JSON.stringify(Buffer.from(key).toString('latin1')) : `0x${Buffer.from(key).toString('hex')}`;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A partition's range for a message: [start, end), with the keyspace's start and end named. */
export function describeRange(record: Pick<PartitionRecord, 'startKey' | 'endKey'>): string {
  const start = record.startKey.length === 0 ? '(start of the keyspace)' : describeKey(record.startKey);
  const end = record.endKey.length === 0 ? '(end of the keyspace)' : describeKey(record.endKey);
  return `[${start}, ${end})`;
}
