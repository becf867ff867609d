import { describe, expect, it } from 'vitest';
import { loadHashPartitioner, MetadataView } from '@quire/common';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { rangeViewOf, splitInView } from '../testing/range-view.js';
import { partitionOfKey, rangeIndexOf, rangeSegmentOf, routeKey, routePartition, sessionPositionsFor } from './route.js';
import { splitUnderWay } from './failover.js';

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

describe('routing a RANGE keyspace', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  // Ids in creation order: 0 = ['', 'g'), 1 = ['p', ''), 2 = ['g', 'p') (a split of ['g', '') at 'p' made 1).
  const ranged = () =>
    rangeViewOf(
      [
        {
          name: 'r',
          partitions: [
            { id: 0, start: '', end: 'g', leader: 'n1', epoch: 3 },
            { id: 1, start: 'p', end: '', leader: 'n2', epoch: 2 },
            { id: 2, start: 'g', end: 'p', leader: 'n3', epoch: 2 },
          ],
        },
      ],
      ['n1', 'n2', 'n3'],
    );

  it('routes a key to the partition whose range holds it, by key order, not by id', async () => {
    const partitioner = await loadHashPartitioner();
    const view = ranged();
    const routes = ['', 'a', 'g', 'os', 'p', 'zz'].map((k) => routeKey(view, partitioner, 'r', b(k)));
    expect(routes.map((r) => [r.partitionId, r.nodeId, r.epoch])).toEqual([
      [0, 'n1', 3],
      [0, 'n1', 3],
      [2, 'n3', 2],
      [2, 'n3', 2],
      [1, 'n2', 2],
      [1, 'n2', 2],
    ]);
  });

  it('routes the same key to the new partition after a split, at the new epoch', async () => {
    const partitioner = await loadHashPartitioner();
    const view = ranged();
    expect(routeKey(view, partitioner, 'r', b('t')).partitionId).toBe(1);
    const { childId, epoch } = splitInView(view, 'r', 1, 's');
    expect([childId, epoch]).toEqual([3, 3]);
    expect(routeKey(view, partitioner, 'r', b('t'))).toMatchObject({ partitionId: 3, epoch: 3, nodeId: 'n2', mapRevision: view.revision });
    expect(routeKey(view, partitioner, 'r', b('r'))).toMatchObject({ partitionId: 1, epoch: 3 });
    // The view shows the split under way for both partitions until the coordinator clears split_from.
    const ks = view.keyspace('r')!;
    expect([0, 1, 2, 3].map((id) => splitUnderWay(ks, id))).toEqual([false, true, false, true]);
  });

  it('builds one index per keyspace entry: a view change makes a new entry and so a new index', () => {
    const view = ranged();
    const ks = view.keyspace('r')!;
    expect(rangeIndexOf(ks)).toBe(rangeIndexOf(view.keyspace('r')!));
    splitInView(view, 'r', 0, 'c');
    expect(view.keyspace('r')).not.toBe(ks);
    expect(rangeIndexOf(view.keyspace('r')!)).not.toBe(rangeIndexOf(ks));
    expect(rangeIndexOf(view.keyspace('r')!).partitionOf(b('d'))).toBe(3);
  });

  it('answers PARTITION_UNAVAILABLE for a key no placed partition holds', async () => {
    const partitioner = await loadHashPartitioner();
    const view = rangeViewOf([{ name: 'r', partitionCount: 2, partitions: [{ id: 0, start: '', end: 'm', leader: 'n1' }] }], ['n1']);
    expect(() => routeKey(view, partitioner, 'r', b('x'))).toThrow('No partition of keyspace "r" holding key "x" is placed yet');
    expect(() => partitionOfKey(view, view.keyspace('r')!, partitioner, Buffer.from([0x6e, 0xff]))).toThrow(/holding key 0x6eff/);
    expect(partitionOfKey(view, view.keyspace('r')!, partitioner, b('a'))).toBe(0);
  });

  it('gives a scan the partition holding its next key and where that partition\'s share ends', () => {
    const view = ranged();
    const ks = view.keyspace('r')!;
    const segment = (from: string, end: string) => {
      const s = rangeSegmentOf(view, ks, b(from), b(end));
      return [s.partitionId, s.end.toString()];
    };
    expect(segment('', '')).toEqual([0, 'g']);
    expect(segment('b', 'd')).toEqual([0, 'd']);
    expect(segment('g', '')).toEqual([2, 'p']);
    expect(segment('h', 'q')).toEqual([2, 'p']);
    expect(segment('p', '')).toEqual([1, '']);
    expect(segment('q', 'r')).toEqual([1, 'r']);
    const gap = rangeViewOf([{ name: 'r', partitionCount: 2, partitions: [{ id: 1, start: 'm', end: '', leader: 'n1' }] }], ['n1']);
    expect(() => rangeSegmentOf(gap, gap.keyspace('r')!, b('a'), b(''))).toThrow(/holding key "a" is placed yet/);
  });

  it('leaves out session positions of partitions this view does not show yet, in RANGE keyspaces only', () => {
    const view = ranged();
    const session = [
      { partitionId: 1, index: 4 },
      { partitionId: 7, index: 9 },
      { partitionId: -1, index: 1 },
    ];
    expect(sessionPositionsFor(view.keyspace('r')!, session)).toEqual([session[0], session[2]]);
    const hashed = viewOf({ partitions: [{ id: 0, leader: 'n1' }], live: ['n1'] });
    expect(sessionPositionsFor(hashed.keyspace('default')!, session)).toBe(session);
  });
});
