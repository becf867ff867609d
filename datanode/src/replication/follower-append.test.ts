import { describe, expect, it } from 'vitest';
import { AssertionError, seededRng, type Rng } from '@quire/common';
import { EpochHistory } from './epoch-history.js';
import { adviseTruncation } from './divergence.js';
import { decideAppend, decideTruncation, type AppendMessage, type EntryRef, type FollowerState } from './follower-append.js';

interface FollowerSetup {
  /** Epochs of the follower's entries 1..n. */
  readonly epochs: readonly number[];
  readonly knownEpoch?: number;
  /** The view's leader per epoch. */
  readonly leaders?: Readonly<Record<number, string>>;
  readonly applied?: number;
  /** The acknowledged index it learned (default: the applied index). */
  readonly acknowledged?: number;
  /** The epoch vouching for its floor (default: the epoch of its last entry). */
  readonly floorEpoch?: number;
  /** First index still in the log (after a snapshot); entries below are gone. */
  readonly start?: number;
}

function follower(setup: FollowerSetup): FollowerState {
  const history = EpochHistory.empty();
  setup.epochs.forEach((epoch, i) => history.append(epoch, i + 1));
  if ((setup.start ?? 1) > 1) history.truncateBefore(setup.start as number);
  const end = setup.epochs.length;
  const leaders = setup.leaders ?? { 1: 'n1', 2: 'n1', 3: 'n1' };
  return {
    knownEpoch: setup.knownEpoch ?? Math.max(0, ...setup.epochs),
    leaderOf: (epoch) => leaders[epoch],
    logEnd: { index: end, epoch: end === 0 ? 0 : (setup.epochs[end - 1] as number) },
    epochAt: (index) => history.epochAt(index, end),
    endOfEpoch: (epoch) => history.endOfEpoch(epoch, end),
    appliedIndex: setup.applied ?? 0,
    acknowledgedIndex: setup.acknowledged ?? setup.applied ?? 0,
    floorEpoch: setup.floorEpoch ?? (end === 0 ? 0 : (setup.epochs[end - 1] as number)),
  };
}

const entries = (from: number, ...epochs: number[]): EntryRef[] => epochs.map((epoch, i) => ({ index: from + i, epoch }));

function append(fields: Partial<AppendMessage>): AppendMessage {
  return { partitionId: 7, epoch: 2, senderNodeId: 'n1', prevIndex: 0, prevEpoch: 0, entries: [], acknowledgedIndex: 0, ...fields };
}

describe('decideAppend', () => {
  it('accepts consecutive entries from the leader of the known epoch', () => {
    const state = follower({ epochs: [1, 1, 2], knownEpoch: 2 });
    const message = append({ prevIndex: 3, prevEpoch: 2, entries: entries(4, 2, 2), acknowledgedIndex: 3 });
    expect(decideAppend(state, message)).toEqual({ kind: 'accept', epoch: 2, truncateAfterIndex: undefined, entries: message.entries, acknowledgeIndex: 5, applyUpToIndex: 3 });
  });

  it('accepts a heartbeat and acknowledges the matched prev index', () => {
    const state = follower({ epochs: [1, 1, 2], knownEpoch: 2, applied: 1 });
    expect(decideAppend(state, append({ prevIndex: 3, prevEpoch: 2, acknowledgedIndex: 3 }))).toMatchObject({ kind: 'accept', entries: [], acknowledgeIndex: 3, applyUpToIndex: 3 });
  });

  it('always matches the empty prefix at index 0', () => {
    const state = follower({ epochs: [], knownEpoch: 1, leaders: { 1: 'n1' } });
    expect(decideAppend(state, append({ epoch: 1, entries: entries(1, 1, 1) }))).toMatchObject({ kind: 'accept', acknowledgeIndex: 2 });
  });

  it('skips entries it already holds with the same epoch (a resend after a rewind)', () => {
    const state = follower({ epochs: [1, 1, 2, 2], knownEpoch: 2 });
    const d = decideAppend(state, append({ prevIndex: 1, prevEpoch: 1, entries: entries(2, 1, 2, 2, 2, 2) }));
    expect(d).toMatchObject({ kind: 'accept', truncateAfterIndex: undefined, entries: entries(5, 2, 2), acknowledgeIndex: 6 });
  });

  it('accepts a message made only of duplicates and appends nothing', () => {
    const state = follower({ epochs: [1, 1, 2, 2], knownEpoch: 2 });
    expect(decideAppend(state, append({ prevIndex: 1, prevEpoch: 1, entries: entries(2, 1, 2) }))).toMatchObject({ kind: 'accept', entries: [], acknowledgeIndex: 3 });
  });

  it('truncates a conflicting suffix at the first entry whose epoch differs', () => {
    const state = follower({ epochs: [1, 1, 1, 1, 1], knownEpoch: 2, applied: 2 });
    const d = decideAppend(state, append({ prevIndex: 2, prevEpoch: 1, entries: entries(3, 1, 2, 2) }));
    expect(d).toMatchObject({ kind: 'accept', truncateAfterIndex: 3, entries: entries(4, 2, 2), acknowledgeIndex: 5 });
  });

  it('asks for a re-seed rather than truncate an applied entry (invariant 6)', () => {
    const state = follower({ epochs: [1, 1, 1, 1], knownEpoch: 2, applied: 3 });
    expect(decideAppend(state, append({ prevIndex: 2, prevEpoch: 1, entries: entries(3, 2) }))).toEqual({
      kind: 'reseed',
      epoch: 2,
      keepIndex: 2,
      floorIndex: 3,
      logEnd: { epoch: 1, index: 4 },
    });
  });

  it('asks for a re-seed rather than truncate an entry it knows acknowledged but has not applied yet', () => {
    const state = follower({ epochs: [1, 1, 1, 1], knownEpoch: 2, applied: 1, acknowledged: 3 });
    expect(decideAppend(state, append({ prevIndex: 2, prevEpoch: 1, entries: entries(3, 2) }))).toMatchObject({ kind: 'reseed', keepIndex: 2, floorIndex: 3 });
    // Just above the floor, the conflicting suffix is truncated in place as usual.
    expect(decideAppend(state, append({ prevIndex: 3, prevEpoch: 1, entries: entries(4, 2) }))).toMatchObject({ kind: 'accept', truncateAfterIndex: 3 });
  });

  it('answers a mismatch when a newer leader matches less than it applied, without proof that it holds the rest', () => {
    // Its log ends in epoch 1 at 4, applied 3: a leader of epoch 2 holding only up to 2 probes at 2.
    const state = follower({ epochs: [1, 1, 1, 1], knownEpoch: 2, applied: 3 });
    expect(decideAppend(state, append({ prevIndex: 2, prevEpoch: 1 }))).toEqual({ kind: 'mismatch', logEnd: { epoch: 1, index: 4 } });
    // Once epoch 2 vouched for its floor (it accepted from epoch 2), a probe below the floor is an ordinary resend.
    expect(decideAppend(follower({ epochs: [1, 1, 1, 1], knownEpoch: 2, applied: 3, floorEpoch: 2 }), append({ prevIndex: 2, prevEpoch: 1 }))).toMatchObject({ kind: 'accept', acknowledgeIndex: 2, applyUpToIndex: 3 });
    // The same leader as its last entry's: Log Matching vouches for the floor.
    expect(decideAppend(follower({ epochs: [1, 1, 2, 2], knownEpoch: 2, applied: 3 }), append({ prevIndex: 2, prevEpoch: 1 }))).toMatchObject({ kind: 'accept' });
    // Matched up to the floor: nothing to prove.
    expect(decideAppend(state, append({ prevIndex: 3, prevEpoch: 1 }))).toMatchObject({ kind: 'accept', acknowledgeIndex: 3 });
  });

  it('refuses an older epoch before it considers a re-seed', () => {
    const state = follower({ epochs: [1, 1, 1, 1], knownEpoch: 3, leaders: { 3: 'n1' }, applied: 3 });
    expect(decideAppend(state, append({ prevIndex: 2, prevEpoch: 1, entries: entries(3, 2) })).kind).toBe('stale-epoch');
  });

  it.each([
    ['the leader’s acknowledged index', { epochs: [1, 1, 2, 2], applied: 0 }, { prevIndex: 4, prevEpoch: 2, acknowledgedIndex: 3 }, 3],
    ['the last index the message proved to match', { epochs: [1, 1, 2, 2], applied: 0 }, { prevIndex: 2, prevEpoch: 1, acknowledgedIndex: 9 }, 2],
    ['the matched index, not the follower’s unverified entries beyond it', { epochs: [1, 1, 1, 1, 1], applied: 1 }, { prevIndex: 2, prevEpoch: 1, acknowledgedIndex: 5 }, 2],
    ['the applied index, when a new leader still acknowledges less', { epochs: [1, 1, 2, 2], applied: 3 }, { prevIndex: 4, prevEpoch: 2, acknowledgedIndex: 1 }, 3],
  ])('applies up to %s', (_what, setup, fields, applyUpTo) => {
    const d = decideAppend(follower({ ...setup, knownEpoch: 2 }), append(fields));
    expect(d).toMatchObject({ kind: 'accept', applyUpToIndex: applyUpTo });
  });

  it('applies the entries of the same message once they are acknowledged', () => {
    const state = follower({ epochs: [1, 1], knownEpoch: 2 });
    expect(decideAppend(state, append({ prevIndex: 2, prevEpoch: 1, entries: entries(3, 2, 2, 2), acknowledgedIndex: 4 }))).toMatchObject({ applyUpToIndex: 4, acknowledgeIndex: 5 });
  });

  describe('epochs', () => {
    it('refuses an older epoch with STALE_EPOCH, naming its own epoch and leader', () => {
      const state = follower({ epochs: [1, 1], knownEpoch: 3, leaders: { 3: 'n3' } });
      const d = decideAppend(state, append({ epoch: 2, prevIndex: 2, prevEpoch: 1 }));
      expect(d.kind).toBe('stale-epoch');
      if (d.kind !== 'stale-epoch') return;
      expect(d.error.code).toBe('STALE_EPOCH');
      expect(d.error.details).toEqual({ partitionId: 7, epoch: 3, leaderHint: 'n3' });
    });

    it('refuses an older epoch even when the view has forgotten who leads the known one', () => {
      const d = decideAppend(follower({ epochs: [1], knownEpoch: 3, leaders: {} }), append({ epoch: 2 }));
      expect(d.kind === 'stale-epoch' && d.error.details).toEqual({ partitionId: 7, epoch: 3 });
    });

    it('refuses the known epoch from a node that does not lead it', () => {
      const d = decideAppend(follower({ epochs: [1], knownEpoch: 2, leaders: { 2: 'n2' } }), append({ epoch: 2, senderNodeId: 'n1' }));
      expect(d.kind === 'stale-epoch' && d.error.details.leaderHint).toBe('n2');
    });

    it('answers not ready for a newer epoch its view does not yet tie to the sender', () => {
      const d = decideAppend(follower({ epochs: [1], knownEpoch: 1, leaders: { 1: 'n1' } }), append({ epoch: 2, senderNodeId: 'n2' }));
      expect(d).toEqual({ kind: 'not-ready', knownEpoch: 1, leaderHint: 'n1' });
    });

    it('answers not ready for a newer epoch its view gives to another node', () => {
      const d = decideAppend(follower({ epochs: [1], knownEpoch: 1, leaders: { 1: 'n1', 2: 'n3' } }), append({ epoch: 2, senderNodeId: 'n2' }));
      expect(d.kind).toBe('not-ready');
    });

    it('answers not ready for the known epoch when its view names no leader for it', () => {
      expect(decideAppend(follower({ epochs: [1], knownEpoch: 2, leaders: {} }), append({ epoch: 2 })).kind).toBe('not-ready');
    });

    it('accepts a newer epoch once its view names the sender as that epoch’s leader, and adopts it', () => {
      const state = follower({ epochs: [1, 1], knownEpoch: 1, leaders: { 1: 'n1', 3: 'n2' } });
      const d = decideAppend(state, append({ epoch: 3, senderNodeId: 'n2', prevIndex: 2, prevEpoch: 1, entries: entries(3, 3) }));
      expect(d).toMatchObject({ kind: 'accept', epoch: 3 });
    });

    it('checks the epoch before the log, so a deposed leader learns it is stale even when the logs match', () => {
      const state = follower({ epochs: [1, 1], knownEpoch: 2, leaders: { 2: 'n2' } });
      expect(decideAppend(state, append({ epoch: 1, prevIndex: 2, prevEpoch: 1 })).kind).toBe('stale-epoch');
    });
  });

  describe('prev check', () => {
    it.each([
      ['prev index beyond its log end', { epochs: [1, 1, 2] }, { prevIndex: 5, prevEpoch: 2 }],
      ['prev entry of another epoch', { epochs: [1, 1, 1] }, { prevIndex: 3, prevEpoch: 2 }],
      ['prev entry below its log start (after a snapshot)', { epochs: [1, 1, 1, 1, 1, 1], start: 5, applied: 4 }, { prevIndex: 2, prevEpoch: 1 }],
    ])('reports its log end on %s', (_what, setup, fields) => {
      const state = follower({ ...setup, knownEpoch: 2 });
      expect(decideAppend(state, append(fields))).toEqual({ kind: 'mismatch', logEnd: state.logEnd });
    });

    it('matches at its log start − 1 after a snapshot, using the snapshot’s epoch', () => {
      const state = follower({ epochs: [1, 1, 1, 1, 1, 1], start: 5, applied: 4, knownEpoch: 2 });
      expect(decideAppend(state, append({ prevIndex: 4, prevEpoch: 1, entries: entries(5, 1, 1, 2) })).kind).toBe('accept');
    });
  });

  describe('refuses malformed messages and state', () => {
    const state = follower({ epochs: [1, 1, 2], knownEpoch: 2 });
    it.each([
      ['entries that do not follow prev', { prevIndex: 3, prevEpoch: 2, entries: entries(5, 2) }],
      ['entries with a gap', { prevIndex: 3, prevEpoch: 2, entries: [{ index: 4, epoch: 2 }, { index: 6, epoch: 2 }] }],
      ['entry epochs that decrease', { prevIndex: 3, prevEpoch: 2, entries: [{ index: 4, epoch: 2 }, { index: 5, epoch: 1 }] }],
      ['an entry older than prev', { prevIndex: 3, prevEpoch: 2, entries: entries(4, 1) }],
      ['an entry newer than the message epoch', { prevIndex: 3, prevEpoch: 2, entries: entries(4, 3) }],
      ['a prev epoch newer than the message epoch', { prevIndex: 3, prevEpoch: 3 }],
      ['prev index 0 with an epoch', { prevIndex: 0, prevEpoch: 1 }],
      ['a prev entry with epoch 0', { prevIndex: 2, prevEpoch: 0 }],
      ['a negative prev index', { prevIndex: -1, prevEpoch: 0 }],
      ['a negative acknowledged index', { prevIndex: 3, prevEpoch: 2, acknowledgedIndex: -1 }],
      ['message epoch 0', { epoch: 0 }],
    ])('%s', (_what, fields) => {
      expect(() => decideAppend(state, append(fields))).toThrow(AssertionError);
    });

    it('an acknowledged index below the applied index', () => {
      expect(() => decideAppend({ ...state, appliedIndex: 2, acknowledgedIndex: 1 }, append({}))).toThrow(AssertionError);
    });

    it('an applied index above the log end', () => {
      expect(() => decideAppend({ ...state, appliedIndex: 4 }, append({}))).toThrow(AssertionError);
    });

    it('a log end newer than the known epoch', () => {
      expect(() => decideAppend({ ...state, knownEpoch: 1 }, append({ epoch: 1 }))).toThrow(AssertionError);
    });
  });
});

describe('decideTruncation', () => {
  const truncate = (advice: { epoch: number; index: number }, fields: { epoch?: number; senderNodeId?: string } = {}) => ({
    partitionId: 7,
    epoch: fields.epoch ?? 3,
    senderNodeId: fields.senderNodeId ?? 'n1',
    advice,
  });

  it.each([
    ['keeps everything when the advice covers its log', [1, 1, 2, 2], { epoch: 2, index: 4 }, undefined, { epoch: 2, index: 4 }],
    ['keeps everything when the advice is beyond its log', [1, 1, 2], { epoch: 3, index: 9 }, undefined, { epoch: 2, index: 3 }],
    ['drops entries above the advised index', [1, 1, 2, 2], { epoch: 2, index: 3 }, 3, { epoch: 2, index: 3 }],
    ['drops entries of epochs newer than the advised one', [1, 1, 2, 2], { epoch: 1, index: 4 }, 2, { epoch: 1, index: 2 }],
    ['drops its whole log when nothing agrees', [1, 1], { epoch: 0, index: 0 }, 0, { epoch: 0, index: 0 }],
  ])('%s', (_what, epochs, advice, truncateAfter, logEnd) => {
    const d = decideTruncation(follower({ epochs, knownEpoch: 3, leaders: { 3: 'n1' } }), truncate(advice));
    expect(d).toEqual({ kind: 'truncate', epoch: 3, truncateAfterIndex: truncateAfter, logEnd });
  });

  it('asks for a re-seed rather than truncate below its applied index (invariant 6)', () => {
    const state = follower({ epochs: [1, 1, 2, 2], knownEpoch: 3, leaders: { 3: 'n1' }, applied: 3 });
    expect(decideTruncation(state, truncate({ epoch: 1, index: 4 }))).toEqual({ kind: 'reseed', epoch: 3, keepIndex: 2, floorIndex: 3, logEnd: { epoch: 2, index: 4 } });
    expect(decideTruncation(state, truncate({ epoch: 2, index: 2 }))).toMatchObject({ kind: 'reseed', keepIndex: 2 });
    // Down to the applied index itself is still a truncation in place.
    expect(decideTruncation(state, truncate({ epoch: 2, index: 3 }))).toMatchObject({ kind: 'truncate', truncateAfterIndex: 3 });
  });

  it('asks for a re-seed rather than truncate below the acknowledged index it learned', () => {
    const state = follower({ epochs: [1, 1, 2, 2], knownEpoch: 3, leaders: { 3: 'n1' }, applied: 1, acknowledged: 4 });
    expect(decideTruncation(state, truncate({ epoch: 2, index: 3 }))).toMatchObject({ kind: 'reseed', keepIndex: 3, floorIndex: 4 });
  });

  it('asks for a re-seed when the advice reaches below its log start', () => {
    const state = follower({ epochs: [1, 1, 2, 2], start: 4, applied: 3, knownEpoch: 3, leaders: { 3: 'n1' } });
    expect(decideTruncation(state, truncate({ epoch: 1, index: 4 }))).toMatchObject({ kind: 'reseed', keepIndex: undefined, floorIndex: 3 });
  });

  it('refuses advice from an older epoch and waits for its view on a newer one', () => {
    const state = follower({ epochs: [1, 1], knownEpoch: 3, leaders: { 3: 'n1' } });
    expect(decideTruncation(state, truncate({ epoch: 1, index: 1 }, { epoch: 2 })).kind).toBe('stale-epoch');
    expect(decideTruncation(state, truncate({ epoch: 1, index: 1 }, { epoch: 4, senderNodeId: 'n2' })).kind).toBe('not-ready');
  });

  it('refuses advice naming an epoch newer than its message', () => {
    const state = follower({ epochs: [1, 1], knownEpoch: 3, leaders: { 3: 'n1' } });
    expect(() => decideTruncation(state, truncate({ epoch: 4, index: 1 }))).toThrow(AssertionError);
  });
});

/**
 * A follower catching up with a new leader through the real message exchange: Append with the
 * leader's prev, Truncate on mismatch, resend. Logs follow Log Matching (each epoch's leader
 * starts from a prefix of an earlier leader's log). Under `sync` the follower has applied only
 * entries the new leader holds; under `semi-sync`/`async` it may have applied entries a
 * failover took back, and then — and only then — the exchange ends in a re-seed request
 * instead of a truncation below the applied index (invariant 6).
 */
describe('a follower converging on a new leader’s log', () => {
  function leaderLogs(rng: Rng, epochsMax: number): number[][] {
    const logs: number[][] = [[]];
    for (let epoch = 1; epoch <= epochsMax; epoch++) {
      const base = logs[rng.below(epoch)] as number[];
      logs.push([...base.slice(0, rng.below(base.length + 1)), ...new Array<number>(rng.below(5)).fill(epoch)]);
    }
    return logs;
  }

  const cases = (['sync', 'async'] as const).flatMap((policy) => Array.from({ length: 10 }, (_, i) => [policy, i + 1] as const));
  it.each(cases)('under %s ends with the leader’s log or a re-seed, and never truncates an applied entry (seed %i)', (policy, seed) => {
    const rng = seededRng(seed);
    let reseeds = 0;
    for (let trial = 0; trial < 200; trial++) {
      const logs = leaderLogs(rng, 1 + rng.below(7));
      const leaderEpoch = logs.length - 1;
      const leaderLog = logs[leaderEpoch] as number[];
      const source = logs[rng.below(logs.length)] as number[];
      const followerLog = source.slice(0, rng.below(source.length + 1));
      let common = 0;
      while (common < followerLog.length && common < leaderLog.length && followerLog[common] === leaderLog[common]) common++;
      // Under sync the follower applied only entries the new leader holds; otherwise anything it holds.
      let applied = rng.below((policy === 'sync' ? common : followerLog.length) + 1);
      // The new leader's acknowledged index: under sync at least what the follower applied.
      const leaderAcknowledged = policy === 'sync' ? applied + rng.below(leaderLog.length - applied + 1) : rng.below(leaderLog.length + 1);
      const appliedAtStart = applied;
      let reseed = false;
      // The follower's last entry's epoch vouches for its floor; each accepted message's epoch after that.
      let floorEpoch = followerLog.at(-1) ?? 0;
      let known = Math.max(0, ...followerLog);
      const leaderHistory = EpochHistory.empty();
      leaderLog.forEach((epoch, i) => leaderHistory.append(epoch, i + 1));
      const leaders = { [leaderEpoch]: 'n1' };

      const stateOf = (): FollowerState => {
        const h = EpochHistory.empty();
        followerLog.forEach((epoch, i) => h.append(epoch, i + 1));
        const end = followerLog.length;
        return {
          knownEpoch: known,
          leaderOf: (epoch) => leaders[epoch],
          logEnd: { index: end, epoch: end === 0 ? 0 : (followerLog[end - 1] as number) },
          epochAt: (index) => h.epochAt(index, end),
          endOfEpoch: (epoch) => h.endOfEpoch(epoch, end),
          appliedIndex: applied,
          acknowledgedIndex: applied,
          floorEpoch,
        };
      };

      // The leader starts optimistically at its own log end, like LeaderProgress.
      let next = leaderLog.length + 1;
      let messages = 0;
      for (;;) {
        expect(++messages).toBeLessThan(100);
        const to = Math.min(leaderLog.length, next + 2);
        const message: AppendMessage = {
          partitionId: 0,
          epoch: leaderEpoch,
          senderNodeId: 'n1',
          prevIndex: next - 1,
          prevEpoch: next === 1 ? 0 : (leaderLog[next - 2] as number),
          entries: leaderLog.slice(next - 1, to).map((epoch, i) => ({ index: next + i, epoch })),
          acknowledgedIndex: leaderAcknowledged,
        };
        const d = decideAppend(stateOf(), message);
        if (d.kind === 'reseed') {
          reseed = true;
          break;
        }
        if (d.kind === 'mismatch') {
          const advice = adviseTruncation(d.logEnd, leaderHistory, leaderLog.length);
          expect(advice.kind).toBe('truncate');
          if (advice.kind !== 'truncate') break;
          const t = decideTruncation(stateOf(), { partitionId: 0, epoch: leaderEpoch, senderNodeId: 'n1', advice });
          if (t.kind === 'reseed') {
            reseed = true;
            break;
          }
          expect(t.kind).toBe('truncate');
          if (t.kind !== 'truncate') break;
          known = t.epoch;
          if (t.truncateAfterIndex !== undefined) followerLog.length = t.truncateAfterIndex;
          expect(followerLog.length).toBeGreaterThanOrEqual(applied);
          next = advice.index + 1;
          continue;
        }
        expect(d.kind).toBe('accept');
        if (d.kind !== 'accept') break;
        known = d.epoch;
        floorEpoch = d.epoch;
        if (d.truncateAfterIndex !== undefined) followerLog.length = d.truncateAfterIndex;
        for (const entry of d.entries) {
          expect(entry.index).toBe(followerLog.length + 1);
          followerLog.push(entry.epoch);
        }
        expect(d.applyUpToIndex).toBeGreaterThanOrEqual(applied);
        expect(d.applyUpToIndex).toBeLessThanOrEqual(Math.max(applied, leaderAcknowledged));
        applied = d.applyUpToIndex;
        expect(followerLog.slice(0, applied)).toEqual(leaderLog.slice(0, applied));
        expect(followerLog.slice(0, d.acknowledgeIndex)).toEqual(leaderLog.slice(0, d.acknowledgeIndex));
        next = to + 1;
        if (d.acknowledgeIndex === leaderLog.length) break;
      }
      // A re-seed exactly when the follower had applied an entry the new leader lacks; it
      // changed nothing (the snapshot replaces the replica wholesale).
      expect(reseed).toBe(appliedAtStart > common);
      if (reseed) {
        reseeds++;
        expect(applied).toBe(appliedAtStart);
        continue;
      }
      expect(followerLog.slice(0, leaderLog.length)).toEqual(leaderLog);
    }
    if (policy === 'sync') expect(reseeds).toBe(0);
    else expect(reseeds).toBeGreaterThan(0);
  });
});
