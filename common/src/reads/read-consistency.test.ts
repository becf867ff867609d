import { describe, expect, it } from 'vitest';
import { ReadConsistency } from '@quire/proto';
import { isQuireError } from '../errors/quire-error.js';
import { consistencyOf, readConsistencyOf, sessionIndexFor, sessionPositionsMax } from './read-consistency.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('consistencyOf', () => {
  it('maps every known wire value, unspecified as linearizable', () => {
    expect(consistencyOf(ReadConsistency.READ_CONSISTENCY_UNSPECIFIED)).toBe('linearizable');
    expect(consistencyOf(ReadConsistency.READ_CONSISTENCY_LINEARIZABLE)).toBe('linearizable');
    expect(consistencyOf(ReadConsistency.READ_CONSISTENCY_SESSION)).toBe('session');
    expect(consistencyOf(ReadConsistency.READ_CONSISTENCY_STALE)).toBe('stale');
    for (const c of ['linearizable', 'session', 'stale'] as const) expect(consistencyOf(readConsistencyOf(c))).toBe(c);
  });

  it('refuses an unknown value with INVALID_ARGUMENT naming the field', () => {
    for (const value of [4, 99, -1]) {
      const err = thrown(() => consistencyOf(value));
      expect(isQuireError(err, 'INVALID_ARGUMENT')).toBe(true);
      if (isQuireError(err)) {
        expect(err.details.field).toBe('consistency');
        expect(err.message).toContain(String(value));
      }
    }
  });
});

describe('sessionIndexFor', () => {
  it('returns the largest index for the partition, 0 when it has none', () => {
    const session = [
      { partitionId: 1, index: 7 },
      { partitionId: 2, index: 3 },
      { partitionId: 1, index: 9 },
      { partitionId: 1, index: 8 },
    ];
    expect(sessionIndexFor(session, 1, 4)).toBe(9);
    expect(sessionIndexFor(session, 2, 4)).toBe(3);
    expect(sessionIndexFor(session, 0, 4)).toBe(0);
    expect(sessionIndexFor([], 0, 4)).toBe(0);
  });

  it('refuses too many positions, naming the field and the limit', () => {
    const session = Array.from({ length: sessionPositionsMax + 1 }, () => ({ partitionId: 0, index: 1 }));
    const err = thrown(() => sessionIndexFor(session, 0, 4));
    expect(isQuireError(err, 'INVALID_ARGUMENT')).toBe(true);
    if (isQuireError(err)) expect(err.details).toMatchObject({ field: 'session', limit: sessionPositionsMax, actual: sessionPositionsMax + 1 });
    expect(sessionIndexFor(session.slice(1), 0, 4)).toBe(1);
  });

  it('refuses a partition the keyspace does not have and an unsafe index', () => {
    const far = thrown(() => sessionIndexFor([{ partitionId: 4, index: 1 }], 0, 4));
    expect(isQuireError(far) && far.details.field).toBe('session.partition_id');
    const huge = thrown(() => sessionIndexFor([{ partitionId: 0, index: Number.MAX_SAFE_INTEGER + 2 }], 0, 4));
    expect(isQuireError(huge) && huge.details.field).toBe('session.index');
  });
});
