import { describe, expect, it } from 'vitest';
import type { ClusterStatusResponse, PartitionInfo } from '@quire/proto';
import { formatFollowerLag, formatStatus } from './output.js';

describe('formatFollowerLag', () => {
  it('shows entries and ms per follower, ? when its leader did not say, - without followers', () => {
    expect(
      formatFollowerLag([
        { nodeId: 'node-2', known: true, lagEntries: 0, lagMs: 0, durableIndex: 10, mode: 'replicate' },
        { nodeId: 'node-3', known: true, lagEntries: 42, lagMs: 1250, durableIndex: 8, mode: 'snapshot' },
        { nodeId: 'node-4', known: false, lagEntries: 0, lagMs: 0, durableIndex: 0, mode: '' },
      ]),
    ).toBe('node-2:0/0ms node-3:42/1250ms(snapshot) node-4:?');
    expect(formatFollowerLag([])).toBe('-');
  });
});

describe('formatStatus', () => {
  const partition = (partitionId: number, isr: string[], leaderLive = true): PartitionInfo => ({ partitionId, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 1, leaderLive, isr, followers: [] });
  const status = (partitions: PartitionInfo[]): ClusterStatusResponse => ({
    clusterId: 'c',
    mapRevision: 7,
    coordinator: undefined,
    nodes: [{ nodeId: 'n1', address: '127.0.0.1:1', live: true, replicaCount: 3, leaderCount: 3, metricsAddress: '', partitionsMax: 1024, zone: 'a' }],
    keyspaces: [{ keyspace: 'default', scheme: 1, partitionCount: partitions.length, replicationFactor: 3, revision: 7, partitions, ackPolicy: 1, minIsr: 2 }],
  });

  it('says how many partitions have fewer in sync than the replication factor, and only when some do', () => {
    expect(formatStatus(status([partition(0, ['n1', 'n2', 'n3']), partition(1, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: hash, 2 partitions, replication 3, ack sync, min ISR 2$/m);
    expect(formatStatus(status([partition(0, ['n1', 'n2']), partition(1, ['n1']), partition(2, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: .*, 2 under-replicated$/m);
  });

  it('shows each node\'s zone', () => {
    expect(formatStatus(status([]))).toMatch(/^n1\s+127\.0\.0\.1:1\s+yes\s+3\s+3\s+-\s+a$/m);
  });
});
