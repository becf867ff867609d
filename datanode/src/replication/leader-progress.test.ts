import { describe, expect, it } from 'vitest';
import { AssertionError, seededRng } from '@quire/common';
import { EpochHistory } from './epoch-history.js';
import { adviseTruncation } from './divergence.js';
import { LeaderProgress, type AckPolicy, type AppendRange, type IsrProposal, type LeaderProgressConfig, type LeaderStart } from './leader-progress.js';

const baseConfig: LeaderProgressConfig = {
  partitionId: 3,
  epoch: 5,
  leaderNodeId: 'a',
  replicas: ['a', 'b', 'c'],
  ackPolicy: 'sync',
  minIsr: 2,
  replicationFactor: 3,
  isrLagTimeMs: 2000,
  sendAheadEntriesMax: 30,
  appendEntriesMax: 10,
  isrProposalRetryMs: 500,
  followerSilenceMs: 200,
};

function progress(config: Partial<LeaderProgressConfig> = {}, start: Partial<LeaderStart> = {}): LeaderProgress {
  return new LeaderProgress({ ...baseConfig, ...config }, { isr: ['a', 'b', 'c'], isrRevision: 10, durableIndex: 0, acknowledgedIndex: 0, nowMs: 0, ...start });
}

const range = (prevIndex: number, toIndex: number): AppendRange => ({ prevIndex, fromIndex: prevIndex + 1, toIndex });

describe('LeaderProgress', () => {
  describe('acknowledged index per ack policy', () => {
    it.each([
      // policy, isr, b durable, c durable, acknowledged
      ['sync', ['a', 'b', 'c'], 7, 4, 4, 'waits for the slowest ISR member'],
      ['sync', ['a', 'b'], 7, 0, 7, 'is not held back by a follower outside the ISR'],
      ['semi-sync', ['a', 'b', 'c'], 7, 4, 7, 'needs the leader and its best ISR follower'],
      ['semi-sync', ['a', 'b'], 3, 9, 3, 'counts no copy on a follower outside the ISR'],
      ['semi-sync', ['a'], 3, 9, 0, 'acknowledges nothing when the ISR has no follower (no fall-back to the leader alone)'],
      ['async', ['a', 'b', 'c'], 0, 0, 10, 'needs the leader only'],
    ] as const)('%s with ISR %j (b at %i, c at %i) acknowledges %i: %s', (ackPolicy, isr, b, c, acknowledged, _why) => {
      const p = progress({ ackPolicy, minIsr: 1 }, { isr });
      p.leaderAppended(10, 100);
      p.followerAcked('b', b, 100);
      p.followerAcked('c', c, 100);
      expect(p.acknowledgedIndex).toBe(acknowledged);
    });

    it('never acknowledges an entry a member of the effective ack set lacks, even while its removal is pending', () => {
      const p = progress();
      p.leaderAppended(2, 1000);
      p.followerAcked('b', 2, 1000);
      p.followerAcked('c', 2, 1000);
      for (let t = 1000; t <= 4000; t += 100) {
        p.leaderAppended(t / 100, t);
        p.followerAcked('b', t / 100, t);
      }
      const proposal = p.proposals(4000);
      expect(proposal).toEqual({ isr: ['a', 'b'], add: [], remove: ['c'], recordRevision: 10 });
      expect(p.effectiveAckSet).toEqual(['a', 'b', 'c']);
      p.leaderAppended(41, 4100);
      p.followerAcked('b', 41, 4100);
      expect(p.acknowledgedIndex).toBe(2);
      p.confirmIsr(['a', 'b'], 11);
      expect(p.effectiveAckSet).toEqual(['a', 'b']);
      expect(p.acknowledgedIndex).toBe(41);
    });

    it('counts a follower for acknowledgement from the moment its addition is proposed', () => {
      const p = progress({}, { isr: ['a', 'b'] });
      p.leaderAppended(5, 1000);
      p.followerAcked('b', 5, 1000);
      p.followerAcked('c', 5, 1000);
      expect(p.proposals(1000)).toMatchObject({ isr: ['a', 'b', 'c'], add: ['c'] });
      p.leaderAppended(8, 1100);
      p.followerAcked('b', 8, 1100);
      expect(p.acknowledgedIndex).toBe(5);
      p.followerAcked('c', 7, 1100);
      expect(p.acknowledgedIndex).toBe(7);
    });

    it('acknowledges nothing new under sync while the effective ack set is below min_isr, and resumes once a follower is back', () => {
      const p = progress({}, { isr: ['a'], durableIndex: 3, acknowledgedIndex: 3 });
      p.leaderAppended(6, 1000);
      expect(p.acknowledgedIndex).toBe(3);
      p.followerAcked('b', 6, 1100);
      expect(p.proposals(1100)).toMatchObject({ add: ['b'] });
      expect(p.acknowledgedIndex).toBe(6);
    });

    it('never lowers the acknowledged index, whoever joins the ack set', () => {
      const p = progress({ minIsr: 1 }, { isr: ['a'], durableIndex: 10, acknowledgedIndex: 4 });
      expect(p.acknowledgedIndex).toBe(10);
      p.confirmIsr(['a', 'b'], 11);
      expect(p.acknowledgedIndex).toBe(10);
      const q = progress({}, { durableIndex: 10, acknowledgedIndex: 4 });
      expect(q.acknowledgedIndex).toBe(4);
    });

    it('starts from the applied index a new leader brings', () => {
      expect(progress({}, { durableIndex: 9, acknowledgedIndex: 6 }).acknowledgedIndex).toBe(6);
    });
  });

  describe('write admission', () => {
    it('refuses writes under sync while the confirmed ISR is below min_isr, naming the ISR and min_isr', () => {
      const admission = progress({ minIsr: 2 }, { isr: ['a'] }).canAcceptWrites();
      expect(admission.ok).toBe(false);
      if (admission.ok) return;
      expect(admission.error.code).toBe('PARTITION_UNAVAILABLE');
      expect(admission.error.retry).toBe('backoff');
      expect(admission.error.message).toContain('[a]');
      expect(admission.error.message).toContain('min_isr 2');
      expect(admission.error.details).toEqual({ partitionId: 3, epoch: 5 });
    });

    it('judges admission by the confirmed ISR, not by pending additions', () => {
      const p = progress({}, { isr: ['a'] });
      p.followerAcked('b', 0, 10);
      expect(p.proposals(10)).toMatchObject({ add: ['b'] });
      expect(p.canAcceptWrites().ok).toBe(false);
      p.confirmIsr(['a', 'b'], 11);
      expect(p.canAcceptWrites().ok).toBe(true);
    });

    it('accepts writes under async whatever the ISR size and min_isr', () => {
      expect(progress({ ackPolicy: 'async', minIsr: 3 }, { isr: ['a'] }).canAcceptWrites()).toEqual({ ok: true });
    });

    it('refuses writes under semi-sync while the confirmed ISR has no follower, naming the ISR, whatever min_isr says', () => {
      const admission = progress({ ackPolicy: 'semi-sync', minIsr: 1 }, { isr: ['a'] }).canAcceptWrites();
      expect(admission.ok).toBe(false);
      if (admission.ok) return;
      expect(admission.error.code).toBe('PARTITION_UNAVAILABLE');
      expect(admission.error.message).toContain('[a]');
      expect(admission.error.message).toContain('semi-sync');
      expect(progress({ ackPolicy: 'semi-sync', minIsr: 3 }, { isr: ['a', 'c'] }).canAcceptWrites()).toEqual({ ok: true });
    });

    it.each(['sync', 'semi-sync', 'async'] as const)(
      'with a learner (RFC 0003), a replication-factor-1 partition under %s admits writes and acknowledges at the leader alone until the learner joins',
      (ackPolicy) => {
        // The record after a move added b to a one-replica partition: replicas [a, b], ISR [a].
        const p = progress({ ackPolicy, minIsr: 1, replicationFactor: 1, replicas: ['a', 'b'] }, { isr: ['a'], durableIndex: 4, acknowledgedIndex: 4 });
        expect(p.canAcceptWrites()).toEqual({ ok: true });
        p.leaderAppended(10, 100);
        expect(p.acknowledgedIndex).toBe(10);
        // The learner catches up and is proposed; from then on it counts, as an ISR member would.
        p.followerAcked('b', 10, 150);
        expect(p.proposals(150)).toMatchObject({ add: ['b'], isr: ['a', 'b'] });
        p.confirmIsr(['a', 'b'], 11);
        p.leaderAppended(14, 200);
        expect(p.acknowledgedIndex).toBe(ackPolicy === 'async' ? 14 : 10);
        p.followerAcked('b', 14, 210);
        expect(p.acknowledgedIndex).toBe(14);
      },
    );

    it('with a learner, a replication-factor-3 partition acknowledges as its ISR does and counts the learner only once it is proposed', () => {
      // A move added d to [a, b, c]: replicas [a, b, c, d], ISR [a, b, c].
      const p = progress({ ackPolicy: 'sync', minIsr: 2, replicas: ['a', 'b', 'c', 'd'] }, { isr: ['a', 'b', 'c'], durableIndex: 0, acknowledgedIndex: 0 });
      expect(p.canAcceptWrites()).toEqual({ ok: true });
      p.leaderAppended(10, 100);
      p.followerAcked('b', 10, 100);
      p.followerAcked('c', 10, 100);
      expect(p.acknowledgedIndex).toBe(10);
      p.followerAcked('d', 6, 100);
      expect(p.proposals(100)).toBeUndefined();
      p.followerAcked('d', 10, 120);
      expect(p.proposals(120)).toMatchObject({ add: ['d'], isr: ['a', 'b', 'c', 'd'] });
      p.leaderAppended(12, 130);
      p.followerAcked('b', 12, 130);
      p.followerAcked('c', 12, 130);
      expect(p.acknowledgedIndex).toBe(10);
      p.followerAcked('d', 12, 140);
      expect(p.acknowledgedIndex).toBe(12);
    });

    it('under semi-sync still refuses writes without an ISR follower when the replication factor is 2 or more', () => {
      const p = progress({ ackPolicy: 'semi-sync', minIsr: 1, replicationFactor: 2, replicas: ['a', 'b'] }, { isr: ['a'] });
      expect(p.canAcceptWrites().ok).toBe(false);
      p.leaderAppended(3, 10);
      expect(p.acknowledgedIndex).toBe(0);
    });

    it('under semi-sync counts neither a follower whose addition is pending nor one whose removal is pending', () => {
      const p = progress({ ackPolicy: 'semi-sync' }, { isr: ['a', 'b'] });
      p.leaderAppended(5, 1000);
      p.followerAcked('b', 5, 1000);
      expect(p.acknowledgedIndex).toBe(5);
      p.followerAcked('c', 5, 1000);
      // b lags from here on; c is proposed for addition, b for removal after the lag time.
      p.leaderAppended(9, 1100);
      p.followerAcked('c', 9, 1100);
      expect(p.proposals(1100)).toMatchObject({ add: ['c'] });
      expect(p.acknowledgedIndex).toBe(5);
      p.confirmIsr(['a', 'b', 'c'], 11);
      expect(p.acknowledgedIndex).toBe(9);
      p.leaderAppended(12, 3200);
      p.followerAcked('b', 12, 3200);
      p.leaderAppended(20, 5300);
      p.followerAcked('c', 15, 5300);
      expect(p.acknowledgedIndex).toBe(15);
      // b's registration is gone: its removal is pending, and its copy no longer counts.
      p.setDeparted(['b']);
      expect(p.proposals(5300)).toMatchObject({ remove: ['b'] });
      p.followerAcked('b', 18, 5310);
      expect(p.acknowledgedIndex).toBe(15);
      p.followerAcked('c', 17, 5320);
      expect(p.acknowledgedIndex).toBe(17);
    });
  });

  describe('follower acknowledgements', () => {
    it('ignores a late answer lower than what the follower already acknowledged', () => {
      const p = progress();
      p.leaderAppended(10, 10);
      p.followerAcked('b', 8, 20);
      p.followerAcked('b', 5, 30);
      expect(p.followerStatus('b', 30)).toMatchObject({ durableIndex: 8, lastAckMs: 30 });
    });

    it.each([
      ['an index beyond the leader’s durable index', () => progress().followerAcked('b', 1, 0)],
      ['a negative index', () => progress().followerAcked('b', -1, 0)],
      ['a node that is not a replica', () => progress().followerAcked('z', 0, 0)],
      ['the leader itself', () => progress().followerAcked('a', 0, 0)],
      ['time going backwards', () => { const p = progress(); p.leaderAppended(1, 50); p.followerAcked('b', 1, 49); }],
      ['a leader durable index going backwards', () => { const p = progress(); p.leaderAppended(5, 50); p.leaderAppended(4, 60); }],
    ])('fails an assertion on %s', (_what, misuse) => {
      expect(misuse).toThrow(AssertionError);
    });
  });

  describe('ISR proposals', () => {
    function laggingC(): LeaderProgress {
      const p = progress();
      p.leaderAppended(1, 1000);
      p.followerAcked('b', 1, 1000);
      return p;
    }

    it('removes a follower that has lacked a durable entry for more than isrLagTimeMs, not sooner', () => {
      const p = laggingC();
      expect(p.proposals(3000)).toBeUndefined();
      expect(p.followerStatus('c', 3000).lagMs).toBe(2000);
      expect(p.proposals(3001)).toEqual({ isr: ['a', 'b'], add: [], remove: ['c'], recordRevision: 10 });
      expect(p.followerStatus('c', 3001).pendingChange).toBe('remove');
    });

    it('removes a departed follower at once, even one that holds every entry, and adds it back only once it is registered again', () => {
      const p = progress();
      p.leaderAppended(3, 1000);
      p.followerAcked('b', 3, 1000);
      p.followerAcked('c', 3, 1000);
      expect(p.acknowledgedIndex).toBe(3);
      expect(p.setDeparted(['c', 'x'])).toBe(true);
      expect(p.setDeparted(['c'])).toBe(false);
      expect(p.proposals(1001)).toEqual({ isr: ['a', 'b'], add: [], remove: ['c'], recordRevision: 10 });
      // It keeps counting for acknowledgement until etcd confirms the removal.
      p.leaderAppended(5, 1002);
      p.followerAcked('b', 5, 1002);
      expect(p.acknowledgedIndex).toBe(3);
      p.confirmIsr(['a', 'b'], 11);
      expect(p.acknowledgedIndex).toBe(5);
      // Caught up but still departed: not added back.
      p.followerAcked('c', 5, 1003);
      expect(p.proposals(1003)).toBeUndefined();
      expect(p.setDeparted([])).toBe(true);
      expect(p.proposals(1004)).toEqual({ isr: ['a', 'b', 'c'], add: ['c'], remove: [], recordRevision: 11 });
    });

    it('keeps a follower that trails by a few pipelined batches under continuous writes', () => {
      const p = progress();
      const durableAt: number[] = [];
      for (let t = 0; t <= 20_000; t += 5) {
        const index = t / 5 + 1;
        p.leaderAppended(index, t);
        durableAt.push(index);
        // Each follower acknowledges what was durable on the leader 40 ms ago.
        const seen = durableAt[Math.max(0, durableAt.length - 9)] as number;
        p.followerAcked('b', seen, t);
        p.followerAcked('c', seen, t);
        expect(p.proposals(t)).toBeUndefined();
      }
      expect(p.followerStatus('b', 20_000).lagMs).toBeLessThanOrEqual(40 + 2000 / 8);
    });

    it('measures lag from the first write the follower lacks, not from its last acknowledgement', () => {
      const p = progress();
      p.followerAcked('b', 0, 0);
      p.followerAcked('c', 0, 0);
      p.leaderAppended(1, 10_000);
      p.followerAcked('b', 1, 10_001);
      expect(p.proposals(10_001)).toBeUndefined();
      expect(p.proposals(12_000)).toBeUndefined();
      expect(p.proposals(12_001)).toMatchObject({ remove: ['c'] });
    });

    it('overestimates lag by less than one mark spacing when writes come close together', () => {
      const p = progress();
      p.leaderAppended(1, 1000);
      p.leaderAppended(2, 1100); // within 250 ms of the previous mark: shares its time
      p.followerAcked('b', 2, 1100);
      p.followerAcked('c', 1, 1100);
      expect(p.followerStatus('c', 2000).lagMs).toBe(1000);
      expect(p.proposals(3001)).toMatchObject({ remove: ['c'] });
    });

    it('adds a follower that acknowledged up to the acknowledged index and does not lag', () => {
      const p = progress({}, { isr: ['a', 'b'] });
      p.leaderAppended(4, 100);
      p.followerAcked('b', 4, 100);
      p.followerAcked('c', 3, 100);
      expect(p.proposals(100)).toBeUndefined();
      p.followerAcked('c', 4, 120);
      expect(p.proposals(120)).toEqual({ isr: ['a', 'b', 'c'], add: ['c'], remove: [], recordRevision: 10 });
      expect(p.effectiveAckSet).toEqual(['a', 'b', 'c']);
      expect(p.confirmedIsr).toEqual(['a', 'b']);
    });

    it('does not add a follower that has not acknowledged anything in this tenure, even at index 0', () => {
      expect(progress({}, { isr: ['a', 'b'] }).proposals(100)).toBeUndefined();
    });

    it('does not add a follower that reached the acknowledged index but lags behind newer entries', () => {
      // min_isr 2 and an ISR of one: the acknowledged index stays at 0 while the log grows.
      const setup = (): LeaderProgress => {
        const p = progress({}, { isr: ['a'] });
        p.leaderAppended(5, 1000);
        p.followerAcked('c', 0, 1000);
        return p;
      };
      expect(setup().proposals(3001)).toBeUndefined();
      expect(setup().proposals(3000)).toMatchObject({ add: ['c'] });
    });

    it('switches to pipelining when a probe after a reconnect is answered at the index it already knew', () => {
      const p = progress({}, { durableIndex: 20 });
      p.batchSent('b', range(20, 20));
      p.followerAcked('b', 20, 1);
      p.reconnected('b');
      p.batchSent('b', p.nextBatch('b') as AppendRange);
      p.followerAcked('b', 20, 2);
      expect(p.followerStatus('b', 2).mode).toBe('replicate');
    });

    it('keeps one request in flight and resends it every isrProposalRetryMs until a newer revision arrives', () => {
      const p = laggingC();
      const first = p.proposals(3001);
      p.followerAcked('c', 1, 3002);
      expect(p.proposals(3002)).toBeUndefined();
      expect(p.proposals(3500)).toBeUndefined();
      expect(p.proposals(3501)).toBe(first);
      expect(p.proposalInFlight).toBe(first);
      p.confirmIsr(['a', 'b'], 11);
      expect(p.proposalInFlight).toBeUndefined();
      expect(p.proposals(3502)).toMatchObject({ add: ['c'], recordRevision: 11 });
    });

    it('drops a pending addition the coordinator did not apply once a newer revision shows it cannot apply any more', () => {
      const p = progress({}, { isr: ['a', 'b'] });
      p.followerAcked('c', 0, 10);
      expect(p.proposals(10)).toMatchObject({ add: ['c'] });
      p.confirmIsr(['a', 'b'], 10); // the same record again: still in flight
      expect(p.effectiveAckSet).toEqual(['a', 'b', 'c']);
      p.confirmIsr(['a', 'b'], 12); // another change won the race
      expect(p.effectiveAckSet).toEqual(['a', 'b']);
      expect(p.followerStatus('c', 10).pendingChange).toBeUndefined();
    });

    it('keeps counting a pending addition when an older record revision arrives late', () => {
      const p = progress({}, { isr: ['a', 'b'], isrRevision: 12 });
      p.followerAcked('c', 0, 10);
      expect(p.proposals(10)).toMatchObject({ add: ['c'], recordRevision: 12 });
      p.confirmIsr(['a'], 11); // a watch event from before the request
      expect(p.effectiveAckSet).toEqual(['a', 'b', 'c']);
      expect(p.proposalInFlight).toBeDefined();
    });

    it('ignores a record revision older than the one it has', () => {
      const p = progress();
      p.confirmIsr(['a', 'b'], 12);
      p.confirmIsr(['a', 'b', 'c'], 11);
      expect([p.confirmedIsr, p.isrRevision]).toEqual([['a', 'b'], 12]);
    });

    it.each([
      ['two different ISRs at one revision', (p: LeaderProgress) => p.confirmIsr(['a', 'b'], 10)],
      ['an ISR without the leader', (p: LeaderProgress) => p.confirmIsr(['b', 'c'], 11)],
      ['an ISR member that is not a replica', (p: LeaderProgress) => p.confirmIsr(['a', 'z'], 11)],
      ['an ISR repeating a node', (p: LeaderProgress) => p.confirmIsr(['a', 'b', 'b'], 11)],
      ['a negative revision', (p: LeaderProgress) => p.confirmIsr(['a'], -1)],
    ])('fails an assertion on %s', (_what, misuse) => {
      expect(() => misuse(progress())).toThrow(AssertionError);
    });
  });

  describe('fast ISR shrink: broken streams and silent followers', () => {
    /** A leader at index 5 whose followers acknowledged everything at t=1000. */
    const caughtUp = (config: Partial<LeaderProgressConfig> = {}, start: Partial<LeaderStart> = {}): LeaderProgress => {
      const p = progress(config, start);
      p.leaderAppended(5, 1000);
      for (const f of ['b', 'c']) {
        p.batchSent(f, p.nextBatch(f) ?? (p.heartbeat(f) as AppendRange), 1000);
        p.followerAcked(f, 5, 1000);
      }
      return p;
    };
    /** Sends the follower the next write (index 6) at `ms` and leaves it unanswered. */
    const sendUnanswered = (p: LeaderProgress, follower: string, ms: number): void => {
      p.leaderAppended(Math.max(6, p.leaderDurableIndex), ms);
      p.batchSent(follower, p.nextBatch(follower) as AppendRange, ms);
    };

    it.each([
      // policy, ISR, min_isr, who broke, removed
      ['sync', ['a', 'b', 'c'], 2, ['c'], ['c'], 'a broken stream leaves at once'],
      ['sync', ['a', 'b'], 2, ['b'], [], 'none below min_isr: writes stop either way, and a failover keeps a candidate'],
      ['sync', ['a', 'b', 'c'], 2, ['b', 'c'], ['b'], 'one of two broken streams with min_isr 2'],
      ['sync', ['a', 'b', 'c'], 1, ['b', 'c'], ['b', 'c'], 'both with min_isr 1'],
      ['async', ['a', 'b', 'c'], 1, ['b'], [], 'none under async: its writes wait for no follower, and a failover would lose a candidate'],
      ['semi-sync', ['a', 'b', 'c'], 1, ['c'], [], 'none under semi-sync: the other follower acknowledges'],
    ] as const)('%s, ISR %j, min_isr %i: broken streams of %j remove %j (%s)', (ackPolicy, isr, minIsr, broken, removed, _why) => {
      const p = caughtUp({ ackPolicy, minIsr }, { isr });
      for (const f of broken) expect(p.followerDisconnected(f)).toBe(true);
      expect(p.proposals(1001)?.remove ?? []).toEqual(removed);
    });

    it('leaves a silent follower in the ISR under semi-sync and async until the lag time', () => {
      for (const ackPolicy of ['semi-sync', 'async'] as const) {
        const p = caughtUp({ ackPolicy, minIsr: 1 });
        sendUnanswered(p, 'c', 2000);
        p.followerAcked('b', 6, 2000);
        expect(p.proposals(2500), ackPolicy).toBeUndefined();
        p.followerAcked('b', 6, 4001);
        expect(p.proposals(4001), ackPolicy).toMatchObject({ remove: ['c'] });
      }
    });

    it('does not add a follower back after a reconnect until it acknowledges again', () => {
      const p = caughtUp({}, { isr: ['a', 'b'] });
      p.followerDisconnected('c');
      p.reconnected('c');
      expect(p.proposals(1001)).toBeUndefined();
      p.followerAcked('c', 5, 1002);
      expect(p.proposals(1002)).toMatchObject({ add: ['c'] });
    });

    it('removes a silent follower only after followerSilenceMs without an answer to what it was sent', () => {
      const at = (ms: number): IsrProposal | undefined => {
        const p = caughtUp();
        sendUnanswered(p, 'c', 2000);
        p.followerAcked('b', 6, 2000);
        return p.proposals(ms);
      };
      expect(at(2200)).toBeUndefined();
      expect(at(2201)).toMatchObject({ remove: ['c'] });
    });

    it('counts silence from the follower\'s last answer while more is outstanding, not from the first send', () => {
      const p = caughtUp();
      sendUnanswered(p, 'c', 2000);
      p.leaderAppended(7, 2150);
      p.batchSent('c', p.nextBatch('c') as AppendRange, 2150);
      p.followerAcked('c', 6, 2150);
      p.followerAcked('b', 6, 2150);
      expect(p.proposals(2350)).toBeUndefined();
      expect(p.proposals(2351)).toMatchObject({ remove: ['c'] });
    });

    it('does not count time with nothing outstanding as silence', () => {
      const p = caughtUp();
      expect(p.proposals(9000)).toBeUndefined();
    });

    it.each([
      // ISR, min_isr, silent, removed
      [['a', 'b', 'c'], 2, ['c'], ['c'], 'one silent follower of two'],
      [['a', 'b', 'c'], 2, ['b', 'c'], ['b'], 'only one of two silent followers: min_isr must stay met'],
      [['a', 'b'], 2, ['b'], [], 'none when that would take the ISR below min_isr (a slow disk stalls, it does not refuse)'],
      [['a', 'b', 'c'], 1, ['b', 'c'], ['b', 'c'], 'both with min_isr 1'],
    ] as const)('sync, ISR %j, min_isr %i: silent %j removes %j (%s)', (isr, minIsr, silent, removed, _why) => {
      const p = caughtUp({ minIsr }, { isr });
      for (const f of ['b', 'c']) {
        if (!(isr as readonly string[]).includes(f)) continue;
        sendUnanswered(p, f, 2000);
        if (!(silent as readonly string[]).includes(f)) p.followerAcked(f, 6, 2000);
      }
      expect(p.proposals(2500)?.remove ?? []).toEqual(removed);
    });

    it('removes a silent follower whose stream also broke before a merely silent one', () => {
      const p = caughtUp();
      sendUnanswered(p, 'b', 2000);
      sendUnanswered(p, 'c', 2000);
      p.followerDisconnected('c');
      expect(p.proposals(2500)).toMatchObject({ remove: ['c'] });
    });

    it('does not add back a follower that is silent now, even one that acknowledged up to the acknowledged index', () => {
      const p = caughtUp({}, { isr: ['a', 'b'] });
      sendUnanswered(p, 'c', 2000);
      expect(p.proposals(2500)).toBeUndefined();
      p.followerAcked('c', 6, 2600);
      expect(p.proposals(2600)).toMatchObject({ add: ['c'] });
    });

    it('stops counting silence once a follower switches to snapshot mode (nothing is sent to it)', () => {
      const p = caughtUp({}, { isr: ['a', 'b'] });
      sendUnanswered(p, 'c', 2000);
      p.needsSnapshot('c');
      expect(p.followerStatus('c', 2500).mode).toBe('snapshot');
      p.followerAcked('b', 6, 2500);
      expect(p.proposals(2500)).toBeUndefined();
    });
  });

  describe('sending', () => {
    it('probes at its own log end first, then pipelines once the follower acknowledges', () => {
      const p = progress({}, { durableIndex: 50, acknowledgedIndex: 50 });
      expect(p.nextBatch('b')).toEqual(range(50, 50));
      p.batchSent('b', range(50, 50));
      expect(p.nextBatch('b')).toBeUndefined();
      p.followerAcked('b', 50, 10);
      expect(p.followerStatus('b', 10).mode).toBe('replicate');
      p.leaderAppended(100, 20);
      const sent: AppendRange[] = [];
      for (let batch = p.nextBatch('b'); batch !== undefined; batch = p.nextBatch('b')) {
        p.batchSent('b', batch);
        sent.push(batch);
      }
      expect(sent).toEqual([range(50, 60), range(60, 70), range(70, 80)]);
      p.followerAcked('b', 60, 30);
      expect(p.nextBatch('b')).toEqual(range(80, 90));
      expect(p.nextToSend('b')).toBe(81);
    });

    it('never sends more than sendAheadEntriesMax entries beyond a slow follower’s durable index', () => {
      const p = progress({ sendAheadEntriesMax: 25, appendEntriesMax: 7 });
      p.batchSent('b', p.nextBatch('b') as AppendRange);
      p.followerAcked('b', 0, 0);
      for (let t = 1; t <= 200; t++) {
        p.leaderAppended(t * 3, t);
        for (let batch = p.nextBatch('b'); batch !== undefined; batch = p.nextBatch('b')) p.batchSent('b', batch);
        const status = p.followerStatus('b', t);
        expect(status.nextIndex - 1 - status.durableIndex).toBeLessThanOrEqual(25);
        if (t % 5 === 0) p.followerAcked('b', Math.min(status.nextIndex - 1, status.durableIndex + 4), t);
      }
    });

    it('acts on a refusal of the probe in flight even at an index the follower acknowledged (it cannot vouch for what it applied)', () => {
      const p = progress({}, { durableIndex: 40 });
      p.batchSent('b', range(40, 40));
      p.followerAcked('b', 40, 1);
      p.leaderAppended(50, 2);
      p.reconnected('b');
      expect(p.nextBatch('b')).toEqual(range(40, 50));
      p.batchSent('b', range(40, 50));
      expect(p.appendRefused('b', 40, { kind: 'truncate', epoch: 5, index: 40 })).toBe(true);
      expect([p.nextToSend('b'), p.followerStatus('b', 3).mode]).toEqual([41, 'probe']);
      // A refusal of a message other than the probe in flight, at or below what it acknowledged, stays stale.
      p.batchSent('b', range(40, 50));
      expect(p.appendRefused('b', 30, { kind: 'truncate', epoch: 5, index: 40 })).toBe(false);
    });

    it('rewinds to the advised index after a refusal and ignores refusals of batches sent before it', () => {
      const p = progress({}, { durableIndex: 40 });
      p.batchSent('b', range(40, 40));
      p.followerAcked('b', 40, 1);
      p.leaderAppended(100, 2);
      for (const r of [range(40, 50), range(50, 60), range(60, 70)]) p.batchSent('b', r);
      expect(p.appendRefused('b', 40, { kind: 'truncate', epoch: 5, index: 30 })).toBe(false); // it holds 40: stale
      expect(p.nextToSend('b')).toBe(71);
      expect(p.appendRefused('b', 50, { kind: 'truncate', epoch: 5, index: 45 })).toBe(true);
      expect([p.nextToSend('b'), p.followerStatus('b', 3).mode]).toEqual([46, 'probe']);
      expect(p.appendRefused('b', 60, { kind: 'truncate', epoch: 5, index: 41 })).toBe(false); // pipelined before the rewind
      expect(p.nextToSend('b')).toBe(46);
      expect(p.nextBatch('b')).toEqual(range(45, 55));
      p.batchSent('b', range(45, 55));
      expect(p.nextBatch('b')).toBeUndefined();
      expect(p.appendRefused('b', 45, { kind: 'truncate', epoch: 5, index: 42 })).toBe(true);
      expect(p.nextBatch('b')).toEqual(range(42, 52));
      p.batchSent('b', range(42, 52));
      p.followerAcked('b', 52, 4);
      expect(p.followerStatus('b', 4)).toMatchObject({ mode: 'replicate', nextIndex: 53, durableIndex: 52 });
    });

    it('stays in probe mode on a late acknowledgement below the probe', () => {
      const p = progress({}, { durableIndex: 20 });
      p.batchSent('b', range(20, 20));
      p.followerAcked('b', 10, 1);
      expect(p.followerStatus('b', 1).mode).toBe('probe');
      expect(p.nextBatch('b')).toBeUndefined();
    });

    it('probes again after a reconnect, from what the follower acknowledged or else from the leader’s log end', () => {
      const p = progress({}, { durableIndex: 20 });
      p.batchSent('b', range(20, 20));
      p.followerAcked('b', 20, 1);
      p.leaderAppended(60, 2);
      p.batchSent('b', range(20, 30));
      p.followerAcked('b', 25, 3);
      p.reconnected('b');
      p.reconnected('c');
      expect([p.nextBatch('b'), p.nextBatch('c')]).toEqual([range(25, 35), range(60, 60)]);
    });

    it('sends nothing to a follower that needs a snapshot until one is installed', () => {
      const p = progress({}, { durableIndex: 80 });
      p.batchSent('b', range(80, 80));
      p.appendRefused('b', 80, { kind: 'snapshot' });
      expect([p.nextBatch('b'), p.heartbeat('b'), p.followerStatus('b', 0).mode]).toEqual([undefined, undefined, 'snapshot']);
      p.reconnected('b');
      expect(p.followerStatus('b', 0).mode).toBe('snapshot');
      p.snapshotSent('b', 70);
      expect(p.nextBatch('b')).toEqual(range(70, 80));
    });

    it('switches a follower to snapshot mode when its next range starts below the log, once, and keeps it there over reconnects', () => {
      const p = progress({}, { durableIndex: 80 });
      p.batchSent('b', range(80, 80));
      expect(p.sendMode('b')).toBe('probe');
      expect(p.needsSnapshot('b')).toBe(true);
      expect(p.needsSnapshot('b')).toBe(false);
      expect([p.sendMode('b'), p.nextBatch('b'), p.heartbeat('b')]).toEqual(['snapshot', undefined, undefined]);
      // The outstanding probe is forgotten: its late refusal changes nothing.
      expect(p.appendRefused('b', 80, { kind: 'truncate', epoch: 5, index: 40 })).toBe(false);
      p.reconnected('b');
      expect(p.sendMode('b')).toBe('snapshot');
      p.snapshotSent('b', 75);
      expect([p.sendMode('b'), p.nextBatch('b')]).toEqual(['probe', range(75, 80)]);
      p.followerAcked('b', 80, 1);
      expect(p.sendMode('b')).toBe('replicate');
    });

    it('sends heartbeats at the next index to carry the acknowledged index, but not over an outstanding probe', () => {
      const p = progress({}, { durableIndex: 10 });
      expect(p.heartbeat('b')).toEqual(range(10, 10));
      p.batchSent('b', range(10, 10));
      expect(p.heartbeat('b')).toBeUndefined();
      p.followerAcked('b', 10, 1);
      p.batchSent('b', p.heartbeat('b') as AppendRange);
      expect(p.heartbeat('b')).toEqual(range(10, 10));
    });

    it.each([
      ['a batch that does not start at the next index', (p: LeaderProgress) => p.batchSent('b', range(3, 5))],
      ['a batch beyond the leader’s durable index', (p: LeaderProgress) => p.batchSent('b', range(10, 11))],
      ['a batch larger than appendEntriesMax', (p: LeaderProgress) => { p.leaderAppended(30, 1); p.batchSent('b', range(10, 21)); }],
      ['a second probe while one is in flight', (p: LeaderProgress) => { p.batchSent('b', range(10, 10)); p.batchSent('b', range(10, 10)); }],
      ['a batch beyond the send-ahead window', (p: LeaderProgress) => {
        p.batchSent('b', range(10, 10));
        p.followerAcked('b', 10, 1);
        p.leaderAppended(60, 2);
        for (const r of [range(10, 20), range(20, 30), range(30, 40)]) p.batchSent('b', r);
        p.batchSent('b', range(40, 41));
      }],
      ['a batch to a follower waiting for a snapshot', (p: LeaderProgress) => { p.batchSent('b', range(10, 10)); p.appendRefused('b', 10, { kind: 'snapshot' }); p.batchSent('b', range(10, 10)); }],
      ['a snapshot nobody asked for', (p: LeaderProgress) => p.snapshotSent('b', 5)],
      ['advice beyond the leader’s log', (p: LeaderProgress) => { p.batchSent('b', range(10, 10)); p.appendRefused('b', 10, { kind: 'truncate', epoch: 5, index: 11 }); }],
    ])('fails an assertion on %s', (_what, misuse) => {
      expect(() => misuse(progress({}, { durableIndex: 10 }))).toThrow(AssertionError);
    });
  });

  describe('sending ahead of the leader\'s fsync', () => {
    it('sends only durable entries until allowed, then everything in the log', () => {
      const p = progress({}, { durableIndex: 4 });
      p.followerAcked('b', 4, 0);
      p.leaderLogExtended(9);
      expect(p.leaderLogEnd).toBe(9);
      expect(p.sendLimit).toBe(4);
      expect(p.nextBatch('b')).toBeUndefined();
      p.sendAheadOfDurable();
      expect(p.sendsAhead).toBe(true);
      expect(p.sendLimit).toBe(9);
      expect(p.nextBatch('b')).toEqual(range(4, 9));
    });

    it('takes a follower acknowledgement beyond the leader\'s durable index, but acknowledges only what the leader holds durably', () => {
      const p = progress({}, { durableIndex: 4 });
      p.sendAheadOfDurable();
      p.leaderLogExtended(9);
      p.followerAcked('b', 4, 0);
      p.followerAcked('c', 4, 0);
      p.batchSent('b', range(4, 9));
      p.batchSent('c', range(4, 9));
      p.followerAcked('b', 9, 1);
      p.followerAcked('c', 9, 1);
      expect(p.followerStatus('b', 1).durableIndex).toBe(9);
      expect(p.acknowledgedIndex).toBe(4);
      p.leaderAppended(7, 2);
      expect(p.acknowledgedIndex).toBe(7);
      p.leaderAppended(9, 3);
      expect(p.acknowledgedIndex).toBe(9);
      expect(p.followerStatus('b', 3).lagMs).toBe(0);
    });

    it('refuses an acknowledgement beyond the log end and a log end below the durable index', () => {
      const p = progress({}, { durableIndex: 4 });
      p.leaderLogExtended(6);
      expect(() => p.followerAcked('b', 7, 0)).toThrow(AssertionError);
      expect(() => p.leaderLogExtended(3)).toThrow(AssertionError);
    });
  });

  describe('configuration', () => {
    it.each([
      ['replicas repeating a node', { replicas: ['a', 'b', 'b'] }, {}],
      ['a leader that is not a replica', { leaderNodeId: 'z' }, {}],
      ['min_isr 0', { minIsr: 0 }, {}],
      ['min_isr above the replica count', { minIsr: 4 }, {}],
      ['a zero lag time', { isrLagTimeMs: 0 }, {}],
      ['a zero proposal retry time', { isrProposalRetryMs: 0 }, {}],
      ['a batch larger than the send-ahead window', { appendEntriesMax: 40 }, {}],
      ['an empty batch size', { appendEntriesMax: 0 }, {}],
      ['an acknowledged index above the durable index', {}, { durableIndex: 3, acknowledgedIndex: 4 }],
      ['a negative durable index', {}, { durableIndex: -1 }],
      ['an ISR without the leader', {}, { isr: ['b', 'c'] }],
      ['an ISR member that is not a replica', {}, { isr: ['a', 'z'] }],
      ['a fractional time', {}, { nowMs: 0.5 }],
    ])('refuses %s', (_what, config, start) => {
      expect(() => progress(config as Partial<LeaderProgressConfig>, start as Partial<LeaderStart>)).toThrow(AssertionError);
    });
  });
});

/**
 * A leader with 1–3 followers under random writes, message delays, follower crashes and
 * restarts, lost coordinator answers and unrelated record changes; the coordinator applies an
 * AlterIsr only if the record revision it was based on is still current (RFC "ISR changes").
 * Followers' logs are prefixes of the leader's (one epoch), so every refusal is a follower
 * behind. After every step it checks the invariants; at the end it heals everything and checks
 * that the partition converges.
 */
describe('LeaderProgress under random acknowledgements, crashes and ISR changes', () => {
  type Answer = { readonly kind: 'ack'; readonly index: number } | { readonly kind: 'refuse'; readonly prevIndex: number; readonly durable: number };
  interface Follower {
    up: boolean;
    durable: number;
    inbox: AppendRange[];
    outbox: Answer[];
  }
  interface Delayed<T> {
    readonly atMs: number;
    readonly value: T;
  }
  const policies: AckPolicy[] = ['sync', 'semi-sync', 'async'];
  const cases = policies.flatMap((policy) => [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => [policy, seed] as const));

  it.each(cases)('keeps every invariant under %s (seed %i)', (ackPolicy, seed) => {
    const rng = seededRng(seed * 7919 + ackPolicy.length);
    // Even seeds send entries ahead of the leader's fsync.
    const ahead = seed % 2 === 0;
    const replicas = ['a', 'b', 'c', 'd'].slice(0, 2 + rng.below(3));
    const minIsr = ackPolicy === 'sync' ? Math.min(2, replicas.length) : 1;
    const config: LeaderProgressConfig = { ...baseConfig, replicas, ackPolicy, minIsr, isrLagTimeMs: 1000, sendAheadEntriesMax: 20, appendEntriesMax: 5, isrProposalRetryMs: 300, followerSilenceMs: seed % 4 < 2 ? 100_000 : 150 };
    const etcd = { isr: [...replicas], revision: 10 };
    const p = new LeaderProgress(config, { isr: etcd.isr, isrRevision: etcd.revision, durableIndex: 0, acknowledgedIndex: 0, nowMs: 0 });
    const history = EpochHistory.empty();
    const followers = new Map<string, Follower>(replicas.slice(1).map((n) => [n, { up: true, durable: 0, inbox: [], outbox: [] }]));
    let alterIsr: Delayed<IsrProposal>[] = [];
    let records: Delayed<{ isr: string[]; revision: number }>[] = [];
    let leaderDurable = 0;
    let leaderLogEnd = 0;
    if (ahead) p.sendAheadOfDurable();
    let acknowledgedLast = 0;
    let now = 0;

    const durableOf = (node: string): number => (node === 'a' ? leaderDurable : (followers.get(node) as Follower).durable);
    const publish = (delayMs: number): void => void records.push({ atMs: now + delayMs, value: { isr: [...etcd.isr], revision: etcd.revision } });

    const send = (node: string, f: Follower): void => {
      for (let batch = p.nextBatch(node); batch !== undefined && f.inbox.length < 40; batch = p.nextBatch(node)) {
        p.batchSent(node, batch);
        if (f.up) f.inbox.push(batch);
      }
      const beat = p.heartbeat(node);
      if (beat !== undefined && rng.below(4) === 0) {
        p.batchSent(node, beat);
        if (f.up) f.inbox.push(beat);
      }
    };
    const receive = (f: Follower): void => {
      const m = f.inbox.shift();
      if (m === undefined) return;
      if (m.prevIndex > f.durable) {
        f.outbox.push({ kind: 'refuse', prevIndex: m.prevIndex, durable: f.durable });
      } else {
        f.durable = Math.max(f.durable, m.toIndex);
        f.outbox.push({ kind: 'ack', index: m.toIndex });
      }
    };
    const answer = (node: string, f: Follower): void => {
      const a = f.outbox.shift();
      if (a === undefined) return;
      if (a.kind === 'ack') {
        p.followerAcked(node, a.index, now);
      } else {
        let advice = adviseTruncation({ index: a.durable, epoch: a.durable === 0 ? 0 : 5 }, history, leaderLogEnd);
        // As the replicator does: advise keeping no more than may have been sent.
        if (advice.kind === 'truncate' && advice.index > p.sendLimit) advice = { ...advice, index: p.sendLimit };
        p.appendRefused(node, a.prevIndex, advice);
      }
    };
    const coordinator = (dropRate: number): void => {
      const due = alterIsr.filter((r) => r.atMs <= now);
      alterIsr = alterIsr.filter((r) => r.atMs > now);
      for (const { value } of due) {
        if (value.recordRevision === etcd.revision) {
          etcd.isr = [...value.isr];
          etcd.revision++;
          publish(rng.below(1000)); // the watch, possibly after later answers
        }
        if (rng.below(100) >= dropRate) publish(rng.below(100)); // the AlterIsr answer: the current record
      }
      const seen = records.filter((r) => r.atMs <= now);
      records = records.filter((r) => r.atMs > now);
      for (const { value } of seen) p.confirmIsr(value.isr, value.revision);
    };
    const check = (): void => {
      const acknowledged = p.acknowledgedIndex;
      const violated = (what: string): never => expect.fail(`${what} at ${now} ms (acknowledged ${acknowledged}, leader ${leaderDurable}, etcd ISR ${etcd.isr.join(',')})`);
      if (acknowledged < acknowledgedLast) violated(`Acknowledged index went down from ${acknowledgedLast}`);
      if (acknowledged > leaderDurable) violated('Acknowledged index beyond the leader');
      const effective = p.effectiveAckSet;
      if (ackPolicy === 'sync') {
        for (const member of etcd.isr) if (!effective.includes(member)) violated(`etcd ISR member ${member} outside the effective ack set ${effective.join(',')}`);
        for (const member of [...etcd.isr, ...p.confirmedIsr]) if (durableOf(member) < acknowledged) violated(`ISR member ${member} lacks acknowledged entries (durable ${durableOf(member)})`);
        if (acknowledged > 0 && replicas.filter((n) => durableOf(n) >= acknowledged).length < minIsr) violated('Fewer than min_isr copies of an acknowledged entry');
      }
      if (ackPolicy === 'semi-sync' && acknowledged > acknowledgedLast && !etcd.isr.some((n) => n !== 'a' && durableOf(n) >= acknowledged)) {
        violated('No follower in the ISR in etcd holds a newly acknowledged entry under semi-sync');
      }
      for (const [node, f] of followers) {
        const status = p.followerStatus(node, now);
        if (status.durableIndex > f.durable) violated(`Leader believes ${node} holds ${status.durableIndex} but it holds ${f.durable}`);
        if (status.mode === 'replicate' && status.nextIndex - 1 - status.durableIndex > config.sendAheadEntriesMax) violated(`${node} was sent beyond its window`);
      }
      acknowledgedLast = acknowledged;
    };

    for (let step = 0; step < 2500; step++) {
      now += rng.below(30);
      const roll = rng.below(100);
      const node = replicas[1 + rng.below(replicas.length - 1)] as string;
      const f = followers.get(node) as Follower;
      if (roll < 20) {
        if (rng.below(2) === 0 && p.canAcceptWrites().ok) {
          const first = leaderLogEnd + 1;
          leaderLogEnd += 1 + rng.below(3);
          history.append(5, first);
          p.leaderLogExtended(leaderLogEnd);
        } else if (leaderDurable < leaderLogEnd) {
          leaderDurable += 1 + rng.below(leaderLogEnd - leaderDurable);
          p.leaderAppended(leaderDurable, now);
        }
      } else if (roll < 40) {
        send(node, f);
      } else if (roll < 65) {
        if (f.up) receive(f);
      } else if (roll < 82) {
        answer(node, f);
      } else if (roll < 85) {
        // Crash: what was in flight on the stream is lost; the durable log survives. The leader
        // sees the stream break (fast ISR shrink), unless the crash is a silent pause.
        f.up = false;
        f.inbox = [];
        f.outbox = [];
        if (rng.below(2) === 0) p.followerDisconnected(node);
      } else if (roll < 89) {
        if (!f.up) {
          f.up = true;
          p.reconnected(node);
        }
      } else if (roll < 96) {
        const proposal = p.proposals(now);
        if (proposal !== undefined && rng.below(5) !== 0) alterIsr.push({ atMs: now + rng.below(150), value: proposal });
      } else {
        etcd.revision++; // another field of the record changed
        publish(rng.below(1000));
      }
      coordinator(30);
      check();
    }

    // Heal: every follower up, nothing lost, no more writes; the partition must converge.
    leaderDurable = leaderLogEnd;
    p.leaderAppended(leaderDurable, now);
    for (const [node, f] of followers) {
      if (!f.up) {
        f.up = true;
        f.inbox = [];
        f.outbox = [];
        p.reconnected(node);
      }
    }
    for (let round = 0; round < 400; round++) {
      now += 10;
      for (const [node, f] of followers) {
        send(node, f);
        while (f.inbox.length > 0) receive(f);
        while (f.outbox.length > 0) answer(node, f);
      }
      const proposal = p.proposals(now);
      if (proposal !== undefined) alterIsr.push({ atMs: now, value: proposal });
      coordinator(0);
      check();
    }
    expect(p.acknowledgedIndex).toBe(leaderDurable);
    expect([...etcd.isr].sort()).toEqual([...replicas].sort());
    expect(p.confirmedIsr).toEqual(replicas);
    for (const f of followers.values()) expect(f.durable).toBe(leaderDurable);
    expect(leaderDurable).toBeGreaterThan(0);
  });
});
