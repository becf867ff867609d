/**
 * The ISR invariant of a partition record as an assertion, for the failover planners: they
 * assert it on the record they plan from and again on the record they propose (STYLE: pair
 * the assertions, before writing and after reading).
 */
import type { PartitionRecord } from '@quire/proto';
import { assert, partitionRecordProblem } from '@quire/common';

/** Crashes (AssertionError) unless `record` has a leader and leader ∈ isr ⊆ replicas without duplicates. */
export function assertPartitionRecord(record: PartitionRecord, what: string): void {
  const problem = partitionRecordProblem(record);
  assert(problem === undefined, `${what} ${record.keyspace}/${record.partitionId} at epoch ${record.epoch} ${problem ?? ''}`);
}

/** Crashes (AssertionError) unless `value` is a non-negative safe integer (an epoch, index or revision). */
export function assertCount(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} must be a non-negative safe integer, not ${value}`);
}
