import { describe, expect, it } from 'vitest';
import { AckPolicy, type PartitionRecord } from '@quire/proto';
import { defaultMinIsr, effectiveAckPolicy, partitionRecordProblem, upgradePartitionRecord } from './records.js';

const record = (over: Partial<PartitionRecord>): PartitionRecord => ({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined,
  keyspace: 'k',
  partitionId: 0,
  replicas: ['n1', 'n2', 'n3'],
  leader: 'n1',
  epoch: 1,
  isr: ['n1', 'n2', 'n3'],
  ...over,
});

describe('metadata record rules', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [5, 2],
  ])('defaults min_isr for replication factor %i to %i', (replicationFactor, minIsr) => {
    expect(defaultMinIsr(replicationFactor)).toBe(minIsr);
  });

  it('reads an unspecified ack policy as SYNC and keeps every other one', () => {
    expect(effectiveAckPolicy(AckPolicy.ACK_POLICY_UNSPECIFIED)).toBe(AckPolicy.ACK_POLICY_SYNC);
    for (const p of [AckPolicy.ACK_POLICY_SYNC, AckPolicy.ACK_POLICY_SEMI_SYNC, AckPolicy.ACK_POLICY_ASYNC]) expect(effectiveAckPolicy(p)).toBe(p);
  });

  it('reads an empty ISR as [leader] and leaves a set ISR alone', () => {
    expect(upgradePartitionRecord(record({ replicas: ['n1'], isr: [] })).isr).toEqual(['n1']);
    const withIsr = record({ isr: ['n1', 'n3'] });
    expect(upgradePartitionRecord(withIsr)).toBe(withIsr);
  });

  it.each<[string, Partial<PartitionRecord>, string | undefined]>([
    ['accepts leader ∈ isr ⊆ replicas', { isr: ['n2', 'n1'] }, undefined],
    ['accepts an ISR of the leader alone', { isr: ['n1'] }, undefined],
    ['rejects a record without a leader', { leader: '' }, 'has no leader'],
    ['rejects a leader outside the ISR', { isr: ['n2', 'n3'] }, 'has leader n1 outside its ISR [n2, n3]'],
    ['rejects an empty ISR', { isr: [] }, 'has leader n1 outside its ISR []'],
    ['rejects ISR members that are not replicas', { isr: ['n1', 'n9'] }, 'has ISR members [n9] that are not replicas [n1, n2, n3]'],
    ['rejects duplicate ISR members', { isr: ['n1', 'n1'] }, 'has duplicate ISR members [n1, n1]'],
    ['rejects duplicate replicas', { replicas: ['n1', 'n1'], isr: ['n1'] }, 'has duplicate replicas [n1, n1]'],
  ])('%s', (_name, over, problem) => {
    expect(partitionRecordProblem(record(over))).toBe(problem);
  });
});
