/**
 * Builders of RANGE keyspaces in a test MetadataView (common's viewOf builds HASH keyspaces
 * only; the records come from common's rangeKeyspaceRecord and rangePartitionRecord). Import
 * from tests only.
 */
import { keyspaceKey, partitionKey, type MetadataView } from '@quire/common';
import { applyToView, rangeKeyspaceRecord, rangePartitionRecord, type RangePartitionFixture } from '../../../common/src/testing/metadata-fixtures.js';

export type { RangePartitionFixture } from '../../../common/src/testing/metadata-fixtures.js';

/**
 * Adds a RANGE keyspace created with `splitKeys`, now with `partitionCount` partitions (default:
 * len(splitKeys) + 1), and the given partition records, in one change at the view's next revision.
 */
export function addRangeKeyspace(
  view: MetadataView,
  name: string,
  splitKeys: readonly string[],
  partitions: readonly RangePartitionFixture[],
  settings: { readonly partitionCount?: number; readonly replicationFactor?: number } = {},
): number {
  return applyToView(view, [
    { key: keyspaceKey(name), value: rangeKeyspaceRecord(name, settings.partitionCount ?? splitKeys.length + 1, settings.replicationFactor ?? 1, splitKeys) },
    ...partitions.map((p) => ({ key: partitionKey(name, p.id), value: rangePartitionRecord(name, p) })),
  ]);
}
