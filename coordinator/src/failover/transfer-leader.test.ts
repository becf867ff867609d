import { describe, expect, it } from 'vitest';
import type { PartitionRecord } from '@quire/proto';
import { AssertionError, type PartitionEntry, type QuireErrorCode, type QuireErrorDetails } from '@quire/common';
import { chooseTransferTarget, countLeaderships, planTransferLeader, type TransferLeaderRequest } from './transfer-leader.js';

const record = (over: Partial<PartitionRecord> = {}): PartitionRecord => ({
  keyspace: 'default',
  partitionId: 3,
  replicas: ['n1', 'n2', 'n3'],
  leader: 'n1',
  epoch: 5,
  isr: ['n1', 'n2', 'n3'],
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  splitFrom: undefined,
  ...over,
});
const entry = (over: Partial<PartitionRecord> = {}): PartitionEntry => ({ record: record(over), modRevision: 300 });
const request = (over: Partial<TransferLeaderRequest> = {}): TransferLeaderRequest => ({ requester: 'n1', epoch: 5, target: 'n2', expectedRevision: 300, ...over });
const allLive: ReadonlySet<string> = new Set(['n1', 'n2', 'n3']);

describe('planTransferLeader', () => {
  it('hands the leadership to the target at epoch + 1, keeping replicas and ISR, comparing the record revision', () => {
    expect(planTransferLeader(entry(), request(), allLive)).toEqual({
      ok: true,
      plan: { record: record({ leader: 'n2', epoch: 6 }), expectedRevision: 300 },
    });
  });

  it('keeps a smaller ISR as it is (the old leader stays in it)', () => {
    const result = planTransferLeader(entry({ isr: ['n1', 'n3'] }), request({ target: 'n3' }), allLive);
    expect(result.ok && result.plan.record).toEqual(record({ leader: 'n3', epoch: 6, isr: ['n1', 'n3'] }));
  });

  it.each<[name: string, over: Partial<TransferLeaderRequest>, current: Partial<PartitionRecord>, live: string[], code: QuireErrorCode, details: QuireErrorDetails]>([
    ['an older epoch (the requester was deposed)', { epoch: 4 }, {}, ['n1', 'n2', 'n3'], 'STALE_EPOCH', { partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    ['a newer epoch (this view lags)', { epoch: 6 }, {}, ['n1', 'n2', 'n3'], 'STALE_EPOCH', { partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    // An earlier attempt of the same request applied: the resend learns it from the epoch.
    ['a resend after the transfer applied', {}, { leader: 'n2', epoch: 6 }, ['n1', 'n2', 'n3'], 'STALE_EPOCH', { partitionId: 3, epoch: 6, leaderHint: 'n2' }],
    ['a requester that does not lead', { requester: 'n3' }, {}, ['n1', 'n2', 'n3'], 'NOT_LEADER', { partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    ['another record revision (the ISR changed)', { expectedRevision: 250 }, {}, ['n1', 'n2', 'n3'], 'CONDITION_FAILED', { partitionId: 3, epoch: 5, leaderHint: 'n1', currentVersion: 300 }],
    ['no target', { target: '' }, {}, ['n1', 'n2', 'n3'], 'INVALID_ARGUMENT', { field: 'target_node_id', partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    ['a node that is not a replica', { target: 'n4' }, {}, ['n1', 'n2', 'n3', 'n4'], 'INVALID_ARGUMENT', { field: 'target_node_id', partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    ['a replica outside the ISR', { target: 'n3' }, { isr: ['n1', 'n2'] }, ['n1', 'n2', 'n3'], 'INVALID_ARGUMENT', { field: 'target_node_id', partitionId: 3, epoch: 5, leaderHint: 'n1' }],
    ['a target that is not live', {}, {}, ['n1', 'n3'], 'PARTITION_UNAVAILABLE', { partitionId: 3, epoch: 5, leaderHint: 'n1' }],
  ])('refuses %s', (_name, over, current, live, code, details) => {
    const result = planTransferLeader(entry(current), request(over), new Set(live));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe(code);
    expect(result.error.details).toEqual(details);
  });

  it('renews the tenure of a leader that names itself: same leader, epoch + 1, ISR kept, comparing the record revision', () => {
    expect(planTransferLeader(entry({ isr: ['n1', 'n3'] }), request({ target: 'n1' }), allLive)).toEqual({
      ok: true,
      plan: { record: record({ epoch: 6, isr: ['n1', 'n3'] }), expectedRevision: 300 },
    });
  });

  it('refuses a renewal from a node that does not lead the epoch, or computed from another revision', () => {
    const notLeader = planTransferLeader(entry(), request({ requester: 'n2', target: 'n2' }), allLive);
    expect(!notLeader.ok && notLeader.error.code).toBe('NOT_LEADER');
    const resent = planTransferLeader(entry({ epoch: 6 }), request({ target: 'n1' }), allLive);
    expect(!resent.ok && resent.error.code).toBe('STALE_EPOCH');
    const moved = planTransferLeader(entry(), request({ target: 'n1', expectedRevision: 299 }), allLive);
    expect(!moved.ok && moved.error.code).toBe('CONDITION_FAILED');
  });

  it('checks the epoch before the requester, and both before the revision', () => {
    const stale = planTransferLeader(entry(), request({ epoch: 4, requester: 'n3', expectedRevision: 1 }), allLive);
    expect(!stale.ok && stale.error.code).toBe('STALE_EPOCH');
    const notLeader = planTransferLeader(entry(), request({ requester: 'n3', expectedRevision: 1 }), allLive);
    expect(!notLeader.ok && notLeader.error.code).toBe('NOT_LEADER');
  });

  it('asserts the record invariant on the record it plans from', () => {
    expect(() => planTransferLeader(entry({ isr: ['n2', 'n3'] }), request(), allLive)).toThrow(AssertionError);
    expect(() => planTransferLeader({ record: record(), modRevision: -1 }, request(), allLive)).toThrow(AssertionError);
  });
});

describe('chooseTransferTarget', () => {
  const counts = (c: Record<string, number>): Map<string, number> => new Map(Object.entries(c));

  it('takes the requested target when it is a live ISR follower', () => {
    expect(chooseTransferTarget(entry(), 'n3', allLive, counts({ n3: 10 }))).toEqual({ ok: true, kind: 'hand-over', target: 'n3' });
  });

  it('picks the live ISR follower with the fewest leaderships, ties to the replicas order', () => {
    expect(chooseTransferTarget(entry(), '', allLive, counts({ n1: 4, n2: 3, n3: 2 }))).toEqual({ ok: true, kind: 'hand-over', target: 'n3' });
    expect(chooseTransferTarget(entry(), '', allLive, counts({ n1: 4, n2: 2, n3: 2 }))).toEqual({ ok: true, kind: 'hand-over', target: 'n2' });
    expect(chooseTransferTarget(entry({ replicas: ['n1', 'n3', 'n2'] }), '', allLive, counts({}))).toEqual({ ok: true, kind: 'hand-over', target: 'n3' });
  });

  it('skips followers outside the ISR and followers that are not live', () => {
    expect(chooseTransferTarget(entry({ isr: ['n1', 'n3'] }), '', allLive, counts({ n2: 0, n3: 9 }))).toEqual({ ok: true, kind: 'hand-over', target: 'n3' });
    expect(chooseTransferTarget(entry(), '', new Set(['n1', 'n3']), counts({ n2: 0, n3: 9 }))).toEqual({ ok: true, kind: 'hand-over', target: 'n3' });
  });

  it('answers that the requested target already leads', () => {
    expect(chooseTransferTarget(entry(), 'n1', allLive, counts({}))).toEqual({ ok: true, kind: 'already-leads' });
  });

  it.each<[name: string, requested: string, current: Partial<PartitionRecord>, live: string[], code: QuireErrorCode]>([
    ['a leader that is not live (failover handles it)', '', {}, ['n2', 'n3'], 'PARTITION_UNAVAILABLE'],
    ['no live ISR follower', '', { isr: ['n1', 'n2'] }, ['n1', 'n3'], 'PARTITION_UNAVAILABLE'],
    ['a single replica', '', { replicas: ['n1'], isr: ['n1'] }, ['n1', 'n2'], 'PARTITION_UNAVAILABLE'],
    ['a requested target outside the ISR', 'n3', { isr: ['n1', 'n2'] }, ['n1', 'n2', 'n3'], 'INVALID_ARGUMENT'],
    ['a requested target that is not a replica', 'n9', {}, ['n1', 'n2', 'n3', 'n9'], 'INVALID_ARGUMENT'],
    ['a requested target that is not live', 'n2', {}, ['n1', 'n3'], 'PARTITION_UNAVAILABLE'],
  ])('refuses %s', (_name, requested, current, live, code) => {
    const result = chooseTransferTarget(entry(current), requested, new Set(live), counts({}));
    expect(!result.ok && result.error.code).toBe(code);
  });
});

describe('countLeaderships', () => {
  it('counts the partitions each node leads, skipping unassigned ones', () => {
    const counts = countLeaderships([record(), record({ partitionId: 4 }), record({ partitionId: 5, leader: 'n2' }), record({ partitionId: 6, leader: '' })]);
    expect(Object.fromEntries(counts)).toEqual({ n1: 2, n2: 1 });
  });
});
