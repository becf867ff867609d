import { describe, expect, it } from 'vitest';
import { AssertionError } from '@quire/common';
import { SnapshotPulls } from './snapshot-pulls.js';

const at = (leader: string, epoch: number) => ({ leader, epoch });

describe('SnapshotPulls', () => {
  it('runs at most installsMax pulls and starts waiting ones in arrival order as others finish', () => {
    const p = new SnapshotPulls(2);
    expect(['ks/0', 'ks/1', 'ks/2', 'ks/3'].map((id) => p.request(id, at('n1', 3)))).toEqual(['started', 'started', 'queued', 'queued']);
    expect([p.runningCount, p.waitingCount, p.isRunning('ks/2')]).toEqual([2, 2, false]);
    expect(p.finish('ks/1')).toEqual(['ks/2']);
    expect(p.isRunning('ks/2')).toBe(true);
    expect(p.finish('ks/0')).toEqual(['ks/3']);
    expect(p.finish('ks/2')).toEqual([]);
    expect(p.finish('ks/3')).toEqual([]);
    expect([p.runningCount, p.waitingCount, p.target('ks/3')]).toEqual([0, 0, undefined]);
  });

  it('joins a repeat, retargets to a newer epoch and ignores an older one', () => {
    const p = new SnapshotPulls(1);
    expect(p.request('ks/0', at('n1', 3))).toBe('started');
    expect(p.request('ks/0', at('n1', 3))).toBe('joined');
    expect(p.request('ks/0', at('n2', 4))).toBe('retargeted');
    expect(p.target('ks/0')).toEqual(at('n2', 4));
    expect(p.request('ks/0', at('n1', 3))).toBe('stale');
    // A waiting pull is retargeted in place and keeps its place in the queue.
    expect(p.request('ks/1', at('n1', 3))).toBe('queued');
    expect(p.request('ks/1', at('n3', 5))).toBe('retargeted');
    expect(p.finish('ks/0')).toEqual(['ks/1']);
    expect(p.target('ks/1')).toEqual(at('n3', 5));
  });

  it('cancels a waiting pull (its replica is deleted), keeping the order of the others, but not a running one', () => {
    const p = new SnapshotPulls(1);
    expect(['ks/0', 'ks/1', 'ks/2'].map((id) => p.request(id, at('n1', 3)))).toEqual(['started', 'queued', 'queued']);
    expect(p.cancelWaiting('ks/0')).toBe(false);
    expect(p.cancelWaiting('ks/1')).toBe(true);
    expect(p.cancelWaiting('ks/9')).toBe(false);
    expect([p.runningCount, p.waitingCount, p.target('ks/1')]).toEqual([1, 1, undefined]);
    expect(p.finish('ks/0')).toEqual(['ks/2']);
    // A new request for the cancelled partition starts afresh.
    expect(p.request('ks/1', at('n2', 4))).toBe('queued');
  });

  it('fails an assertion on two leaders of one epoch, a bad target or finishing a pull that is not running', () => {
    const p = new SnapshotPulls(1);
    p.request('ks/0', at('n1', 3));
    p.request('ks/1', at('n1', 3));
    expect(() => p.request('ks/0', at('n2', 3))).toThrow(AssertionError);
    expect(() => p.request('ks/2', at('', 3))).toThrow(AssertionError);
    expect(() => p.request('ks/2', at('n1', 0))).toThrow(AssertionError);
    expect(() => p.finish('ks/1')).toThrow(AssertionError);
    expect(() => new SnapshotPulls(0)).toThrow(AssertionError);
  });
});
