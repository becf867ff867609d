import { describe, expect, it } from 'vitest';
import { MovePhase, type ClusterStatusResponse, type MoveInfo, type PartitionInfo } from '@quire/proto';
import { drainState, formatFollowerLag, formatMoves, formatStatus, moveJson } from './output.js';

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
    nodes: [{ nodeId: 'n1', address: '127.0.0.1:1', live: true, replicaCount: 3, leaderCount: 3, metricsAddress: '', partitionsMax: 1024, zone: 'a', draining: false }],
    keyspaces: [{ keyspace: 'default', scheme: 1, partitionCount: partitions.length, replicationFactor: 3, revision: 7, partitions, ackPolicy: 1, minIsr: 2 }],
    moves: [],
  });

  it('says how many partitions have fewer in sync than the replication factor, and only when some do', () => {
    expect(formatStatus(status([partition(0, ['n1', 'n2', 'n3']), partition(1, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: hash, 2 partitions, replication 3, ack sync, min ISR 2$/m);
    expect(formatStatus(status([partition(0, ['n1', 'n2']), partition(1, ['n1']), partition(2, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: .*, 2 under-replicated$/m);
  });

  it('shows each node\'s zone and drain state', () => {
    expect(formatStatus(status([]))).toMatch(/^n1\s+127\.0\.0\.1:1\s+yes\s+3\s+3\s+-\s+a\s+-$/m);
    const node = status([]).nodes[0]!;
    expect(drainState({ ...node, draining: true })).toBe('draining');
    expect(drainState({ ...node, draining: true, replicaCount: 0 })).toBe('drained');
  });

  it('lists the moves in flight with their phase and reason, and nothing when there are none', () => {
    const move: MoveInfo = { keyspace: 'default', partitionId: 3, source: 'n1', target: 'n4', phase: MovePhase.MOVE_PHASE_CATCHING_UP, reason: 'balance', startedAtMs: 1_000, endedAtMs: 0, outcome: '' };
    expect(formatStatus(status([]))).not.toMatch(/Moves in flight/);
    const text = formatStatus({ ...status([]), moves: [move] });
    expect(text).toMatch(/^Moves in flight: 1$/m);
    expect(text).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+balance\s+-$/m);
    const learning: PartitionInfo = { ...partition(3, ['n1', 'n2', 'n3']), replicas: ['n1', 'n2', 'n3', 'n4'], followers: [{ nodeId: 'n4', known: true, lagEntries: 1200, lagMs: 900, durableIndex: 30, mode: 'snapshot' }] };
    expect(formatStatus({ ...status([learning]), moves: [move] })).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+balance\s+1200 entries behind \(snapshot\)$/m);
    expect(formatStatus({ ...status([{ ...learning, isr: ['n1', 'n2', 'n3', 'n4'] }]), moves: [move] })).toMatch(/^default\/3\s+.*\s+in sync$/m);
  });
});

describe('formatMoves', () => {
  const base: MoveInfo = { keyspace: 'orders', partitionId: 0, source: 'n1', target: 'n2', phase: MovePhase.MOVE_PHASE_DONE, reason: 'drain', startedAtMs: 10_000, endedAtMs: 12_500, outcome: '' };
  it('shows finished moves with how long each took and why one rolled back', () => {
    const text = formatMoves([], [base, { ...base, partitionId: 1, phase: MovePhase.MOVE_PHASE_ROLLED_BACK, outcome: 'target n2 went down while catching up' }]);
    expect(text).toMatch(/^No moves in flight$/m);
    expect(text).toMatch(/^orders\/0\s+n1\s+n2\s+done\s+drain\s+2\.5s\s+-$/m);
    expect(text).toMatch(/^orders\/1\s+n1\s+n2\s+rolled-back\s+drain\s+2\.5s\s+target n2 went down while catching up$/m);
  });
  it('prints a move as JSON with its phase name and no empty fields', () => {
    expect(moveJson({ ...base, endedAtMs: 0 })).toEqual({ keyspace: 'orders', partition: 0, source: 'n1', target: 'n2', phase: 'done', reason: 'drain', startedAtMs: 10_000 });
  });
});
