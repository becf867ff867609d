import { describe, expect, it } from 'vitest';
import type { PartitionRecord } from '@quire/proto';
import { AssertionError, type PartitionEntry, type QuireErrorCode, type QuireErrorDetails } from '@quire/common';
import { planAlterIsr, type AlterIsrRequest } from './alter-isr.js';

const record = (over: Partial<PartitionRecord> = {}): PartitionRecord => ({
  keyspace: 'default',
  partitionId: 3,
  replicas: ['n1', 'n2', 'n3'],
  leader: 'n1',
  epoch: 5,
  isr: ['n1', 'n2'],
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  splitFrom: undefined,
  ...over,
});
const entry = (over: Partial<PartitionRecord> = {}): PartitionEntry => ({ record: record(over), modRevision: 300 });
const request = (over: Partial<AlterIsrRequest> = {}): AlterIsrRequest => ({ requester: 'n1', epoch: 5, isr: ['n1', 'n2', 'n3'], expectedRevision: 300, ...over });

describe('planAlterIsr', () => {
  it.each<[name: string, current: string[], asked: string[], isr: string[], added: string[], removed: string[]]>([
    ['adds a caught-up follower', ['n1', 'n2'], ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], ['n3'], []],
    ['removes a lagging follower', ['n1', 'n2', 'n3'], ['n1', 'n3'], ['n1', 'n3'], [], ['n2']],
    ['shrinks to the leader alone (below min_isr is allowed)', ['n1', 'n2', 'n3'], ['n1'], ['n1'], [], ['n2', 'n3']],
    ['adds and removes members in one request', ['n1', 'n2'], ['n1', 'n3'], ['n1', 'n3'], ['n3'], ['n2']],
    ['stores the ISR in replicas order whatever order it was asked in', ['n1'], ['n3', 'n1', 'n2'], ['n1', 'n2', 'n3'], ['n2', 'n3'], []],
  ])('%s', (_name, current, asked, isr, added, removed) => {
    const result = planAlterIsr(entry({ isr: current }), request({ isr: asked }));
    expect(result).toEqual({
      ok: true,
      plan: { record: record({ isr }), expectedRevision: 300, added, removed, splitCarved: false, changed: true },
    });
  });

  it('accepts a request for the current ISR as no change', () => {
    const result = planAlterIsr(entry(), request({ isr: ['n2', 'n1'] }));
    expect(result.ok && result.plan).toMatchObject({ record: record(), added: [], removed: [], changed: false });
  });

  it('keeps the leader, the epoch and the replicas', () => {
    const result = planAlterIsr(entry({ leader: 'n2', isr: ['n2'], epoch: 8 }), request({ requester: 'n2', epoch: 8, isr: ['n2', 'n3'] }));
    expect(result.ok && result.plan.record).toEqual(record({ leader: 'n2', epoch: 8, isr: ['n2', 'n3'] }));
  });

  it('keeps the key range and the split origin of a RANGE partition', () => {
    const range = { startKey: Buffer.from('g'), endKey: Buffer.from('p'), splitFrom: { parentPartitionId: 1, parentEpoch: 5 } };
    const result = planAlterIsr(entry({ ...range, replicas: ['n1', 'n2', 'n3', 'n4'], isr: ['n1'] }), request({ isr: ['n1'] }));
    expect(result.ok && result.plan).toMatchObject({ record: range, changed: false, splitCarved: false });
  });

  describe('a partition carved by a split (splitFrom set)', () => {
    const carved = { isr: ['n1'], splitFrom: { parentPartitionId: 1, parentEpoch: 5 }, startKey: Buffer.from('k'), endKey: Buffer.alloc(0) };
    it.each<[name: string, replicas: string[], asked: string[], cleared: boolean]>([
      ['clears splitFrom when a follower joins the leader in the ISR', ['n1', 'n2', 'n3'], ['n1', 'n2'], true],
      ['clears splitFrom when both followers join at once', ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], true],
      ['keeps splitFrom while the leader is alone in the ISR of a replicated partition', ['n1', 'n2', 'n3'], ['n1'], false],
      ['clears splitFrom of a one-replica partition when its leader asks for ISR [itself]', ['n1'], ['n1'], true],
      ['clears splitFrom of a two-replica partition once both are in the ISR', ['n1', 'n2'], ['n1', 'n2'], true],
    ])('%s', (_name, replicas, asked, cleared) => {
      const result = planAlterIsr(entry({ ...carved, replicas }), request({ isr: asked }));
      if (!result.ok) throw result.error;
      const { plan } = result;
      expect(plan.splitCarved).toBe(cleared);
      expect(plan.record.splitFrom).toEqual(cleared ? undefined : carved.splitFrom);
      expect(plan.changed).toBe(cleared || asked.length !== 1);
      // Neither the epoch nor the range moves.
      expect(plan.record).toMatchObject({ epoch: 5, leader: 'n1', startKey: carved.startKey, endKey: carved.endKey, isr: asked });
    });
  });

  it.each<[name: string, req: Partial<AlterIsrRequest>, code: QuireErrorCode, details: QuireErrorDetails]>([
    ['refuses an older epoch with STALE_EPOCH naming the current epoch and leader', { epoch: 4 }, 'STALE_EPOCH', { epoch: 5, leaderHint: 'n1', partitionId: 3 }],
    ['refuses a newer epoch (a lagging view) with STALE_EPOCH', { epoch: 6 }, 'STALE_EPOCH', { epoch: 5 }],
    ['refuses a deposed leader at an older epoch with STALE_EPOCH rather than NOT_LEADER', { requester: 'n2', epoch: 4 }, 'STALE_EPOCH', { epoch: 5, leaderHint: 'n1' }],
    ['refuses a node that does not lead the partition with NOT_LEADER', { requester: 'n2' }, 'NOT_LEADER', { leaderHint: 'n1', epoch: 5 }],
    ['refuses a change computed from an older record revision with CONDITION_FAILED and the current revision', { expectedRevision: 299 }, 'CONDITION_FAILED', { currentVersion: 300 }],
    ['refuses a change computed from a newer record revision (a lagging view)', { expectedRevision: 301 }, 'CONDITION_FAILED', { currentVersion: 300 }],
    ['refuses an ISR without the leader', { isr: ['n2', 'n3'] }, 'INVALID_ARGUMENT', { field: 'isr' }],
    ['refuses an empty ISR', { isr: [] }, 'INVALID_ARGUMENT', { field: 'isr' }],
    ['refuses an ISR naming a node that is not a replica', { isr: ['n1', 'n4'] }, 'INVALID_ARGUMENT', { field: 'isr' }],
    ['refuses an ISR with a duplicate member', { isr: ['n1', 'n2', 'n2'] }, 'INVALID_ARGUMENT', { field: 'isr' }],
  ])('%s', (_name, req, code, details) => {
    const result = planAlterIsr(entry(), request(req));
    if (result.ok) throw new Error('Expected a refusal');
    expect(result.error.code).toBe(code);
    expect(result.error.details).toMatchObject(details);
  });

  it('checks fencing before the ISR itself, so a stale leader learns to refresh', () => {
    const result = planAlterIsr(entry(), request({ epoch: 4, isr: ['n9'] }));
    expect(!result.ok && result.error.code).toBe('STALE_EPOCH');
  });

  it('crashes on a current record whose leader is outside its ISR', () => {
    expect(() => planAlterIsr(entry({ isr: ['n2'] }), request())).toThrow(AssertionError);
  });
});
