/**
 * Metadata views with RANGE keyspaces for the router's unit tests, and the map change a split
 * makes (the coordinator's one fenced transaction): the parent narrowed to [start, at) at
 * epoch + 1, a new partition (the keyspace's next id) taking [at, end) on the same replicas with
 * the same leader at epoch + 1 and split_from set, and the keyspace's partition count raised.
 * Import from tests only.
 */
import { NodeRegistration } from '@quire/proto';
import { keyspaceKey, nodeKey, partitionKey, MetadataView, type MetadataKv } from '@quire/common';
import { rangeKeyspaceRecord as keyspaceRecord, rangePartitionRecord as partitionRecord, type RangePartitionFixture } from '../../../common/src/testing/metadata-fixtures.js';

export type { RangePartitionFixture } from '../../../common/src/testing/metadata-fixtures.js';

/** A RANGE keyspace for rangeViewOf. */
export interface RangeKeyspaceFixture {
  readonly name: string;
  readonly partitions: readonly RangePartitionFixture[];
  /** Partition ids 0..count-1; the partitions' count when absent. */
  readonly partitionCount?: number;
}

/** Builds a loaded view of RANGE keyspaces; `live` nodes register in order at 127.0.0.1:7100, 7101, … */
export function rangeViewOf(keyspaces: readonly RangeKeyspaceFixture[], live: readonly string[]): MetadataView {
  let rev = 1;
  const kvs: MetadataKv[] = [];
  const add = (key: string, value: Uint8Array): void => {
    rev++;
    kvs.push({ key, value, createRevision: rev, modRevision: rev });
  };
  for (const ks of keyspaces) {
    const replicationFactor = Math.max(1, ...ks.partitions.map((p) => p.replicas?.length ?? 1));
    add(keyspaceKey(ks.name), keyspaceRecord(ks.name, ks.partitionCount ?? ks.partitions.length, replicationFactor));
    for (const p of ks.partitions) add(partitionKey(ks.name, p.id), partitionRecord(ks.name, p));
  }
  live.forEach((nodeId, i) => {
    add(nodeKey(nodeId), NodeRegistration.encode({ nodeId, address: `127.0.0.1:${7100 + i}`, metricsAddress: '', startedAtMs: 0, version: 'test', partitionsMax: 0, zone: '' }).finish());
  });
  const view = new MetadataView();
  view.reset(kvs, rev);
  return view;
}

/**
 * Applies a split of `parentId` at `at` to the view in one change, as the coordinator writes it,
 * and returns the new partition's id and both partitions' epoch.
 */
export function splitInView(view: MetadataView, keyspace: string, parentId: number, at: string): { readonly childId: number; readonly epoch: number } {
  const ks = view.keyspace(keyspace);
  const parent = ks?.partitions[parentId]?.record;
  if (ks === undefined || parent === undefined) throw new Error(`no partition ${keyspace}/${parentId} to split`);
  const childId = ks.record.partitionCount;
  const epoch = parent.epoch + 1;
  const rev = view.revision + 1;
  const put = (key: string, value: Uint8Array): { type: 'put'; kv: MetadataKv } => ({ type: 'put', kv: { key, value, createRevision: rev, modRevision: rev } });
  const common = { leader: parent.leader, epoch, replicas: parent.replicas };
  view.apply(
    [
      put(partitionKey(keyspace, parentId), partitionRecord(keyspace, { id: parentId, start: parent.startKey.toString(), end: at, ...common })),
      put(partitionKey(keyspace, childId), partitionRecord(keyspace, { id: childId, start: at, end: parent.endKey.toString(), ...common, splitFrom: { parentPartitionId: parentId, parentEpoch: epoch } })),
      put(keyspaceKey(keyspace), keyspaceRecord(keyspace, childId + 1, ks.record.replicationFactor)),
    ],
    rev,
  );
  return { childId, epoch };
}
