import { describe, expect, it } from 'vitest';
import { formatFollowerLag } from './output.js';

describe('formatFollowerLag', () => {
  it('shows entries and ms per follower, ? when its leader did not say, - without followers', () => {
    expect(
      formatFollowerLag([
        { nodeId: 'node-2', known: true, lagEntries: 0, lagMs: 0, durableIndex: 10, mode: 'replicate' },
        { nodeId: 'node-3', known: true, lagEntries: 42, lagMs: 1250, durableIndex: 8, mode: 'snapshot' },
        { nodeId: 'node-4', known: false, lagEntries: 0, lagMs: 0, durableIndex: 0, mode: '' },
      ]),
    ).toBe('node-2:0/0ms node-3:42/1250ms(snapshot) node-4:?');
    expect(formatFollowerLag([])).toBe('-');
  });
});
