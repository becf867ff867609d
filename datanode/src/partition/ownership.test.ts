import { describe, expect, it } from 'vitest';
import { AckPolicy, KeyspaceRecord, PartitionRecord, PartitionScheme } from '@quire/proto';
import { MetadataView, keyspaceKey, partitionKey } from '@quire/common';
import { checkOwnership, checkReplica } from './ownership.js';

function view(partitions: { id: number; leader: string; replicas?: string[]; epoch?: number }[]): MetadataView {
  const v = new MetadataView();
  v.reset(
    [
      { key: keyspaceKey('default'), value: KeyspaceRecord.encode({ splitKeys: [], name: 'default', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 4, replicationFactor: 1, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 1 }).finish(), createRevision: 2, modRevision: 2 },
      ...partitions.map((p, i) => ({
        key: partitionKey('default', p.id),
        value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId: p.id, replicas: p.replicas ?? [p.leader], leader: p.leader, epoch: p.epoch ?? 1, isr: [p.leader] }).finish(),
        createRevision: 3 + i,
        modRevision: 3 + i,
      })),
    ],
    40,
  );
  return v;
}

describe('checkOwnership', () => {
  const v = view([{ id: 0, leader: 'n1' }, { id: 1, leader: 'n2' }, { id: 2, leader: 'n2', replicas: ['n2', 'n1'] }, { id: 3, leader: 'n1', epoch: 4 }]);

  it('accepts the leader at its epoch, or at epoch 0 (unchecked)', () => {
    expect(checkOwnership(v, 'n1', 'default', 0, 1)).toMatchObject({ ok: true });
    expect(checkOwnership(v, 'n1', 'default', 3, 0)).toMatchObject({ ok: true });
  });

  it.each([
    ['another node leads it and this one holds no replica', 'n1', 1, 1, 'WRONG_PARTITION', { mapRevision: 40, partitionId: 1, leaderHint: 'n2', epoch: 1 }],
    ['this node holds a replica but does not lead it', 'n1', 2, 1, 'NOT_LEADER', { mapRevision: 40, partitionId: 2, leaderHint: 'n2' }],
    ['the request was routed by another epoch', 'n1', 3, 2, 'STALE_EPOCH', { mapRevision: 40, partitionId: 3, epoch: 4 }],
    ['the partition id is out of range', 'n1', 9, 1, 'INVALID_ARGUMENT', { field: 'partition_id', limit: 3, actual: 9 }],
  ])('refuses when %s', (_why, node, partitionId, epoch, code, details) => {
    const r = checkOwnership(v, node, 'default', partitionId, epoch);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe(code);
    expect(r.error.details).toMatchObject(details);
  });

  it('refuses an unknown keyspace with WRONG_PARTITION so the router can compare revisions', () => {
    const r = checkOwnership(v, 'n1', 'other', 0, 1);
    expect(!r.ok && r.error.code).toBe('WRONG_PARTITION');
    expect(!r.ok && r.error.details.mapRevision).toBe(40);
  });

  it('refuses an unassigned partition', () => {
    const r = checkOwnership(view([]), 'n1', 'default', 0, 1);
    expect(!r.ok && r.error.code).toBe('WRONG_PARTITION');
  });

  it('refuses everything with PARTITION_UNAVAILABLE before the map is loaded', () => {
    const r = checkOwnership(new MetadataView(), 'n1', 'default', 0, 1);
    expect(!r.ok && r.error.code).toBe('PARTITION_UNAVAILABLE');
  });
});

describe('checkReplica', () => {
  const v = view([{ id: 0, leader: 'n1' }, { id: 2, leader: 'n2', replicas: ['n2', 'n1'], epoch: 3 }]);

  it('accepts a follower at the partition epoch (or 0), and the leader as checkOwnership does', () => {
    expect(checkReplica(v, 'n1', 'default', 2, 3)).toMatchObject({ ok: true });
    expect(checkReplica(v, 'n1', 'default', 2, 0)).toMatchObject({ ok: true });
    expect(checkReplica(v, 'n2', 'default', 2, 3)).toMatchObject({ ok: true });
  });

  it('refuses a follower routed by another epoch, and a node without a replica', () => {
    const stale = checkReplica(v, 'n1', 'default', 2, 2);
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.error.code).toBe('STALE_EPOCH');
    const none = checkReplica(v, 'n3', 'default', 2, 3);
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.error.code).toBe('WRONG_PARTITION');
  });
});
