import { describe, expect, it } from 'vitest';
import { loadHashPartitioner, MetadataView } from '@quire/common';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { routeKey, routePartition } from './route.js';

describe('routing', () => {
  const all = Array.from({ length: 16 }, (_, id) => ({ id, leader: id % 2 === 0 ? 'n1' : 'n2', epoch: 2 }));

  it('routes a key to xxhash64(key) mod P and the leader\'s registered address and epoch', async () => {
    const partitioner = await loadHashPartitioner();
    const view = viewOf({ partitions: all, live: ['n1', 'n2'] });
    // xxhash64("abc") = 0x44bc2cf5ad770999 → 0x44bc2cf5ad770999 mod 16 = 9.
    const route = routeKey(view, partitioner, 'default', Buffer.from('abc'));
    expect(route).toEqual({ keyspace: 'default', partitionId: 9, epoch: 2, nodeId: 'n2', address: '127.0.0.1:7101', mapRevision: view.revision });
  });

  it('answers PARTITION_UNAVAILABLE, naming the node, when the leader is not registered', () => {
    const view = viewOf({ partitions: all, live: ['n1'] });
    expect(() => routePartition(view, view.keyspace('default')!, 1)).toThrow('Partition default/1 is on node n2, which is down');
  });

  it('answers PARTITION_UNAVAILABLE for a partition without a leader yet', () => {
    const view = viewOf({ live: ['n1'] });
    expect(() => routePartition(view, view.keyspace('default')!, 0)).toThrow(/has no leader yet/);
  });

  it('answers KEYSPACE_NOT_FOUND for an unknown keyspace, and PARTITION_UNAVAILABLE before the map is loaded', async () => {
    const partitioner = await loadHashPartitioner();
    const view = viewOf({ partitions: all, live: ['n1', 'n2'] });
    expect(() => routeKey(view, partitioner, 'nope', Buffer.from('k'))).toThrow('keyspace "nope" does not exist');
    expect(() => routeKey(new MetadataView(), partitioner, 'default', Buffer.from('k'))).toThrow('not loaded the partition map');
  });
});
