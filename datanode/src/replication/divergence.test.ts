import { describe, expect, it } from 'vitest';
import { AssertionError, seededRng, type Rng } from '@quire/common';
import { EpochHistory } from './epoch-history.js';
import { adviseTruncation, agreedIndex, truncationIndex, type LogEnd } from './divergence.js';

/** A log as the epochs of its entries, entry i + 1 at position i, optionally missing a prefix. */
interface Log {
  readonly epochs: readonly number[];
  /** The first index still held (1 unless prefix-truncated). */
  readonly start: number;
}

function historyOf(log: Log): EpochHistory {
  const h = EpochHistory.empty();
  log.epochs.forEach((epoch, i) => h.append(epoch, i + 1));
  if (log.start > 1) h.truncateBefore(log.start);
  return h;
}

function endOf(log: Log): LogEnd {
  const index = log.epochs.length;
  return { index, epoch: index === 0 ? 0 : (log.epochs[index - 1] as number) };
}

const full = (...epochs: number[]): Log => ({ epochs, start: 1 });

/** The length of the longest common prefix: the largest index both logs agree on. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe('adviseTruncation and truncationIndex', () => {
  it.each([
    // what, leader, follower, first advice, agreed index, rounds
    ['identical logs', full(1, 1, 2, 2), full(1, 1, 2, 2), { kind: 'truncate', epoch: 2, index: 4 }, 4, 1],
    ['both logs empty', full(), full(), { kind: 'truncate', epoch: 0, index: 0 }, 0, 1],
    ['an empty follower', full(1, 1, 2), full(), { kind: 'truncate', epoch: 0, index: 0 }, 0, 1],
    ['a follower behind in the current epoch', full(1, 1, 2, 2, 2), full(1, 1, 2), { kind: 'truncate', epoch: 2, index: 3 }, 3, 1],
    ['a follower behind by whole epochs', full(1, 1, 2, 3, 3), full(1, 1), { kind: 'truncate', epoch: 1, index: 2 }, 2, 1],
    ['a follower ahead in an old epoch', full(1, 1, 2, 2), full(1, 1, 1, 1, 1), { kind: 'truncate', epoch: 1, index: 2 }, 2, 1],
    ['a follower ahead of the leader in the same epoch', full(1, 1, 2), full(1, 1, 2, 2, 2), { kind: 'truncate', epoch: 2, index: 3 }, 3, 1],
    ['a follower with entries of an epoch the leader never had', full(1, 1, 1, 3, 3), full(1, 1, 2, 2), { kind: 'truncate', epoch: 1, index: 3 }, 2, 2],
    ['a follower newer than every epoch with entries on the leader', full(1, 1, 1), full(1, 1, 2, 2), { kind: 'truncate', epoch: 1, index: 3 }, 2, 2],
    ['an empty leader and a follower with entries', full(), full(1, 1), { kind: 'truncate', epoch: 0, index: 0 }, 0, 1],
    ['a follower whose old epoch outlived the leader’s copy of it', full(1, 1, 2, 2, 2, 2, 2, 2, 2, 2), full(1, 1, 1, 1, 1, 3, 3), { kind: 'truncate', epoch: 2, index: 7 }, 2, 2],
    ['three epochs the leader never had', full(1, 1, 2, 2, 4, 4, 6, 6), full(1, 1, 1, 3, 3, 5, 5), { kind: 'truncate', epoch: 4, index: 6 }, 2, 3],
    ['a prefix-truncated leader and a follower at its start', { epochs: [1, 1, 2, 2, 2, 2, 3, 3], start: 6 }, full(1, 1, 2, 2, 2), { kind: 'truncate', epoch: 2, index: 5 }, 5, 1],
    ['a prefix-truncated leader and a follower past its start', { epochs: [1, 1, 2, 2, 2, 2, 3, 3], start: 6 }, full(1, 1, 2, 2, 2, 2, 2), { kind: 'truncate', epoch: 2, index: 6 }, 6, 1],
  ] as const)('converges for %s', (_what, leader, follower, advice, agreed, rounds) => {
    const leaderHistory = historyOf(leader);
    expect(adviseTruncation(endOf(follower), leaderHistory, leader.epochs.length)).toEqual(advice);
    expect(agreedIndex(leaderHistory, leader.epochs.length, historyOf(follower), follower.epochs.length)).toEqual({ index: agreed, rounds });
    expect(agreed).toBe(commonPrefix(leader.epochs, follower.epochs));
  });

  it.each([
    ['behind the leader’s log start', { epochs: [1, 1, 2, 2, 2, 2, 3, 3], start: 6 }, full(1, 1, 2)],
    ['in an epoch older than any the leader still holds', { epochs: [1, 1, 2, 2, 2, 2, 3, 3], start: 6 }, full(1, 1, 1, 1, 1, 1, 1)],
    ['diverging below the leader’s log start', { epochs: [1, 1, 3, 3, 3, 3, 3], start: 6 }, full(1, 1, 2, 2, 2, 2, 2, 2)],
  ])('advises a snapshot for a follower %s', (_what, leader, follower) => {
    const leaderHistory = historyOf(leader);
    expect(agreedIndex(leaderHistory, leader.epochs.length, historyOf(follower), follower.epochs.length)).toBe('snapshot');
    expect(commonPrefix(leader.epochs, follower.epochs)).toBeLessThan(leader.start - 1);
  });

  it('advises a snapshot at once when the follower’s last epoch is older than the leader’s base epoch', () => {
    const leader = historyOf({ epochs: [1, 1, 2, 2, 3, 3], start: 4 });
    expect(adviseTruncation({ epoch: 1, index: 2 }, leader, 6)).toEqual({ kind: 'snapshot' });
  });

  it('advises a snapshot when retention dropped entries the history still describes', () => {
    // The history covers 1..8 (epochs 1, 1, 2, ...), but the log holds only 6..8.
    const leader = historyOf(full(1, 1, 2, 2, 2, 2, 2, 2));
    expect(adviseTruncation({ epoch: 2, index: 4 }, leader, 8, 6)).toEqual({ kind: 'snapshot' });
    expect(adviseTruncation({ epoch: 2, index: 5 }, leader, 8, 6)).toEqual({ kind: 'truncate', epoch: 2, index: 5 });
    // An empty follower log (a replica whose install was discarded) needs everything from 1.
    expect(adviseTruncation({ epoch: 0, index: 0 }, leader, 8, 6)).toEqual({ kind: 'snapshot' });
    expect(adviseTruncation({ epoch: 0, index: 0 }, leader, 8, 1)).toEqual({ kind: 'truncate', epoch: 0, index: 0 });
    expect(adviseTruncation({ epoch: 2, index: 4 }, leader, 8)).toEqual({ kind: 'truncate', epoch: 2, index: 4 });
  });

  it('lets the follower keep only entries of epochs up to the advised one', () => {
    const follower = historyOf(full(1, 1, 2, 2, 3, 3));
    const at = (end: number) => (epoch: number) => follower.endOfEpoch(epoch, end);
    expect(truncationIndex({ epoch: 3, index: 6 }, at(6), { epoch: 3, index: 6 })).toBe(6);
    expect(truncationIndex({ epoch: 2, index: 6 }, at(6), { epoch: 3, index: 6 })).toBe(4);
    expect(truncationIndex({ epoch: 3, index: 3 }, at(6), { epoch: 3, index: 6 })).toBe(3);
    expect(truncationIndex({ epoch: 0, index: 6 }, at(6), { epoch: 3, index: 6 })).toBe(0);
  });

  it('returns undefined when the follower would have to truncate below its own log start', () => {
    const follower = EpochHistory.startingAfter(10, 3);
    follower.append(3, 11);
    expect(truncationIndex({ epoch: 2, index: 11 }, (epoch) => follower.endOfEpoch(epoch, 11), { epoch: 3, index: 11 })).toBeUndefined();
  });

  it.each([
    ['a negative index', { epoch: 1, index: -1 }],
    ['an entry with epoch 0', { epoch: 0, index: 3 }],
    ['an empty log with an epoch', { epoch: 2, index: 0 }],
    ['a fractional index', { epoch: 1, index: 1.5 }],
  ])('refuses a follower log end with %s', (_what, end) => {
    expect(() => adviseTruncation(end, historyOf(full(1, 1)), 2)).toThrow(AssertionError);
  });

  it('refuses a leader log end inconsistent with its history', () => {
    expect(() => adviseTruncation({ epoch: 1, index: 1 }, historyOf(full(1, 1, 2)), 2)).toThrow(AssertionError);
  });

  it('refuses invalid advice and an end-of-epoch lookup beyond the follower’s log', () => {
    const end = { epoch: 1, index: 2 };
    expect(() => truncationIndex({ epoch: 1, index: -1 }, () => 0, end)).toThrow(AssertionError);
    expect(() => truncationIndex({ epoch: -1, index: 1 }, () => 0, end)).toThrow(AssertionError);
    expect(() => truncationIndex({ epoch: 1, index: 2 }, () => 3, end)).toThrow(AssertionError);
  });
});

/**
 * Random logs that respect Log Matching: the leader of epoch e starts from a prefix of some
 * earlier leader's log (the log of whichever replica won the election) and appends zero or
 * more entries of epoch e. Every replica's log is a prefix of some leader's log.
 */
function leaderLogs(rng: Rng, epochsMax: number): number[][] {
  const logs: number[][] = [[]];
  for (let epoch = 1; epoch <= epochsMax; epoch++) {
    const base = logs[rng.below(epoch)] as number[];
    const kept = base.slice(0, rng.below(base.length + 1));
    const appended = new Array<number>(rng.below(5)).fill(epoch);
    logs.push([...kept, ...appended]);
  }
  return logs;
}

describe('divergence over random logs', () => {
  it.each(Array.from({ length: 12 }, (_, i) => i + 1))('always ends at the longest common prefix, or a snapshot below the leader’s log start (seed %i)', (seed) => {
    const rng = seededRng(seed);
    for (let trial = 0; trial < 300; trial++) {
      const logs = leaderLogs(rng, 1 + rng.below(8));
      const leaderEpochs = logs.at(-1) as number[];
      const leader: Log = { epochs: leaderEpochs, start: 1 + (rng.below(3) === 0 ? rng.below(leaderEpochs.length + 1) : 0) };
      const source = logs[rng.below(logs.length)] as number[];
      const follower = full(...source.slice(0, rng.below(source.length + 1)));
      const agreed = commonPrefix(leader.epochs, follower.epochs);

      // Play the rounds by hand, checking that no round drops an entry both logs agree on.
      const leaderHistory = historyOf(leader);
      const followerHistory = historyOf(follower);
      const epochsOfFollower = followerHistory.pairs.length;
      let end = follower.epochs.length;
      let outcome: number | 'snapshot' | undefined;
      let rounds = 0;
      while (outcome === undefined) {
        rounds++;
        expect(rounds).toBeLessThanOrEqual(epochsOfFollower + 1);
        const followerEnd = { index: end, epoch: followerHistory.epochAt(end, end) as number };
        const advice = adviseTruncation(followerEnd, leaderHistory, leader.epochs.length);
        if (advice.kind === 'snapshot') {
          outcome = 'snapshot';
          break;
        }
        expect(advice.index).toBeGreaterThanOrEqual(agreed);
        const before = end;
        const index = truncationIndex(advice, (epoch) => followerHistory.endOfEpoch(epoch, before), followerEnd) as number;
        expect(index).toBeGreaterThanOrEqual(agreed);
        if (index === advice.index && followerHistory.epochAt(index, end) === leaderHistory.epochAt(index, leader.epochs.length)) outcome = index;
        followerHistory.truncateAfter(index);
        end = index;
      }

      if (agreed < leader.start - 1) {
        expect(outcome).toBe('snapshot');
      } else {
        expect(outcome).toBe(agreed);
      }
      const played = agreedIndex(leaderHistory, leader.epochs.length, historyOf(follower), follower.epochs.length);
      expect(played === 'snapshot' ? played : played.index).toBe(outcome);
    }
  });
});
