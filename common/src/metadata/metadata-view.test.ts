import { describe, expect, it } from 'vitest';
import {
  AckPolicy,
  ClusterRecord,
  CoordinatorLeaderRecord,
  KeyspaceRecord,
  KnownNode,
  NodeRegistration,
  PartitionRecord,
  PartitionScheme,
} from '@quire/proto';
import { clusterKey, coordinatorLeaderKey, keyspaceKey, knownNodeKey, nodeKey, parseKey, partitionKey } from './keys.js';
import { MetadataView, type MetadataKv } from './metadata-view.js';

const kv = (key: string, value: Uint8Array, modRevision: number, createRevision = modRevision): MetadataKv => ({ key, value, createRevision, modRevision });
const keyspace = (name: string, partitionCount: number, rev: number): MetadataKv =>
  kv(
    keyspaceKey(name),
    KeyspaceRecord.encode({ splitKeys: [], name, scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount, replicationFactor: 1, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 1 }).finish(),
    rev,
  );
const partition = (ks: string, id: number, leader: string, rev: number): MetadataKv =>
  kv(partitionKey(ks, id), PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: ks, partitionId: id, replicas: [leader], leader, epoch: 1, isr: [leader] }).finish(), rev);
const node = (id: string, rev: number): MetadataKv =>
  kv(nodeKey(id), NodeRegistration.encode({ nodeId: id, address: `127.0.0.1:${rev}`, metricsAddress: '', startedAtMs: 0, version: 'v', partitionsMax: 0, zone: '' }).finish(), rev);

describe('metadata keys', () => {
  it.each([
    [clusterKey, { kind: 'cluster' }],
    [coordinatorLeaderKey, { kind: 'coordinator-leader' }],
    [keyspaceKey('default'), { kind: 'keyspace', keyspace: 'default' }],
    [partitionKey('default', 7), { kind: 'partition', keyspace: 'default', partitionId: 7 }],
    [nodeKey('node-1'), { kind: 'node', nodeId: 'node-1' }],
    [knownNodeKey('node-1'), { kind: 'known-node', nodeId: 'node-1' }],
    ['/quire/v1/partitions/default/x', { kind: 'unknown' }],
    ['/quire/v1/future-thing', { kind: 'unknown' }],
  ])('parses %s', (key, expected) => {
    expect(parseKey(key)).toEqual(expected);
  });

  it('zero-pads partition ids so keys sort numerically', () => {
    expect(partitionKey('ks', 3)).toBe('/quire/v1/partitions/ks/00003');
    expect(partitionKey('ks', 3) < partitionKey('ks', 12)).toBe(true);
  });
});

describe('MetadataView', () => {
  it('exposes a keyspace with its partitions by id, leaving unassigned ids undefined', () => {
    const view = new MetadataView();
    expect(view.loaded).toBe(false);
    view.reset([keyspace('default', 4, 2), partition('default', 0, 'n1', 3), partition('default', 2, 'n2', 4)], 5);
    expect(view.loaded).toBe(true);
    expect(view.revision).toBe(5);
    const ks = view.keyspace('default');
    expect(ks?.record.partitionCount).toBe(4);
    expect(ks?.partitions.map((p) => p?.record.leader)).toEqual(['n1', undefined, 'n2', undefined]);
    expect(ks?.partitions[2]?.modRevision).toBe(4);
    expect(view.keyspace('other')).toBeUndefined();
  });

  it('applies puts and deletes from the watch and moves its revision forward', () => {
    const view = new MetadataView();
    view.reset([keyspace('default', 2, 2), node('n1', 3)], 3);
    view.apply([{ type: 'put', kv: partition('default', 1, 'n1', 4) }, { type: 'put', kv: node('n2', 5) }], 5);
    expect(view.keyspace('default')?.partitions[1]?.record.leader).toBe('n1');
    expect([...view.nodes.keys()].sort()).toEqual(['n1', 'n2']);
    view.apply([{ type: 'delete', key: nodeKey('n1'), modRevision: 6 }], 6);
    expect([...view.nodes.keys()]).toEqual(['n2']);
    expect(view.revision).toBe(6);
  });

  it('never moves backwards: older resets and replayed events are ignored', () => {
    const view = new MetadataView();
    view.reset([node('n1', 3)], 10);
    view.apply([{ type: 'delete', key: nodeKey('n1'), modRevision: 9 }], 9);
    expect(view.nodes.has('n1')).toBe(true);
    view.apply([{ type: 'delete', key: nodeKey('n1'), modRevision: 10 }], 10);
    expect(view.nodes.has('n1')).toBe(true);
    view.reset([], 8);
    expect(view.nodes.has('n1')).toBe(true);
    expect(view.revision).toBe(10);
  });

  it('advances its revision on an empty batch (a progress notification)', () => {
    const view = new MetadataView();
    view.reset([], 3);
    view.apply([], 9);
    expect(view.revision).toBe(9);
  });

  it('hides partitions of a keyspace whose record is gone', () => {
    const view = new MetadataView();
    view.reset([keyspace('k', 1, 2), partition('k', 0, 'n1', 3)], 3);
    view.apply([{ type: 'delete', key: keyspaceKey('k'), modRevision: 4 }], 4);
    expect(view.keyspace('k')).toBeUndefined();
    expect(view.keyspaceNames()).toEqual([]);
  });

  it('reads the cluster record, known nodes and the coordinator leader with its term', () => {
    const view = new MetadataView();
    view.reset(
      [
        kv(clusterKey, ClusterRecord.encode({ clusterId: 'c1', createdAtMs: 1 }).finish(), 2),
        kv(knownNodeKey('n1'), KnownNode.encode({ nodeId: 'n1', firstSeenMs: 5 }).finish(), 3),
        kv(coordinatorLeaderKey, CoordinatorLeaderRecord.encode({ coordinatorId: 'c-1', address: 'a:1' }).finish(), 9, 7),
      ],
      9,
    );
    expect(view.cluster?.clusterId).toBe('c1');
    expect(view.knownNodes.get('n1')?.firstSeenMs).toBe(5);
    expect(view.coordinatorLeader).toEqual({ record: { coordinatorId: 'c-1', address: 'a:1' }, term: 7 });
  });

  it('exposes each partition record with its ISR and each keyspace with its ack policy and min_isr', () => {
    const view = new MetadataView();
    const record = { keyspace: 'k', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n2', epoch: 4, isr: ['n1', 'n2'], startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined };
    const ks = { name: 'k', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 1, replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SEMI_SYNC, minIsr: 3, splitKeys: [] };
    view.reset([kv(keyspaceKey('k'), KeyspaceRecord.encode(ks).finish(), 2), kv(partitionKey('k', 0), PartitionRecord.encode(record).finish(), 3)], 3);
    expect(view.keyspace('k')?.record).toEqual(ks);
    expect(view.keyspace('k')?.partitions[0]?.record).toEqual(record);
  });

  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
  ])('reads records from before replication (replication factor %i) as SYNC, min_isr %i and ISR = [leader]', (replicationFactor, minIsr) => {
    const view = new MetadataView();
    const legacyKeyspace = KeyspaceRecord.encode({ splitKeys: [], name: 'k', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 1, replicationFactor, ackPolicy: AckPolicy.ACK_POLICY_UNSPECIFIED, minIsr: 0 }).finish();
    const legacyPartition = PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'k', partitionId: 0, replicas: ['n1'], leader: 'n1', epoch: 1, isr: [] }).finish();
    view.reset([kv(keyspaceKey('k'), legacyKeyspace, 2), kv(partitionKey('k', 0), legacyPartition, 3)], 3);
    const ks = view.keyspace('k');
    expect(ks?.record.ackPolicy).toBe(AckPolicy.ACK_POLICY_SYNC);
    expect(ks?.record.minIsr).toBe(minIsr);
    expect(ks?.partitions[0]?.record.isr).toEqual(['n1']);
  });

  it('counts and skips records it cannot decode instead of applying half of them', () => {
    const view = new MetadataView();
    view.reset([kv(nodeKey('bad'), Buffer.from([0x0a, 0xff, 0xff]), 2), node('n1', 3)], 3);
    expect(view.undecodable).toBe(1);
    expect([...view.nodes.keys()]).toEqual(['n1']);
  });

  it('notifies subscribers after each change until they unsubscribe', () => {
    const view = new MetadataView();
    const seen: number[] = [];
    const unsubscribe = view.subscribe((v) => seen.push(v.revision));
    view.reset([], 2);
    view.apply([{ type: 'put', kv: node('n1', 3) }], 3);
    unsubscribe();
    view.apply([{ type: 'put', kv: node('n2', 4) }], 4);
    expect(seen).toEqual([2, 3]);
  });
});
