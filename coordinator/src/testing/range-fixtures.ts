/**
 * Builders of RANGE keyspaces in a test MetadataView (common's viewOf builds HASH keyspaces
 * only). Import from tests only.
 */
import { AckPolicy, KeyspaceRecord, PartitionRecord, PartitionScheme, type SplitOrigin } from '@quire/proto';
import { keyspaceKey, partitionKey, type MetadataView } from '@quire/common';
import { applyToView } from '../../../common/src/testing/metadata-fixtures.js';

/** One partition record of a RANGE keyspace for `addRangeKeyspace`. */
export interface RangePartitionFixture {
  readonly id: number;
  readonly start: string;
  readonly end: string;
  readonly leader: string;
  readonly replicas?: readonly string[];
  readonly isr?: readonly string[];
  readonly epoch?: number;
  readonly splitFrom?: SplitOrigin;
}

/**
 * Adds a RANGE keyspace created with `splitKeys`, now with `partitionCount` partitions (default:
 * len(splitKeys) + 1), and the given partition records, in one change at the view's next revision.
 */
export function addRangeKeyspace(
  view: MetadataView,
  name: string,
  splitKeys: readonly string[],
  partitions: readonly RangePartitionFixture[],
  settings: { readonly partitionCount?: number; readonly replicationFactor?: number } = {},
): number {
  const keyspace: KeyspaceRecord = {
    name,
    scheme: PartitionScheme.PARTITION_SCHEME_RANGE,
    partitionCount: settings.partitionCount ?? splitKeys.length + 1,
    replicationFactor: settings.replicationFactor ?? 1,
    ackPolicy: AckPolicy.ACK_POLICY_SYNC,
    minIsr: 1,
    splitKeys: splitKeys.map((k) => Buffer.from(k)),
  };
  return applyToView(view, [
    { key: keyspaceKey(name), value: KeyspaceRecord.encode(keyspace).finish() },
    ...partitions.map((p) => {
      const replicas = [...(p.replicas ?? [p.leader])];
      const record: PartitionRecord = {
        keyspace: name,
        partitionId: p.id,
        replicas,
        leader: p.leader,
        epoch: p.epoch ?? 1,
        isr: [...(p.isr ?? replicas)],
        startKey: Buffer.from(p.start),
        endKey: Buffer.from(p.end),
        splitFrom: p.splitFrom,
      };
      return { key: partitionKey(name, p.id), value: PartitionRecord.encode(record).finish() };
    }),
  ]);
}
