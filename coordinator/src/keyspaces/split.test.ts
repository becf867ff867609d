import { describe, expect, it } from 'vitest';
import { AckPolicy, PartitionScheme, type KeyspaceRecord, type PartitionRecord } from '@quire/proto';
import { AssertionError, defaultLimits, type KeyspaceEntry, type QuireErrorCode, type QuireErrorDetails } from '@quire/common';
import { planSplit, type SplitContext, type SplitRequest } from './split.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Partition `id` of keyspace `r` = [start, end) on n1..n3 led by n1, at epoch 4, mod revision 100 + id. */
function part(id: number, start: string, end: string, over: Partial<PartitionRecord> = {}): { record: PartitionRecord; modRevision: number } {
  return {
    record: { keyspace: 'r', partitionId: id, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 4, isr: ['n1', 'n2', 'n3'], startKey: b(start), endKey: b(end), splitFrom: undefined, ...over },
    modRevision: 100 + id,
  };
}

/** A RANGE keyspace created with split keys g and p, so 0 = ["", g), 1 = [g, p), 2 = [p, ""); `parts` replaces partitions by id. */
function keyspace(parts: Record<number, ReturnType<typeof part> | undefined> = {}, over: Partial<KeyspaceRecord> = {}): KeyspaceEntry {
  const record: KeyspaceRecord = { name: 'r', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 3, replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 2, splitKeys: [b('g'), b('p')], ...over };
  const defaults: Record<number, ReturnType<typeof part> | undefined> = { 0: part(0, '', 'g'), 1: part(1, 'g', 'p'), 2: part(2, 'p', '') };
  const partitions = Array.from({ length: record.partitionCount }, (_, id) => (id in parts ? parts[id] : defaults[id]));
  return { record, modRevision: 50, partitions };
}

const ctx = (over: Partial<SplitContext> = {}): SplitContext => ({ keyspace: keyspace(), live: new Set(['n1', 'n2', 'n3']), moving: new Set(), keyBytesMax: defaultLimits.keyBytesMax, ...over });
const req = (at: string | Buffer, over: Partial<SplitRequest> = {}): SplitRequest => ({ keyspace: 'r', at: typeof at === 'string' ? b(at) : at, partitionId: undefined, ...over });

describe('planSplit', () => {
  it('splits the partition holding the key: the parent keeps [start, at) at epoch + 1, the next id takes [at, end) with ISR [leader], the count grows by one', () => {
    const plan = planSplit(req('k'), ctx());
    expect(plan).toEqual({
      kind: 'split',
      parent: {
        record: { keyspace: 'r', partitionId: 1, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5, isr: ['n1', 'n2', 'n3'], startKey: b('g'), endKey: b('k'), splitFrom: undefined },
        expectedRevision: 101,
      },
      child: {
        record: { keyspace: 'r', partitionId: 3, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5, isr: ['n1'], startKey: b('k'), endKey: b('p'), splitFrom: { parentPartitionId: 1, parentEpoch: 5 } },
        expectedRevision: 0,
      },
      keyspace: { record: { ...keyspace().record, partitionCount: 4 }, expectedRevision: 50 },
    });
  });

  it('splits the last partition: the new one keeps the open end', () => {
    const plan = planSplit(req('x', { partitionId: 2 }), ctx());
    if (plan.kind !== 'split') throw plan.error;
    expect(plan.parent.record).toMatchObject({ partitionId: 2, startKey: b('p'), endKey: b('x') });
    expect(plan.child.record).toMatchObject({ partitionId: 3, startKey: b('x'), endKey: b('') });
  });

  it('keeps the replicas in order and the leader, whoever leads', () => {
    const led = part(0, '', 'g', { replicas: ['n3', 'n1', 'n2'], leader: 'n2', isr: ['n2', 'n3'], epoch: 9 });
    const plan = planSplit(req('a'), ctx({ keyspace: keyspace({ 0: led }) }));
    if (plan.kind !== 'split') throw plan.error;
    expect(plan.parent.record).toMatchObject({ replicas: ['n3', 'n1', 'n2'], leader: 'n2', isr: ['n2', 'n3'], epoch: 10 });
    expect(plan.child.record).toMatchObject({ replicas: ['n3', 'n1', 'n2'], leader: 'n2', isr: ['n2'], epoch: 10, splitFrom: { parentPartitionId: 0, parentEpoch: 10 } });
  });

  it('gives a partition made by a later split the next id again (ids are not key order)', () => {
    const ks = keyspace({ 3: part(3, 'k', 'p') }, { partitionCount: 4 });
    const plan = planSplit(req('m'), ctx({ keyspace: ks }));
    if (plan.kind !== 'split') throw plan.error;
    expect(plan.parent.record).toMatchObject({ partitionId: 3, startKey: b('k'), endKey: b('m') });
    expect(plan.child.record.partitionId).toBe(4);
    expect(plan.keyspace.record.partitionCount).toBe(5);
  });

  it('accepts a RequestSplit from the leader of the current epoch', () => {
    expect(planSplit(req('k', { partitionId: 1, leader: { nodeId: 'n1', epoch: 4 } }), ctx()).kind).toBe('split');
  });

  it.each<[name: string, request: SplitRequest, context: Partial<SplitContext>, code: QuireErrorCode, details: QuireErrorDetails, message: RegExp]>([
    ['a keyspace that does not exist', req('k', { keyspace: 'nope' }), { keyspace: undefined }, 'KEYSPACE_NOT_FOUND', { field: 'keyspace' }, /"nope" does not exist/],
    ['a HASH keyspace', req('k'), { keyspace: keyspace({}, { scheme: PartitionScheme.PARTITION_SCHEME_HASH, splitKeys: [] }) }, 'INVALID_ARGUMENT', { field: 'keyspace' }, /HASH keyspace/],
    ['an empty key', req(''), {}, 'INVALID_ARGUMENT', { field: 'at', limit: 4096, actual: 0 }, /1\.\.4096 bytes/],
    ['a key longer than the key limit', req(Buffer.alloc(4097, 0x61)), {}, 'INVALID_ARGUMENT', { field: 'at', limit: 4096, actual: 4097 }, /4097 bytes; a split key is 1\.\.4096 bytes/],
    ['a key that is already a boundary (an initial split key)', req('g'), {}, 'INVALID_ARGUMENT', { field: 'at', partitionId: 1 }, /already a partition boundary/],
    ['a key that is already a boundary, with partition_id', req('p', { partitionId: 2 }), {}, 'INVALID_ARGUMENT', { field: 'at', partitionId: 2 }, /already a partition boundary/],
    ['a key below the named partition', req('a', { partitionId: 1 }), {}, 'INVALID_ARGUMENT', { field: 'at', partitionId: 1 }, /not inside partition r\/1, which holds \["g", "p"\)/],
    ['a key at the named partition\'s end', req('p', { partitionId: 1 }), {}, 'INVALID_ARGUMENT', { field: 'at', partitionId: 1 }, /not inside partition r\/1/],
    ['a key above the named partition, bounds named', req('z', { partitionId: 0 }), {}, 'INVALID_ARGUMENT', { field: 'at' }, /\[\(start of the keyspace\), "g"\)/],
    ['the RequestSplit field name for the key', req('', { atField: 'split_key' }), {}, 'INVALID_ARGUMENT', { field: 'split_key', limit: 4096 }, /split_key is 0 bytes/],
    ['a partition id out of range', req('k', { partitionId: 3 }), {}, 'INVALID_ARGUMENT', { field: 'partition_id', limit: 2, actual: 3 }, /partitions 0\.\.2/],
    ['a named partition not placed yet', req('k', { partitionId: 1 }), { keyspace: keyspace({ 1: undefined }) }, 'PARTITION_UNAVAILABLE', { partitionId: 1 }, /not placed yet/],
    ['a key whose partition is not placed yet', req('k'), { keyspace: keyspace({ 1: undefined }) }, 'PARTITION_UNAVAILABLE', {}, /No placed partition/],
    ['a partition whose leader is not live', req('k'), { live: new Set(['n2', 'n3']) }, 'PARTITION_UNAVAILABLE', { partitionId: 1, leaderHint: 'n1', epoch: 4 }, /no live leader/],
    ['a partition without a leader', req('k'), { keyspace: keyspace({ 1: part(1, 'g', 'p', { leader: '', isr: [] }) }) }, 'PARTITION_UNAVAILABLE', { partitionId: 1 }, /has no leader/],
    ['a partition with a replica move in flight', req('k'), { moving: new Set([1]) }, 'FAILED_PRECONDITION', { partitionId: 1 }, /replica move of partition r\/1 is under way/],
    [
      'a partition still being carved from its parent',
      req('m'),
      { keyspace: keyspace({ 3: part(3, 'k', 'p', { isr: ['n1'], splitFrom: { parentPartitionId: 1, parentEpoch: 5 } }) }, { partitionCount: 4 }) },
      'FAILED_PRECONDITION',
      { partitionId: 3 },
      /an earlier split .* is still being carved/,
    ],
    [
      'a parent whose new partition is still being carved',
      req('h'),
      { keyspace: keyspace({ 1: part(1, 'g', 'k', { epoch: 5 }), 3: part(3, 'k', 'p', { isr: ['n1'], splitFrom: { parentPartitionId: 1, parentEpoch: 5 } }) }, { partitionCount: 4 }) },
      'FAILED_PRECONDITION',
      { partitionId: 1 },
      /an earlier split of partition r\/1 is still being carved/,
    ],
    ['a split beyond the most partitions a range keyspace may have', req('k'), { keyspace: { ...keyspace(), record: { ...keyspace().record, partitionCount: 65_536 } } }, 'FAILED_PRECONDITION', { limit: 65_536, actual: 65_536 }, /the most a range keyspace may have/],
    ['RequestSplit from another epoch', req('k', { partitionId: 1, leader: { nodeId: 'n1', epoch: 3 } }), {}, 'STALE_EPOCH', { partitionId: 1, epoch: 4, leaderHint: 'n1' }, /names epoch 3/],
    ['RequestSplit from a node that does not lead', req('k', { partitionId: 1, leader: { nodeId: 'n2', epoch: 4 } }), {}, 'NOT_LEADER', { partitionId: 1, epoch: 4, leaderHint: 'n1' }, /comes from n2/],
    ['RequestSplit from a stale leader, before the key is judged', req('g', { partitionId: 1, leader: { nodeId: 'n2', epoch: 3 } }), {}, 'STALE_EPOCH', { epoch: 4 }, /names epoch 3/],
  ])('refuses %s', (_name, request, context, code, details, message) => {
    const plan = planSplit(request, ctx(context));
    if (plan.kind !== 'refuse') throw new Error('expected a refusal');
    expect(plan.error.code).toBe(code);
    expect(plan.error.details).toMatchObject(details);
    expect(plan.error.message).toMatch(message);
  });

  it('refuses a split of a carved partition\'s sibling range only when it is the parent or the child', () => {
    const ks = keyspace({ 3: part(3, 'k', 'p', { isr: ['n1'], splitFrom: { parentPartitionId: 1, parentEpoch: 5 } }) }, { partitionCount: 4 });
    expect(planSplit(req('s'), ctx({ keyspace: ks })).kind).toBe('split');
  });

  it('crashes on a record whose leader is outside its ISR', () => {
    expect(() => planSplit(req('k'), ctx({ keyspace: keyspace({ 1: part(1, 'g', 'p', { isr: ['n2'] }) }) }))).toThrow(AssertionError);
  });
});
