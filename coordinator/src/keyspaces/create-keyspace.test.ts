import { describe, expect, it } from 'vitest';
import { AckPolicy, PartitionScheme, type CreateKeyspaceRequest } from '@quire/proto';
import { defaultLimits } from '@quire/common';
import { planCreateKeyspace, planDropKeyspace, type KeyspaceCreationContext } from './create-keyspace.js';

const ctx: KeyspaceCreationContext = {
  exists: (name) => name === 'default' || name === 'orders',
  dropped: (name) => name === 'old',
  nodeRoom: [Infinity, Infinity, Infinity],
  limits: defaultLimits,
  defaults: { replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SYNC },
};
const request = (fields: Partial<CreateKeyspaceRequest>): CreateKeyspaceRequest => ({
  keyspace: 'users',
  scheme: PartitionScheme.PARTITION_SCHEME_UNSPECIFIED,
  partitionCount: 8,
  replicationFactor: 0,
  ackPolicy: AckPolicy.ACK_POLICY_UNSPECIFIED,
  minIsr: 0,
  splitKeys: [],
  ...fields,
});
const RANGE = PartitionScheme.PARTITION_SCHEME_RANGE;
const keys = (...k: string[]): Buffer[] => k.map((x) => Buffer.from(x));

describe('planCreateKeyspace accepts', () => {
  it.each([
    ['defaults: the coordinator\'s replication factor and ack policy, min ISR 2', {}, { replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 2 }],
    ['one replica, min ISR 1', { replicationFactor: 1 }, { replicationFactor: 1, minIsr: 1 }],
    ['every setting given', { replicationFactor: 2, ackPolicy: AckPolicy.ACK_POLICY_ASYNC, minIsr: 1, partitionCount: 4096 }, { replicationFactor: 2, ackPolicy: AckPolicy.ACK_POLICY_ASYNC, minIsr: 1, partitionCount: 4096 }],
    ['HASH named explicitly', { scheme: PartitionScheme.PARTITION_SCHEME_HASH }, { scheme: PartitionScheme.PARTITION_SCHEME_HASH }],
    ['as many replicas as live nodes', { replicationFactor: 3, minIsr: 3 }, { replicationFactor: 3, minIsr: 3 }],
  ] as const)('%s', (_name, fields, expected) => {
    const decision = planCreateKeyspace(request(fields), ctx);
    expect(decision).toMatchObject({ ok: true, record: { name: 'users', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 8, ...expected } });
  });
});

describe('planCreateKeyspace with the RANGE scheme', () => {
  it.each<[name: string, fields: Partial<CreateKeyspaceRequest>, partitionCount: number]>([
    ['split keys, partition_count 0: len + 1 partitions', { splitKeys: keys('g', 'p'), partitionCount: 0 }, 3],
    ['split keys, partition_count len + 1', { splitKeys: keys('g', 'p'), partitionCount: 3 }, 3],
    ['no split keys: one partition covering every key', { splitKeys: [], partitionCount: 0 }, 1],
    ['4095 split keys (4096 partitions)', { splitKeys: Array.from({ length: 4095 }, (_, i) => Buffer.from(i.toString(16).padStart(4, '0'))), partitionCount: 0 }, 4096],
    ['a split key of 4096 bytes', { splitKeys: [Buffer.alloc(4096, 0x61)], partitionCount: 0 }, 2],
  ])('accepts %s and stores the split keys', (_name, fields, partitionCount) => {
    const decision = planCreateKeyspace(request({ scheme: RANGE, ...fields }), ctx);
    if (!decision.ok) throw decision.error;
    expect(decision.record).toMatchObject({ name: 'users', scheme: RANGE, partitionCount, splitKeys: fields.splitKeys });
  });

  it.each<[name: string, fields: Partial<CreateKeyspaceRequest>, field: string, limit: number | undefined, message: RegExp]>([
    ['split keys with HASH', { splitKeys: keys('g') }, 'split_keys', 0, /HASH keyspace has no split keys/],
    ['split keys with the unspecified scheme (HASH)', { scheme: PartitionScheme.PARTITION_SCHEME_UNSPECIFIED, splitKeys: keys('g') }, 'split_keys', 0, /HASH/],
    ['4096 split keys', { scheme: RANGE, partitionCount: 0, splitKeys: Array.from({ length: 4096 }, (_, i) => Buffer.from(i.toString(16).padStart(4, '0'))) }, 'split_keys', 4095, /at most 4095/],
    ['an empty split key', { scheme: RANGE, partitionCount: 0, splitKeys: keys('g', '') }, 'split_keys', undefined, /split key 1 is empty/],
    ['a split key of 4097 bytes', { scheme: RANGE, partitionCount: 0, splitKeys: [Buffer.alloc(4097, 0x61)] }, 'split_keys', 4096, /4097 bytes; a split key is 1\.\.4096 bytes/],
    ['split keys out of order', { scheme: RANGE, partitionCount: 0, splitKeys: keys('p', 'g') }, 'split_keys', undefined, /strictly ascending/],
    ['a repeated split key', { scheme: RANGE, partitionCount: 0, splitKeys: keys('g', 'g') }, 'split_keys', undefined, /repeats/],
    ['a partition count that is not len + 1', { scheme: RANGE, partitionCount: 8, splitKeys: keys('g', 'p') }, 'partition_count', 3, /give 0 or 3/],
  ])('refuses %s, naming the field', (_name, fields, field, limit, message) => {
    const decision = planCreateKeyspace(request(fields), ctx);
    if (decision.ok) throw new Error('expected a refusal');
    expect(decision.error.code).toBe('INVALID_ARGUMENT');
    expect(decision.error.details.field).toBe(field);
    expect(decision.error.details.limit).toBe(limit);
    expect(decision.error.message).toMatch(message);
  });

  it('counts len + 1 partitions against the nodes\' room', () => {
    const decision = planCreateKeyspace(request({ scheme: RANGE, partitionCount: 0, splitKeys: keys('g', 'p'), replicationFactor: 1 }), { ...ctx, nodeRoom: [1, 1] });
    expect(!decision.ok && decision.error.details).toMatchObject({ field: 'partition_count', limit: 2, actual: 3 });
  });
});

describe('planCreateKeyspace refuses, naming the field and its limit', () => {
  it.each([
    ['no name', { keyspace: '' }, 'INVALID_ARGUMENT', 'keyspace', undefined],
    ['a name with a slash', { keyspace: 'a/b' }, 'INVALID_ARGUMENT', 'keyspace', 64],
    ['a name of 65 characters', { keyspace: 'k'.repeat(65) }, 'INVALID_ARGUMENT', 'keyspace', 64],
    ['an unknown scheme', { scheme: 7 as PartitionScheme }, 'INVALID_ARGUMENT', 'scheme', undefined],
    ['zero partitions', { partitionCount: 0 }, 'INVALID_ARGUMENT', 'partition_count', 4096],
    ['4097 partitions', { partitionCount: 4097 }, 'INVALID_ARGUMENT', 'partition_count', 4096],
    ['replication above the limit', { replicationFactor: 8 }, 'INVALID_ARGUMENT', 'replication_factor', 7],
    ['replication above the live node count', { replicationFactor: 4 }, 'INVALID_ARGUMENT', 'replication_factor', 3],
    ['min ISR above the replication factor', { replicationFactor: 2, minIsr: 3 }, 'INVALID_ARGUMENT', 'min_isr', 2],
    ['an unknown ack policy', { ackPolicy: 9 as AckPolicy }, 'INVALID_ARGUMENT', 'ack_policy', undefined],
    ['a name in use', { keyspace: 'orders' }, 'ALREADY_EXISTS', 'keyspace', undefined],
    ['the default keyspace', { keyspace: 'default' }, 'ALREADY_EXISTS', 'keyspace', undefined],
  ] as const)('%s', (_name, fields, code, field, limit) => {
    const decision = planCreateKeyspace(request(fields), ctx);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.code).toBe(code);
    expect(decision.error.details.field).toBe(field);
    expect(decision.error.details.limit).toBe(limit);
    expect(decision.error.message).toMatch(field);
  });

  it('counts live nodes only: replication 3 with 2 live is refused, with the count in the message', () => {
    const decision = planCreateKeyspace(request({ replicationFactor: 3 }), { ...ctx, nodeRoom: [Infinity, Infinity] });
    expect(decision).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', details: { field: 'replication_factor', limit: 2, actual: 3 } } });
    expect(decision.ok ? '' : decision.error.message).toBe('replication_factor is 3 but 2 data nodes are live: a partition\'s replicas go to distinct nodes');
  });

  it.each([
    ['partitions × replicas above the room left', [10, 10, 10], { partitionCount: 11, replicationFactor: 3 }, 'partition_count', 10],
    ['room on fewer nodes than the replication factor', [0, 100, 100], { partitionCount: 1, replicationFactor: 3 }, 'replication_factor', 2],
  ] as const)('refuses %s (each node\'s --partitions-max)', (_name, nodeRoom, fields, field, limit) => {
    const decision = planCreateKeyspace(request(fields), { ...ctx, nodeRoom });
    expect(decision).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', details: { field, limit } } });
  });

  it('accepts what exactly fits the room left', () => {
    expect(planCreateKeyspace(request({ partitionCount: 10, replicationFactor: 3 }), { ...ctx, nodeRoom: [10, 10, 10] }).ok).toBe(true);
  });
});

describe('planCreateKeyspace with the name of a dropped keyspace', () => {
  it('refuses with FAILED_PRECONDITION: names are not reused', () => {
    const d = planCreateKeyspace(request({ keyspace: 'old' }), ctx);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.code).toBe('FAILED_PRECONDITION');
      expect(d.error.message).toMatch(/keyspace "old" was dropped, and the name of a dropped keyspace is not used again/);
    }
  });
});

describe('planDropKeyspace', () => {
  const lookup = (name: string) => (name === 'orders' ? { modRevision: 42, partitionCount: 8 } : undefined);
  it.each([
    ['an empty name', '', 'INVALID_ARGUMENT', /keyspace is required/],
    ['the default keyspace', 'default', 'INVALID_ARGUMENT', /"default" cannot be dropped/],
    ['an invalid name', 'Bad Name', 'INVALID_ARGUMENT', /keyspace/],
    ['an unknown keyspace', 'users', 'KEYSPACE_NOT_FOUND', /keyspace "users" does not exist; nothing changed/],
  ])('refuses %s', (_what, name, code, message) => {
    const d = planDropKeyspace(name, lookup, defaultLimits);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.code).toBe(code);
      expect(d.error.message).toMatch(message);
    }
  });
  it('drops an existing keyspace at the revision it was read at', () => {
    expect(planDropKeyspace('orders', lookup, defaultLimits)).toEqual({ ok: true, name: 'orders', modRevision: 42, partitionCount: 8 });
  });
});
