import { describe, expect, it } from 'vitest';
import { AckPolicy, PartitionScheme, type FollowerProgress, type LedPartitionProgress } from '@quire/proto';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { addRangeKeyspace } from '../testing/range-fixtures.js';
import { clusterStatusOf, keyspaceInfoOf, leadersWithFollowers, partitionMapOf, underReplicatedByKeyspace } from './cluster-status.js';

describe('cluster status', () => {
  const view = viewOf({
    keyspaces: { default: 4 },
    partitions: [
      { id: 0, leader: 'n1' },
      { id: 1, leader: 'n2' },
      { id: 2, leader: 'n1', epoch: 3, replicas: ['n1', 'n2'], isr: ['n1'] },
    ],
    live: ['n1'],
    known: ['n2', 'n3'],
  });

  it('counts replicas and leaders per node and marks which nodes are live, including known nodes that are down', () => {
    const s = clusterStatusOf(view);
    expect(s.mapRevision).toBe(view.revision);
    expect(s.nodes.map((n) => [n.nodeId, n.live, n.replicaCount, n.leaderCount, n.address])).toEqual([
      ['n1', true, 2, 2, '127.0.0.1:7100'],
      ['n2', false, 2, 1, ''],
      ['n3', false, 0, 0, ''],
    ]);
    expect(s.coordinator).toBeUndefined();
  });

  it('reports every partition with its leader, epoch, ISR and whether the leader is live; unassigned ones empty', () => {
    const map = partitionMapOf(view, view.keyspace('default')!);
    expect(map.partitionCount).toBe(4);
    expect(map.partitions.map((p) => [p.partitionId, p.leader, p.epoch, p.leaderLive, p.replicas, p.isr])).toEqual([
      [0, 'n1', 1, true, ['n1'], ['n1']],
      [1, 'n2', 1, false, ['n2'], ['n2']],
      [2, 'n1', 3, true, ['n1', 'n2'], ['n1']],
      [3, '', 0, false, [], []],
    ]);
  });

  it("reports the keyspace's ack policy and min_isr", () => {
    const map = partitionMapOf(view, view.keyspace('default')!);
    expect([map.ackPolicy, map.minIsr]).toEqual([AckPolicy.ACK_POLICY_SYNC, 1]);
  });

  const noSnapshot = { snapshotBytesSent: 0, snapshotBytesEstimate: 0, snapshotKeysSent: 0, snapshotBytesPerSecond: 0 };
  const led = (epoch: number, follower: Partial<FollowerProgress> = {}): LedPartitionProgress => ({
    keyspace: 'default',
    partitionId: 2,
    epoch,
    logEnd: 120,
    durableIndex: 120,
    acknowledgedIndex: 100,
    followers: [{ nodeId: 'n2', durableIndex: 100, lagMs: 350, mode: 'replicate', inIsr: false, snapshotBytesSent: 0, snapshotBytesEstimate: 0, snapshotKeysSent: 0, snapshotElapsedMs: 0, ...follower }],
  });
  const lags = (progress: Map<string, LedPartitionProgress[] | undefined>) => partitionMapOf(view, view.keyspace('default')!, progress).partitions.map((p) => p.followers);

  it('reports each follower\'s lag from its leader\'s answer; unknown when the leader did not answer or reports another epoch', () => {
    expect(leadersWithFollowers(view)).toEqual(['n1']);
    expect(lags(new Map([['n1', [led(3)]]]))).toEqual([[], [], [{ nodeId: 'n2', known: true, lagEntries: 20, lagMs: 350, durableIndex: 100, mode: 'replicate', ...noSnapshot }], []]);
    const unknown = [{ nodeId: 'n2', known: false, lagEntries: 0, lagMs: 0, durableIndex: 0, mode: '', ...noSnapshot }];
    expect(lags(new Map([['n1', undefined]]))[2]).toEqual(unknown);
    expect(lags(new Map([['n1', [led(2)]]]))[2]).toEqual(unknown);
    expect(lags(new Map())[2]).toEqual(unknown);
  });

  it('reports the snapshot a follower is being sent: bytes and keys sent, the estimate, and the rate since it began', () => {
    const snapshot = { mode: 'snapshot', durableIndex: 0, snapshotBytesSent: 412_300_000, snapshotBytesEstimate: 805_000_000, snapshotKeysSent: 1_200_000, snapshotElapsedMs: 32_984 };
    expect(lags(new Map([['n1', [led(3, snapshot)]]]))[2]).toEqual([
      // 412,300,000 bytes in 32.984 s: 12,500,000 bytes per second.
      { nodeId: 'n2', known: true, lagEntries: 120, lagMs: 350, durableIndex: 0, mode: 'snapshot', snapshotBytesSent: 412_300_000, snapshotBytesEstimate: 805_000_000, snapshotKeysSent: 1_200_000, snapshotBytesPerSecond: 12_500_000 },
    ]);
    // Just begun: no time elapsed counts as 1 ms; rounded to whole bytes per second.
    expect(lags(new Map([['n1', [led(3, { ...snapshot, snapshotBytesSent: 5, snapshotElapsedMs: 0 })]]]))[2]?.[0]?.snapshotBytesPerSecond).toBe(5000);
    expect(lags(new Map([['n1', [led(3, { ...snapshot, snapshotBytesSent: 1, snapshotElapsedMs: 3 })]]]))[2]?.[0]?.snapshotBytesPerSecond).toBe(333);
    // An estimate below the bytes sent is raised to them.
    expect(lags(new Map([['n1', [led(3, { ...snapshot, snapshotBytesSent: 900, snapshotBytesEstimate: 800 })]]]))[2]?.[0]).toMatchObject({ snapshotBytesSent: 900, snapshotBytesEstimate: 900 });
  });
});

describe('underReplicatedByKeyspace', () => {
  it('counts assigned partitions whose ISR is smaller than the replication factor, every keyspace listed', () => {
    const view = viewOf({
      keyspaces: { default: 3, other: 2, single: 1 },
      replicationFactors: { default: 3, other: 3, single: 1 },
      live: ['n1', 'n2', 'n3'],
      partitions: [
        { keyspace: 'default', id: 0, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] },
        { keyspace: 'default', id: 1, leader: 'n2', replicas: ['n2', 'n3', 'n1'], isr: ['n2', 'n3'] },
        { keyspace: 'other', id: 0, leader: 'n3', replicas: ['n3', 'n1', 'n2'], isr: ['n3', 'n1', 'n2'] },
        // A partition in a move has four replicas; three in sync is not under-replicated.
        { keyspace: 'other', id: 1, leader: 'n1', replicas: ['n1', 'n2', 'n3', 'n4'], isr: ['n1', 'n2', 'n3'] },
        { keyspace: 'single', id: 0, leader: 'n1' },
      ],
    });
    expect(Object.fromEntries(underReplicatedByKeyspace(view))).toEqual({ default: 1, other: 0, single: 0 });
  });
});

describe('the partition map of a RANGE keyspace', () => {
  it('reports each partition\'s range (placed: its record\'s, not yet placed: its initial one), the scheme and the current partition count', () => {
    const view = viewOf({ live: ['n1'] });
    addRangeKeyspace(view, 'r', ['g', 'p'], [
      { id: 0, start: '', end: 'g', leader: 'n1' },
      { id: 1, start: 'g', end: 'k', leader: 'n1', epoch: 2 },
      { id: 3, start: 'k', end: 'p', leader: 'n1', epoch: 2, splitFrom: { parentPartitionId: 1, parentEpoch: 2 } },
    ], { partitionCount: 4 });
    const map = partitionMapOf(view, view.keyspace('r')!);
    expect(map).toMatchObject({ keyspace: 'r', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 4 });
    expect(map.partitions.map((p) => [p.partitionId, p.startKey.toString(), p.endKey.toString(), p.leader])).toEqual([
      [0, '', 'g', 'n1'],
      [1, 'g', 'k', 'n1'],
      [2, 'p', '', ''],
      [3, 'k', 'p', 'n1'],
    ]);
    expect(keyspaceInfoOf(view, view.keyspace('r')!)).toMatchObject({ scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 4, partitionsAssigned: 3 });
  });

  it('reports no range for a HASH keyspace\'s partitions', () => {
    const view = viewOf({ keyspaces: { default: 2 }, partitions: [{ id: 0, leader: 'n1' }], live: ['n1'] });
    expect(partitionMapOf(view, view.keyspace('default')!).partitions.map((p) => [p.startKey.length, p.endKey.length])).toEqual([[0, 0], [0, 0]]);
  });
});
