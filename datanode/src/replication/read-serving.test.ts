import { describe, expect, it } from 'vitest';
import { decideRead, type ReadAsk, type ReadReplicaState } from './read-serving.js';

const follower: ReadReplicaState = {
  role: 'follower',
  installingSnapshot: false,
  acknowledgedIndex: 50,
  viewEpoch: 2,
  inIsr: true,
  contact: { epoch: 2, settled: true, receivedMs: 1_000 },
};
const session = (minIndex: number, arrivedMs = 1_000): ReadAsk => ({ consistency: 'session', minIndex, maxStalenessMs: 0, arrivedMs });
const stale = (maxStalenessMs = 0): ReadAsk => ({ consistency: 'stale', minIndex: 0, maxStalenessMs, arrivedMs: 1_000 });

describe('decideRead', () => {
  it('a leader serves with staleness 0, and refuses a session index it never acknowledged as invalid', () => {
    const leader: ReadReplicaState = { ...follower, role: 'leader' };
    expect(decideRead(leader, session(50), 1_000, 100)).toEqual({ kind: 'serve', staleness: { index: 50, follower: false, sinceLeaderContactMs: 0 } });
    expect(decideRead(leader, stale(), 1_000, 100).kind).toBe('serve');
    const invalid = decideRead(leader, session(51), 1_000, 100);
    expect(invalid.kind).toBe('invalid');
  });

  it('a follower serves a session read at or above its index, waits below it, then refuses', () => {
    expect(decideRead(follower, session(50), 1_010, 100)).toEqual({ kind: 'serve', staleness: { index: 50, follower: true, sinceLeaderContactMs: 10 } });
    expect(decideRead(follower, session(0), 1_010, 100).kind).toBe('serve');
    expect(decideRead(follower, session(51, 1_000), 1_050, 100)).toEqual({ kind: 'wait', untilMs: 1_100 });
    const refused = decideRead(follower, session(51, 1_000), 1_100, 100);
    expect(refused).toMatchObject({ kind: 'refuse', reason: 'behind-session' });
    // A wait of 0 refuses at once.
    expect(decideRead(follower, session(51, 1_000), 1_000, 0)).toMatchObject({ kind: 'refuse', reason: 'behind-session' });
  });

  it('a follower serves a stale read with the time since its last counted leader contact', () => {
    expect(decideRead(follower, stale(), 1_250, 100)).toEqual({ kind: 'serve', staleness: { index: 50, follower: true, sinceLeaderContactMs: 250 } });
    expect(decideRead(follower, stale(300), 1_250, 100).kind).toBe('serve');
    expect(decideRead(follower, stale(200), 1_250, 100)).toMatchObject({ kind: 'refuse', reason: 'too-stale' });
    // Monotonic clocks have fractions; the wire carries whole ms, rounded up.
    expect(decideRead(follower, stale(), 1_250.2, 100)).toMatchObject({ kind: 'serve', staleness: { sinceLeaderContactMs: 251 } });
  });

  it('a follower refuses while installing a snapshot, without contact with the current epoch, unsettled, or outside the ISR', () => {
    expect(decideRead({ ...follower, installingSnapshot: true }, stale(), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'installing-snapshot' });
    expect(decideRead({ ...follower, installingSnapshot: true }, session(0), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'installing-snapshot' });
    expect(decideRead({ ...follower, viewEpoch: 3 }, stale(), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'no-leader-contact' });
    expect(decideRead({ ...follower, viewEpoch: 3 }, session(0), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'no-leader-contact' });
    const unsettled = { ...follower, contact: { epoch: 2, settled: false, receivedMs: undefined } };
    expect(decideRead(unsettled, stale(), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'no-leader-contact' });
    // A session read needs only the index: an unsettled epoch still serves it.
    expect(decideRead(unsettled, session(50), 1_000, 100)).toMatchObject({ kind: 'serve', staleness: { index: 50, follower: true } });
    expect(decideRead({ ...follower, inIsr: false }, stale(), 1_000, 100)).toMatchObject({ kind: 'refuse', reason: 'not-in-isr' });
  });
});
