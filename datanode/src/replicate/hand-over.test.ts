import { describe, expect, it } from 'vitest';
import type { CoordinationTransferLeaderRequest, CoordinationTransferLeaderResponse, PartitionRecord } from '@quire/proto';
import {
  AmbiguousResultError,
  ConditionFailedError,
  CoordinatorUnavailableError,
  InvalidArgumentError,
  PartitionUnavailableError,
  StaleEpochError,
  systemClock,
  type QuireError,
} from '@quire/common';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger } from '../../../runtime/src/testing/recorders.js';
import { HandOvers, type HandOverDeps, type HandOverSettings } from './hand-over.js';
import type { HandOverReadiness, LedPartition } from './leader-replicator.js';

const settings: HandOverSettings = { catchUpDeadlineMs: 60, transferRetryWindowMs: 60, unknownOutcomeWaitMs: 80, pollIntervalMs: 1, resendIntervalMs: 2 };

const ready: HandOverReadiness = {
  logEndIndex: 40,
  durableIndex: 40,
  acknowledgedIndex: 40,
  targetDurableIndex: 40,
  writesUnanswered: 0,
  recordRevision: 17,
  targetInIsr: true,
  ready: true,
};

/** A LeaderReplicator stand-in: one partition whose readiness the test sets. */
class FakeReplicator {
  fence: { epoch: number; target: string } | undefined;
  leading = true;
  readiness: HandOverReadiness = ready;
  ended = 0;
  led: LedPartition[] = [];

  beginHandOver(_keyspace: string, partitionId: number, epoch: number, target: string): void {
    if (this.fence !== undefined) throw new PartitionUnavailableError('already', { partitionId });
    if (target === 'n9') throw new InvalidArgumentError('not a follower in the ISR', { field: 'target_node_id' });
    this.fence = { epoch, target };
  }

  handOverReadiness(_keyspace: string, _partitionId: number, epoch: number): HandOverReadiness | undefined {
    return this.leading && this.fence?.epoch === epoch ? this.readiness : undefined;
  }

  endHandOver(): void {
    this.ended++;
    this.fence = undefined;
  }

  ledPartitions(): LedPartition[] {
    return this.led;
  }
}

type Answer = CoordinationTransferLeaderResponse | QuireError;

const transferred = (epoch = 6): CoordinationTransferLeaderResponse => ({
  record: { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n2', epoch, isr: ['n1', 'n2', 'n3'] } satisfies PartitionRecord,
  recordRevision: 30,
});

function setup(answers: Answer[] | ((n: number) => Answer), options: { live?: string[] } = {}) {
  const view = viewOf({
    cluster: true,
    coordinatorLeader: '10.0.0.9:7000',
    replicationFactors: { default: 3 },
    keyspaces: { default: 2 },
    partitions: [
      { id: 0, leader: 'n1', epoch: 5, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] },
      { id: 1, leader: 'n2', epoch: 3, replicas: ['n2', 'n3', 'n1'], isr: ['n2', 'n3', 'n1'] },
    ],
    live: options.live ?? ['n1', 'n2', 'n3'],
  });
  const replicator = new FakeReplicator();
  const log = new RecordingLogger();
  const calls: CoordinationTransferLeaderRequest[] = [];
  const deps: HandOverDeps = {
    nodeId: 'n1',
    view,
    clock: systemClock,
    log,
    replicator,
    transferLeader: (_address, request) => {
      calls.push(request);
      const answer = typeof answers === 'function' ? answers(calls.length) : (answers[calls.length - 1] ?? new CoordinatorUnavailableError('no answer scripted'));
      return 'code' in answer ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  const handOvers = new HandOvers(settings, deps);
  const request = { keyspace: 'default', partitionId: 0, epoch: 5, targetNodeId: 'n2' };
  const failure = async (): Promise<QuireError> => {
    try {
      await handOvers.handOver(request);
    } catch (err) {
      return err as QuireError;
    }
    throw new Error('The hand-over succeeded');
  };
  return { view, replicator, log, calls, handOvers, request, failure };
}

describe('HandOvers.handOver', () => {
  it('fences the partition, waits until it is ready, asks for the transfer at the record revision it knows, and keeps the fence once transferred', async () => {
    const s = setup([transferred()]);
    s.replicator.readiness = { ...ready, targetDurableIndex: 38, ready: false };
    setTimeout(() => (s.replicator.readiness = ready), 10);
    const response = await s.handOvers.handOver(s.request);
    expect(response.record?.leader).toBe('n2');
    expect(s.calls).toEqual([{ keyspace: 'default', partitionId: 0, epoch: 5, leaderNodeId: 'n1', targetNodeId: 'n2', recordRevision: 17 }]);
    expect(s.replicator.fence).toEqual({ epoch: 5, target: 'n2' });
    expect(s.replicator.ended).toBe(0);
    expect(s.log.find('Partition leadership handed over')).toHaveLength(1);
  });

  it('serves again without asking when the target does not catch up before the deadline', async () => {
    const s = setup([transferred()]);
    s.replicator.readiness = { ...ready, targetDurableIndex: 12, ready: false };
    const err = await s.failure();
    expect(err.code).toBe('PARTITION_UNAVAILABLE');
    expect(err.message).toMatch(/its durable index 12, the log end 40/);
    expect(s.calls).toEqual([]);
    expect(s.replicator.fence).toBeUndefined();
  });

  it('refuses before fencing when the node does not lead the partition at that epoch, or the target is not an ISR follower', async () => {
    const s = setup([]);
    await expect(s.handOvers.handOver({ ...s.request, epoch: 4 })).rejects.toMatchObject({ code: 'STALE_EPOCH' });
    await expect(s.handOvers.handOver({ ...s.request, partitionId: 1, epoch: 3 })).rejects.toMatchObject({ code: 'NOT_LEADER' });
    await expect(s.handOvers.handOver({ ...s.request, targetNodeId: 'n9' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(s.replicator.fence).toBeUndefined();
    expect(s.calls).toEqual([]);
  });

  it('serves again after a definitive refusal of the coordinator leader', async () => {
    const s = setup([new InvalidArgumentError('the target is not in the ISR', { field: 'target_node_id', epoch: 5 })]);
    expect((await s.failure()).code).toBe('INVALID_ARGUMENT');
    expect(s.calls).toHaveLength(1);
    expect(s.replicator.fence).toBeUndefined();
  });

  it('asks again while no coordinator leader answers, staying fenced', async () => {
    const s = setup([new CoordinatorUnavailableError('no leader elected'), new CoordinatorUnavailableError('no leader elected'), transferred()]);
    await s.handOvers.handOver(s.request);
    expect(s.calls).toHaveLength(3);
    expect(s.replicator.fence).toBeDefined();
  });

  it('asks again at the new revision after CONDITION_FAILED at its own epoch (an ISR change)', async () => {
    const s = setup((n) => {
      if (n === 1) {
        setTimeout(() => (s.replicator.readiness = { ...ready, recordRevision: 21 }), 5);
        return new ConditionFailedError('record moved', { epoch: 5, leaderHint: 'n1', currentVersion: 21 });
      }
      return s.calls.at(-1)?.recordRevision === 21 ? transferred() : new ConditionFailedError('record moved', { epoch: 5, leaderHint: 'n1', currentVersion: 21 });
    });
    await s.handOvers.handOver(s.request);
    expect(s.calls[0]?.recordRevision).toBe(17);
    expect(s.calls.at(-1)?.recordRevision).toBe(21);
  });

  it('after an unknown outcome, resends the same request and takes a success as the outcome', async () => {
    const s = setup([new AmbiguousResultError('etcd outcome unknown'), transferred()]);
    const response = await s.handOvers.handOver(s.request);
    expect(response.record?.epoch).toBe(6);
    expect(s.calls.map((c) => c.recordRevision)).toEqual([17, 17]);
    expect(s.replicator.fence).toBeDefined();
  });

  it('keeps the fence when an answer names a newer epoch: the leadership moved, perhaps by the earlier attempt', async () => {
    const s = setup([new AmbiguousResultError('deadline'), new StaleEpochError('epoch moved', { epoch: 6, leaderHint: 'n2' })]);
    expect((await s.failure()).code).toBe('STALE_EPOCH');
    expect(s.replicator.fence).toBeDefined();
    expect(s.replicator.ended).toBe(0);
  });

  it('after an unknown outcome, does not serve again on a refusal that does not settle it; a newer record revision at its own epoch does', async () => {
    const s = setup((n) => {
      if (n === 3) setTimeout(() => (s.replicator.readiness = { ...ready, recordRevision: 19 }), 5);
      return n === 1 ? new AmbiguousResultError('deadline') : new PartitionUnavailableError('the target is not live', { epoch: 5 });
    });
    const err = await s.failure();
    expect(err.code).toBe('PARTITION_UNAVAILABLE');
    expect(s.calls.length).toBeGreaterThanOrEqual(3);
    expect(s.replicator.fence).toBeUndefined();
    expect(s.log.find('A newer partition record settles an unknown transfer outcome: not applied')).toHaveLength(1);
  });

  it('serves again after an outcome stays unknown for unknownOutcomeWaitMs, with a warning', async () => {
    const s = setup(() => new AmbiguousResultError('deadline'));
    const startedMs = Date.now();
    const err = await s.failure();
    expect(err.code).toBe('AMBIGUOUS_RESULT');
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(settings.unknownOutcomeWaitMs - 5);
    expect(s.replicator.fence).toBeUndefined();
    expect(s.log.find('The outcome of a leadership transfer stayed unknown; assuming it did not apply and serving again')).toHaveLength(1);
  });

  it('keeps the fence when the view ends the tenure meanwhile', async () => {
    const s = setup([new AmbiguousResultError('deadline')]);
    setTimeout(() => (s.replicator.leading = false), 5);
    expect((await s.failure()).code).toBe('PARTITION_UNAVAILABLE');
    expect(s.replicator.ended).toBe(0);
  });
});

describe('HandOvers.handOverAll', () => {
  it('hands each led partition to its live ISR follower with the longest log, and leaves partitions without one to failover', async () => {
    const s = setup(() => transferred(), { live: ['n1', 'n3'] });
    s.replicator.led = [
      { keyspace: 'default', partitionId: 0, epoch: 5, isr: ['n1', 'n2', 'n3'], followerDurableIndexes: new Map([['n2', 40], ['n3', 39]]) },
    ];
    const result = await s.handOvers.handOverAll(1_000);
    expect(result).toEqual({ led: 1, handedOver: 1, failed: 0, withoutLiveFollower: 0 });
    // n2 has the longer log but is not live.
    expect(s.calls.map((c) => c.targetNodeId)).toEqual(['n3']);

    const lone = setup(() => transferred(), { live: ['n1'] });
    lone.replicator.led = [{ keyspace: 'default', partitionId: 0, epoch: 5, isr: ['n1', 'n2'], followerDurableIndexes: new Map([['n2', 40]]) }];
    expect(await lone.handOvers.handOverAll(1_000)).toEqual({ led: 1, handedOver: 0, failed: 0, withoutLiveFollower: 1 });
    expect(lone.calls).toEqual([]);
  });

  it('prefers, among equally caught-up followers, the one leading fewer partitions', async () => {
    const s = setup(() => transferred());
    s.replicator.led = [{ keyspace: 'default', partitionId: 0, epoch: 5, isr: ['n1', 'n2', 'n3'], followerDurableIndexes: new Map([['n2', 40], ['n3', 40]]) }];
    await s.handOvers.handOverAll(1_000);
    // n2 leads partition 1 already; n3 leads none.
    expect(s.calls.map((c) => c.targetNodeId)).toEqual(['n3']);
  });

  it('counts a failed hand-over and goes on', async () => {
    const s = setup([new InvalidArgumentError('no', { field: 'target_node_id' })]);
    s.replicator.led = [{ keyspace: 'default', partitionId: 0, epoch: 5, isr: ['n1', 'n2'], followerDurableIndexes: new Map([['n2', 40]]) }];
    expect(await s.handOvers.handOverAll(1_000)).toEqual({ led: 1, handedOver: 0, failed: 1, withoutLiveFollower: 0 });
    expect(s.log.find('Could not hand a partition over; it fails over once this node is gone')).toHaveLength(1);
  });
});
