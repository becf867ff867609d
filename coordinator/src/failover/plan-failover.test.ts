import { describe, expect, it } from 'vitest';
import type { PartitionRecord } from '@quire/proto';
import { AssertionError, seededRng, type PartitionEntry, type Rng } from '@quire/common';
import { compareLogEnds, failoverCandidates, planFailover, type FailoverDecision, type LogEnd } from './plan-failover.js';

const record = (over: Partial<PartitionRecord> = {}): PartitionRecord => ({
  keyspace: 'default',
  partitionId: 7,
  replicas: ['n1', 'n2', 'n3'],
  leader: 'n1',
  epoch: 4,
  isr: ['n1', 'n2', 'n3'],
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  splitFrom: undefined,
  ...over,
});
const entry = (over: Partial<PartitionRecord> = {}, modRevision = 120): PartitionEntry => ({ record: record(over), modRevision });
const ends = (m: Record<string, [epoch: number, index: number]>): Map<string, LogEnd> =>
  new Map(Object.entries(m).map(([nodeId, [epoch, index]]) => [nodeId, { epoch, index }]));
const plan = (over: Partial<PartitionRecord>, live: string[], logEnds: Record<string, [number, number]>): FailoverDecision =>
  planFailover({ partition: entry(over), liveNodeIds: new Set(live), logEnds: ends(logEnds) });
/** The promoted leader and ISR, or the decision kind (with the reason when leaderless). */
const outcome = (d: FailoverDecision): string =>
  d.kind === 'promote' ? `promote ${d.leader} isr=[${d.isr.join(',')}]` : d.kind === 'leaderless' ? `leaderless ${d.reason}` : d.kind;

describe('planFailover', () => {
  it.each<[name: string, over: Partial<PartitionRecord>, live: string[], logEnds: Record<string, [number, number]>, expected: string]>([
    ['changes nothing while the leader is live, whatever the others report', {}, ['n1', 'n2'], { n2: [9, 999] }, 'no-change'],
    ['changes nothing while the leader is live even if every other member is dead', {}, ['n1'], {}, 'no-change'],
    ['promotes the member with the longest log', {}, ['n2', 'n3'], { n2: [4, 10], n3: [4, 12] }, 'promote n3 isr=[n2,n3]'],
    ['prefers a higher epoch over a higher index', {}, ['n2', 'n3'], { n2: [4, 5], n3: [3, 100] }, 'promote n2 isr=[n2,n3]'],
    ['promotes a lone surviving ISR member', {}, ['n3'], { n3: [4, 1] }, 'promote n3 isr=[n3]'],
    ['promotes a member with an empty log when it is the only candidate', {}, ['n2'], { n2: [0, 0] }, 'promote n2 isr=[n2]'],
    ['stays leaderless when every ISR member is dead, even with a live replica outside the ISR', { isr: ['n1', 'n2'] }, ['n3'], { n3: [4, 50] }, 'leaderless no-live-isr-member'],
    ['stays leaderless when no node is live', {}, [], {}, 'leaderless no-live-isr-member'],
    ['stays leaderless when live ISR members did not answer', {}, ['n2', 'n3'], {}, 'leaderless no-isr-member-answered'],
    ['never promotes a replica outside the ISR, even with the longest log', { isr: ['n1', 'n2'] }, ['n2', 'n3'], { n2: [4, 1], n3: [5, 999] }, 'promote n2 isr=[n2]'],
    ['ignores ISR members that did not answer, and drops them from the ISR', {}, ['n2', 'n3'], { n3: [4, 3] }, 'promote n3 isr=[n3]'],
    ['ignores answers from nodes whose registration is gone', {}, ['n2'], { n2: [4, 3], n3: [4, 9] }, 'promote n2 isr=[n2]'],
    ['ignores an answer from the dead leader', {}, ['n2'], { n1: [4, 99], n2: [4, 3] }, 'promote n2 isr=[n2]'],
    ['breaks a tie in favour of the member listed first in replicas', {}, ['n2', 'n3'], { n3: [4, 7], n2: [4, 7] }, 'promote n2 isr=[n2,n3]'],
    ['breaks ties by replicas order, not by node id', { replicas: ['n3', 'n1', 'n2'], isr: ['n1', 'n2', 'n3'] }, ['n2', 'n3'], { n2: [4, 7], n3: [4, 7] }, 'promote n3 isr=[n3,n2]'],
  ])('%s', (_name, over, live, logEnds, expected) => {
    expect(outcome(plan(over, live, logEnds))).toBe(expected);
  });

  it('bumps the epoch by one, keeps the replicas and the key range, and compares the revision it planned from', () => {
    const range = { startKey: Buffer.from('c'), endKey: Buffer.from('q'), splitFrom: { parentPartitionId: 2, parentEpoch: 8 } };
    const d = planFailover({ partition: entry({ epoch: 9, ...range }, 4242), liveNodeIds: new Set(['n2', 'n3']), logEnds: ends({ n2: [9, 30], n3: [8, 40] }) });
    expect(d).toEqual({
      kind: 'promote',
      leader: 'n2',
      epoch: 10,
      isr: ['n2', 'n3'],
      expectedRevision: 4242,
      logEnd: { epoch: 9, index: 30 },
      // A RANGE partition keeps its key range and split origin through a failover.
      record: { keyspace: 'default', partitionId: 7, replicas: ['n1', 'n2', 'n3'], leader: 'n2', epoch: 10, isr: ['n2', 'n3'], ...range },
    });
  });

  it('breaks a tie in favour of the member leading fewer partitions, but never prefers a shorter log', () => {
    const withCounts = (logEnds: Record<string, [number, number]>, counts: Record<string, number>): string =>
      outcome(planFailover({ partition: entry(), liveNodeIds: new Set(['n2', 'n3']), logEnds: ends(logEnds), leaderCounts: new Map(Object.entries(counts)) }));
    expect(withCounts({ n2: [4, 7], n3: [4, 7] }, { n2: 3, n3: 2 })).toBe('promote n3 isr=[n2,n3]');
    expect(withCounts({ n2: [4, 7], n3: [4, 7] }, { n2: 2, n3: 2 })).toBe('promote n2 isr=[n2,n3]');
    expect(withCounts({ n2: [4, 7], n3: [4, 7] }, { n2: 1 })).toBe('promote n3 isr=[n2,n3]');
    expect(withCounts({ n2: [4, 8], n3: [4, 7] }, { n2: 9, n3: 0 })).toBe('promote n2 isr=[n2,n3]');
  });

  it('names the live ISR members when it stays leaderless because none answered', () => {
    expect(plan({}, ['n3', 'n2'], {})).toEqual({ kind: 'leaderless', reason: 'no-isr-member-answered', liveIsr: ['n2', 'n3'] });
  });

  it.each<[string, Partial<PartitionRecord>]>([
    ['a leader outside the ISR', { isr: ['n2', 'n3'] }],
    ['an ISR member that is not a replica', { isr: ['n1', 'n4'] }],
    ['an empty ISR', { isr: [] }],
    ['no leader', { leader: '', isr: ['n2'] }],
  ])('crashes on a record with %s, whether or not its leader is live', (_name, over) => {
    expect(() => plan(over, ['n1', 'n2', 'n3'], {})).toThrow(AssertionError);
    expect(() => plan(over, ['n2', 'n3'], { n2: [4, 1] })).toThrow(AssertionError);
  });

  it('crashes on a malformed log end', () => {
    expect(() => plan({}, ['n2'], { n2: [4, -1] })).toThrow(AssertionError);
    expect(() => plan({}, ['n2'], { n2: [Number.NaN, 1] })).toThrow(AssertionError);
  });

  it('lists the nodes to ask: live ISR members in replicas order', () => {
    expect(failoverCandidates(record({ isr: ['n3', 'n1', 'n2'] }), new Set(['n3', 'n2', 'n9']))).toEqual(['n2', 'n3']);
    expect(failoverCandidates(record({ isr: ['n1', 'n2'] }), new Set(['n3']))).toEqual([]);
  });

  it('orders log ends by epoch first, then index', () => {
    expect(compareLogEnds({ epoch: 2, index: 1 }, { epoch: 1, index: 9 })).toBeGreaterThan(0);
    expect(compareLogEnds({ epoch: 1, index: 3 }, { epoch: 1, index: 9 })).toBeLessThan(0);
    expect(compareLogEnds({ epoch: 1, index: 9 }, { epoch: 1, index: 9 })).toBe(0);
  });
});

describe('planFailover, randomized', () => {
  const nodeIds = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.below(items.length)]!;
  const subset = <T>(rng: Rng, items: readonly T[], p = 0.5): T[] => items.filter(() => rng.next() < p);

  /** A random valid record, live set and answers: the leader is live a third of the time; answers come from any node. */
  function scenario(rng: Rng): { record: PartitionRecord; live: Set<string>; logEnds: Map<string, LogEnd> } {
    const replicas = subset(rng, nodeIds, 0.7);
    if (replicas.length === 0) replicas.push(pick(rng, nodeIds));
    for (let i = replicas.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [replicas[i], replicas[j]] = [replicas[j]!, replicas[i]!];
    }
    const leader = pick(rng, replicas);
    const isr = [leader, ...subset(rng, replicas.filter((nodeId) => nodeId !== leader), 0.7)];
    const epoch = 1 + rng.below(5);
    const live = new Set(subset(rng, nodeIds, 0.6).filter((nodeId) => nodeId !== leader));
    if (rng.below(3) === 0) live.add(leader);
    const logEnds = new Map<string, LogEnd>();
    // Small ranges (the current or the previous epoch, index 0..2) so that ties are common.
    for (const nodeId of subset(rng, nodeIds, 0.7)) logEnds.set(nodeId, { epoch: epoch - rng.below(2), index: rng.below(3) });
    return { record: record({ replicas, leader, isr, epoch }), live, logEnds };
  }

  it('promotes only an answering live ISR member, with the greatest (epoch, index), ties to the first in replicas', () => {
    const seed = 0x5eed_f00d;
    const rng = seededRng(seed);
    const seen = { 'no-change': 0, promote: 0, leaderless: 0, tie: 0 };
    for (let round = 0; round < 5_000; round++) {
      const { record: r, live, logEnds } = scenario(rng);
      const context = `seed ${seed}, round ${round}: ${JSON.stringify({ r, live: [...live], logEnds: [...logEnds] })}`;
      const d = planFailover({ partition: { record: r, modRevision: 77 }, liveNodeIds: live, logEnds });
      seen[d.kind]++;
      const answered = r.replicas.filter((nodeId) => r.isr.includes(nodeId) && live.has(nodeId) && logEnds.has(nodeId));
      if (live.has(r.leader)) {
        expect(d.kind, context).toBe('no-change');
        continue;
      }
      if (answered.length === 0) {
        expect(d.kind, context).toBe('leaderless');
        continue;
      }
      if (d.kind !== 'promote') throw new Error(`Expected a promotion, got ${d.kind}; ${context}`);
      expect(r.isr, context).toContain(d.leader);
      expect(live.has(d.leader), context).toBe(true);
      expect(d.isr, context).toEqual(answered);
      expect(d.isr, context).toContain(d.leader);
      expect([d.epoch, d.record.epoch, d.expectedRevision], context).toEqual([r.epoch + 1, r.epoch + 1, 77]);
      expect(d.record.replicas, context).toEqual(r.replicas);
      const best = logEnds.get(d.leader)!;
      if (answered.some((nodeId) => nodeId !== d.leader && compareLogEnds(logEnds.get(nodeId)!, best) === 0)) seen.tie++;
      for (const nodeId of answered) {
        const other = logEnds.get(nodeId)!;
        expect(compareLogEnds(other, best), context).toBeLessThanOrEqual(0);
        // Ties go to the first in replicas: no member listed earlier has an equal log end.
        if (r.replicas.indexOf(nodeId) < r.replicas.indexOf(d.leader)) expect(compareLogEnds(other, best), context).toBeLessThan(0);
      }
    }
    // The generator reaches every branch, and ties, often enough for the checks above to mean something.
    expect(Math.min(seen['no-change'], seen.promote, seen.leaderless)).toBeGreaterThan(1_000);
    expect(seen.tie).toBeGreaterThan(50);
  });
});
