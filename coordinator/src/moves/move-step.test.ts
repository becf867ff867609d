import { describe, expect, it } from 'vitest';
import type { PartitionRecord } from '@quire/proto';
import { seededRng, type PartitionEntry } from '@quire/common';
import { moveEnded, newMove, stepMove, type Move, type MoveAction, type MoveObservation, type MovePhase } from './move-step.js';

const settings = { catchUpTimeoutMs: 10_000, transferRetryMs: 1_000 };

/**
 * The key range of the partition under a move: a RANGE partition carved by a split, so every
 * record a step writes must carry the range and the split origin through unchanged (a record
 * built from scratch would turn it into ["", "")).
 */
const range = { startKey: Buffer.from('b'), endKey: Buffer.from('m'), splitFrom: { parentPartitionId: 3, parentEpoch: 2 } } as const;

/** Partition 0 of `ks` with the given replicas, ISR and leader, at epoch 4 and mod revision `rev`. */
function entry(replicas: string[], isr: string[], leader: string, rev = 100): PartitionEntry {
  const record: PartitionRecord = { keyspace: 'ks', partitionId: 0, replicas, leader, epoch: 4, isr, ...range };
  return { record, modRevision: rev };
}

const allLive = new Set(['n1', 'n2', 'n3', 'n4']);
const observe = (partition: PartitionEntry | undefined, over: Partial<MoveObservation> = {}): MoveObservation => ({ partition, live: allLive, nowMs: 1_000, cancelled: false, ...over });
const moveAt = (phase: MovePhase, over: Partial<Move> = {}): Move => ({ ...newMove('ks', 0, 'n3', 'n4', 0), phase, ...over });

describe('stepMove, one phase at a time', () => {
  it.each<[string, Move, MoveObservation, MovePhase, MoveAction[]]>([
    // adding
    ['adds the target as a learner: replicas + target at epoch + 1, ISR and leader unchanged, against the revision seen', moveAt('adding'), observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1')), 'adding', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3', 'n4'], isr: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['sees the add applied and waits for the target to catch up', moveAt('adding'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1')), 'catching-up', []],
    ['ends without writing when the target is not live', moveAt('adding'), observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1'), { live: new Set(['n1', 'n2', 'n3']) }), 'rolled-back', []],
    ['ends without writing when cancelled before the add', moveAt('adding'), observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1'), { cancelled: true }), 'rolled-back', []],
    ['ends when the source no longer holds a replica', moveAt('adding'), observe(entry(['n1', 'n2'], ['n1', 'n2'], 'n1')), 'rolled-back', []],
    ['ends when the partition is gone', moveAt('adding'), observe(undefined), 'rolled-back', []],
    // catching-up
    ['keeps waiting while the target is outside the ISR, within the timeout', moveAt('catching-up', { phaseSinceMs: 0 }), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1'), { nowMs: 9_999 }), 'catching-up', []],
    ['rolls back when the target did not join the ISR within the timeout', moveAt('catching-up', { phaseSinceMs: 0 }), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1'), { nowMs: 10_000 }), 'rolling-back', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['rolls back when the target goes down while catching up', moveAt('catching-up'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1'), { live: new Set(['n1', 'n2', 'n3']) }), 'rolling-back', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['rolls back when cancelled while catching up', moveAt('catching-up'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1'), { cancelled: true }), 'rolling-back', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['once the target is in the ISR and the source follows, removes the source from replicas and ISR', moveAt('catching-up'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3', 'n4'], 'n1')), 'removing', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n4'], isr: ['n1', 'n2', 'n4'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['removes a source that is down and already out of the ISR once the target is in sync', moveAt('catching-up'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n4'], 'n1'), { live: new Set(['n1', 'n2', 'n4']) }), 'removing', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n4'], isr: ['n1', 'n2', 'n4'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    // transferring
    ['asks a source that leads to hand over to the in-sync target', moveAt('transferring'), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n3')), 'transferring', [
      { kind: 'transfer-leader', from: 'n3', to: 'n4', epoch: 4 },
    ]],
    ['does not ask again before transferRetryMs', moveAt('transferring', { transferAskedMs: 500 }), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n3'), { nowMs: 1_499 }), 'transferring', []],
    ['asks again after transferRetryMs', moveAt('transferring', { transferAskedMs: 500 }), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n3'), { nowMs: 1_500 }), 'transferring', [
      { kind: 'transfer-leader', from: 'n3', to: 'n4', epoch: 4 },
    ]],
    ['waits for failover while the leading source is down', moveAt('transferring'), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n3'), { live: new Set(['n1', 'n2', 'n4']) }), 'transferring', []],
    ['goes back to catching up when the target left the ISR before the hand-over', moveAt('transferring'), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2'], 'n3')), 'catching-up', []],
    ['removes the source once another replica leads', moveAt('transferring'), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n4', 120)), 'removing', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n4'], isr: ['n1', 'n2', 'n4'], leader: 'n4', epoch: 5 }, expectedRevision: 120 },
    ]],
    // removing
    ['is done once the source is no longer a replica', moveAt('removing'), observe(entry(['n1', 'n2', 'n4'], ['n1', 'n2', 'n4'], 'n1')), 'done', []],
    ['does not remove the source while the target is out of the ISR: back to catching up', moveAt('removing'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1')), 'catching-up', []],
    ['does not remove the source while it leads (a failover gave it back): back to transferring', moveAt('removing'), observe(entry(['n3', 'n1', 'n2', 'n4'], ['n3', 'n1', 'n2', 'n4'], 'n3')), 'transferring', [
      { kind: 'transfer-leader', from: 'n3', to: 'n4', epoch: 4 },
    ]],
    // rolling-back
    ['rolls back by removing only the target', moveAt('rolling-back', { reason: 'cancelled' }), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3', 'n4'], 'n1')), 'rolling-back', [
      { kind: 'write-record', record: { ...range, keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5 }, expectedRevision: 100 },
    ]],
    ['moves the leadership off a target that a failover made leader before removing it', moveAt('rolling-back', { reason: 'cancelled' }), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n4', 'n2', 'n3'], 'n4')), 'rolling-back', [
      { kind: 'transfer-leader', from: 'n4', to: 'n2', epoch: 4 },
    ]],
    ['is rolled back once the target is no longer a replica', moveAt('rolling-back', { reason: 'cancelled' }), observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1')), 'rolled-back', []],
  ])('%s', (_name, move, obs, phase, actions) => {
    const step = stepMove(move, obs, settings);
    expect(step.move.phase).toBe(phase);
    expect(step.actions).toEqual(actions);
    // Level-triggered: the same inputs give the same answer.
    expect(stepMove(move, obs, settings)).toEqual(step);
  });

  it('says why a move ended', () => {
    expect(stepMove(moveAt('adding'), observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1'), { live: new Set(['n1']) }), settings).move.reason).toBe('target n4 is not live');
    const timedOut = stepMove(moveAt('catching-up'), observe(entry(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3'], 'n1'), { nowMs: 20_000 }), settings).move;
    expect(timedOut.reason).toBe('target n4 did not join the ISR within 10000 ms');
    expect(stepMove({ ...timedOut, phase: 'rolling-back' }, observe(entry(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 'n1')), settings).move).toMatchObject({ phase: 'rolled-back', reason: timedOut.reason });
  });
});

/**
 * A simulated partition under a move: the step's writes apply (or lose to a concurrent change
 * of the revision), hand-overs happen when asked (or not), and at random the leader admits or
 * drops the target, nodes die and come back, failover moves the leadership among live ISR
 * members, and the move is cancelled. After every event the record must keep the invariants.
 */
describe('stepMove under random events (seeded)', () => {
  it.each(Array.from({ length: 200 }, (_, seed) => seed))('seed %i: add before remove, the leader never removed, only the target rolled back, every move ends', (seed) => {
    const rng = seededRng(seed);
    const nodes = ['n1', 'n2', 'n3', 'n4'];
    const sourceLeads = rng.below(2) === 0;
    let record: PartitionRecord = { keyspace: 'ks', partitionId: 0, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'], leader: sourceLeads ? 'n3' : 'n1', epoch: 4, ...range };
    let rev = 100;
    const live = new Set(nodes);
    let move = newMove('ks', 0, 'n3', 'n4', 0);
    let cancelled = false;
    let now = 0;
    const copiesAtStart = record.isr.length;
    for (let i = 0; i < 400 && !moveEnded(move); i++) {
      now += 100 + rng.below(900);
      // The world moves first.
      const roll = rng.below(8);
      if (roll === 0 && record.replicas.includes('n4') && !record.isr.includes('n4') && live.has('n4')) record = { ...record, isr: record.replicas.filter((n) => record.isr.includes(n) || n === 'n4') };
      else if (roll === 1 && record.isr.includes('n4') && record.leader !== 'n4') record = { ...record, isr: record.isr.filter((n) => n !== 'n4') };
      else if (roll === 2) {
        const n = nodes[rng.below(nodes.length)] as string;
        if (live.has(n) && live.size > 2) live.delete(n);
        else live.add(n);
      } else if (roll === 3 && !live.has(record.leader)) {
        const candidate = record.isr.find((n) => live.has(n));
        if (candidate !== undefined) record = { ...record, leader: candidate, epoch: record.epoch + 1 };
      } else if (roll === 4 && rng.below(10) === 0) cancelled = true;
      if (roll <= 4) rev++;
      // Then the move.
      const step = stepMove(move, { partition: { record, modRevision: rev }, live, nowMs: now, cancelled }, settings);
      move = step.move;
      for (const action of step.actions) {
        if (action.kind === 'write-record') {
          if (action.expectedRevision !== rev || rng.below(5) === 0) continue; // lost to a concurrent change, or not applied yet
          const removed = record.replicas.filter((n) => !action.record.replicas.includes(n));
          const added = action.record.replicas.filter((n) => !record.replicas.includes(n));
          expect(added.every((n) => n === 'n4')).toBe(true);
          expect(removed.length).toBeLessThanOrEqual(1);
          if (removed[0] === 'n3') {
            // Add before remove: the target holds every acknowledged entry when the source goes.
            expect(record.isr).toContain('n4');
            expect(action.record.isr.length).toBeGreaterThanOrEqual(Math.min(copiesAtStart, record.isr.length - (record.isr.includes('n3') ? 1 : 0)));
          }
          if (removed[0] !== undefined) expect(removed[0]).not.toBe(record.leader);
          if (removed[0] === 'n4') expect(move.phase).toBe('rolling-back');
          expect(action.record.leader).toBe(record.leader);
          expect(action.record.epoch).toBe(record.epoch + 1);
          // The key range and split origin go through every write unchanged.
          expect(action.record).toMatchObject(range);
          record = action.record;
          rev++;
        } else if (action.from === record.leader && action.epoch === record.epoch && record.isr.includes(action.to) && live.has(action.to) && rng.below(3) !== 0) {
          record = { ...record, leader: action.to, epoch: record.epoch + 1 };
          rev++;
        }
      }
      expect(record.isr).toContain(record.leader);
      expect(record.isr.every((n) => record.replicas.includes(n))).toBe(true);
      // Never fewer replicas than the partition started with.
      expect(record.replicas.length).toBeGreaterThanOrEqual(3);
    }
    // With every node back and no more interference, the move ends.
    live.clear();
    for (const n of nodes) live.add(n);
    for (let i = 0; i < 50 && !moveEnded(move); i++) {
      now += 1_000;
      if (record.replicas.includes('n4') && !record.isr.includes('n4')) record = { ...record, isr: record.replicas.filter((n) => record.isr.includes(n) || n === 'n4') };
      const step = stepMove(move, { partition: { record, modRevision: rev }, live, nowMs: now, cancelled }, settings);
      move = step.move;
      for (const action of step.actions) {
        if (action.kind === 'write-record') record = action.record;
        else record = { ...record, leader: action.to, epoch: record.epoch + 1 };
        rev++;
      }
    }
    expect(moveEnded(move)).toBe(true);
    if (move.phase === 'done') expect(record.replicas).toEqual(expect.arrayContaining(['n4']));
    if (move.phase === 'done') expect(record.replicas).not.toContain('n3');
    if (move.phase === 'rolled-back') expect(record.replicas).not.toContain('n4');
  });
});
