import { describe, expect, it } from 'vitest';
import { sessionPositionsMax } from '@quire/common';
import { SessionToken } from './session.js';

describe('SessionToken', () => {
  it('keeps the largest index per keyspace and partition, whatever order answers arrive in', () => {
    const s = new SessionToken();
    s.merge('', { partitionId: 3, index: 10 });
    s.merge('default', { partitionId: 3, index: 7 });
    s.merge('default', { partitionId: 1, index: 4 });
    s.merge('other', { partitionId: 3, index: 99 });
    s.merge('default', { partitionId: 3, index: 12 });
    s.merge('default', undefined);
    s.merge('default', { partitionId: 2, index: 0 });
    expect(s.positions('default')).toEqual([
      { partitionId: 1, index: 4 },
      { partitionId: 3, index: 12 },
    ]);
    expect(s.positions('')).toEqual(s.positions('default'));
    expect(s.positions('other')).toEqual([{ partitionId: 3, index: 99 }]);
    expect(s.positions('none')).toEqual([]);
  });

  it('holds at most sessionPositionsMax positions per keyspace', () => {
    const s = new SessionToken();
    for (let p = 0; p <= sessionPositionsMax; p++) s.merge('k', { partitionId: p, index: 1 });
    expect(s.positions('k')).toHaveLength(sessionPositionsMax);
    // An existing position still moves.
    s.merge('k', { partitionId: 0, index: 5 });
    expect(s.positions('k')[0]).toEqual({ partitionId: 0, index: 5 });
  });

  it('keeps positions of partitions a split made after the session began: ids are not bounded by a partition count', () => {
    const s = new SessionToken();
    // A range keyspace of 2 partitions splits partition 1; the new partition gets id 2, then 3.
    s.merge('r', { partitionId: 1, index: 40 });
    s.merge('r', { partitionId: 3, index: 2 });
    s.merge('r', { partitionId: 2, index: 7 });
    expect(s.positions('r')).toEqual([
      { partitionId: 1, index: 40 },
      { partitionId: 2, index: 7 },
      { partitionId: 3, index: 2 },
    ]);
  });
});
