import { describe, expect, it } from 'vitest';
import { AckPolicy, MovePhase, PartitionScheme, type ClusterStatusResponse, type MoveInfo, type NodeInfo, type PartitionInfo } from '@quire/proto';
import { describeMove, describePlacement, lostDrains, placementOf, unsettledBecause } from './placement.js';

const node = (nodeId: string, replicaCount: number, extra: Partial<NodeInfo> = {}): NodeInfo => ({
  nodeId,
  address: '',
  live: true,
  replicaCount,
  leaderCount: 0,
  metricsAddress: '',
  partitionsMax: 1024,
  zone: '',
  draining: false,
  ...extra,
});

const partition = (partitionId: number, replicas: string[], isr = replicas, leaderLive = true): PartitionInfo => ({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), partitionId, replicas, leader: replicas[0] ?? '', epoch: 1, leaderLive, isr, followers: [] });

const move = (partitionId: number, source: string, target: string, phase = MovePhase.MOVE_PHASE_CATCHING_UP): MoveInfo => ({
  keyspace: 'default',
  partitionId,
  source,
  target,
  phase,
  reason: 'balance',
  startedAtMs: 1,
  endedAtMs: 0,
  outcome: '',
});

const status = (nodes: NodeInfo[], partitions: PartitionInfo[], moves: MoveInfo[] = []): ClusterStatusResponse => ({
  clusterId: 'c',
  mapRevision: 1,
  coordinator: undefined,
  nodes,
  keyspaces: [{ keyspace: 'default', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: partitions.length, replicationFactor: 3, revision: 1, partitions, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 2 }],
  moves,
});

const full = ['node-1', 'node-2', 'node-3'];

describe('placementOf and unsettledBecause', () => {
  it('settles a cluster whose partitions all have 3 in-sync replicas, no move and counts within one', () => {
    const p = placementOf(status([node('node-1', 2), node('node-2', 2), node('node-3', 2)], [partition(0, full), partition(1, full)]));
    expect(p.spread).toBe(0);
    expect(unsettledBecause(p, { balanced: true, nodes: full })).toBe('');
    expect(describePlacement(p)).toBe('replicas node-1 2, node-2 2, node-3 2 (spread 0); moves in flight 0; under-replicated 0');
  });

  it('names a partition short of in-sync replicas or without a live leader, and one with a learner', () => {
    const p = placementOf(
      status(
        [node('node-1', 3), node('node-2', 3), node('node-3', 3), node('node-4', 1)],
        [partition(0, full, ['node-1', 'node-2']), partition(1, full, full, false), partition(2, [...full, 'node-4'], full)],
        [move(2, 'node-3', 'node-4')],
      ),
    );
    expect(p.underReplicated).toEqual(['default/0', 'default/1']);
    expect(p.overReplicated).toEqual(['default/2']);
    expect(unsettledBecause(p, { balanced: true })).toBe('under-replicated default/0,default/1; over-replicated default/2; 1 move(s) in flight; unbalanced (spread 2)');
    expect(describeMove(move(2, 'node-3', 'node-4'))).toBe('default/2 node-3->node-4 catching-up (balance)');
  });

  it('counts draining and down nodes apart from the nodes balance is about', () => {
    const p = placementOf(
      status(
        [node('node-1', 4), node('node-2', 4), node('node-3', 4), node('node-4', 1, { draining: true }), node('node-5', 2, { live: false }), node('node-6', 0, { live: false })],
        [partition(0, full)],
      ),
    );
    expect([...p.counts.keys()]).toEqual(['node-1', 'node-2', 'node-3']);
    expect([...p.draining]).toEqual([['node-4', 1]]);
    expect([...p.onDownNodes]).toEqual([['node-5', 2]]);
    expect(unsettledBecause(p, { balanced: true, drained: ['node-4'], nodes: ['node-1', 'node-2'] })).toBe(
      'replicas on down nodes node-5 2; nodes taking replicas are node-1,node-2,node-3, not node-1,node-2; node-4 still holds 1',
    );
  });

  it('reports a drain that was lost: the node is live and no longer draining', () => {
    const p = placementOf(status([node('node-1', 2), node('node-2', 2), node('node-3', 2), node('node-4', 0, { draining: true }), node('node-5', 0, { live: false })], [partition(0, full)]));
    expect(lostDrains(p, ['node-1', 'node-4', 'node-5'])).toEqual(['node-1']);
  });
});
