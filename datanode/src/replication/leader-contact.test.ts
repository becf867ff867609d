import { describe, expect, it } from 'vitest';
import { LeaderContact } from './leader-contact.js';

describe('LeaderContact', () => {
  it('counts a contact once the replica reached the acknowledged index the leader stated', () => {
    const c = new LeaderContact();
    // Epoch 1 from an empty log: settled at once.
    c.appendAccepted(1, 5, 0, 5, 100);
    expect(c.state).toEqual({ epoch: 1, settled: true, receivedMs: 100 });
    // Behind what the leader stated: the contact time stays.
    c.appendAccepted(1, 9, 5, 7, 200);
    expect(c.state.receivedMs).toBe(100);
    c.appendAccepted(1, 9, 9, 9, 300);
    expect(c.state.receivedMs).toBe(300);
  });

  it('counts nothing of a new epoch until the replica acknowledged the log it held when the epoch began', () => {
    const c = new LeaderContact();
    c.appendAccepted(1, 10, 0, 10, 100);
    // The follower holds 14 (acknowledged by the old leader up to 14, say); the new leader states 10.
    c.appendAccepted(2, 10, 14, 10, 200);
    expect(c.state).toEqual({ epoch: 2, settled: false, receivedMs: undefined });
    c.appendAccepted(2, 13, 14, 13, 300);
    expect(c.state.settled).toBe(false);
    c.appendAccepted(2, 14, 14, 14, 400);
    expect(c.state).toEqual({ epoch: 2, settled: true, receivedMs: 400 });
  });

  it('ignores older epochs, and forgets everything on reset', () => {
    const c = new LeaderContact();
    c.appendAccepted(3, 1, 0, 1, 100);
    c.appendAccepted(2, 1, 1, 1, 500);
    expect(c.state).toEqual({ epoch: 3, settled: true, receivedMs: 100 });
    c.reset();
    expect(c.state).toEqual({ epoch: 0, settled: false, receivedMs: undefined });
  });
});
