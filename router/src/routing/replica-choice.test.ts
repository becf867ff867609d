import { describe, expect, it } from 'vitest';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { chooseReadReplica } from './replica-choice.js';

describe('chooseReadReplica', () => {
  const view = viewOf({
    keyspaces: { default: 4 },
    partitions: [
      { id: 0, leader: 'n1', epoch: 5, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] },
      { id: 1, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n3'] },
      { id: 2, leader: 'n1' },
      { id: 3, leader: 'n4', replicas: ['n4', 'n2', 'n3'], isr: ['n4', 'n2', 'n3'] },
    ],
    live: ['n1', 'n2', 'n4'],
  });
  const ks = view.keyspace('default')!;
  const none = new Set<string>();

  it('takes the live in-sync followers in turn, never the leader, with the partition epoch and the follower address', () => {
    const chosen = [0, 1, 2, 3].map((turn) => chooseReadReplica(view, ks, 0, none, turn)?.nodeId);
    // n3 is not registered (down): only n2 is live among the followers.
    expect(chosen).toEqual(['n2', 'n2', 'n2', 'n2']);
    expect(chooseReadReplica(view, ks, 0, none, 0)).toMatchObject({ partitionId: 0, epoch: 5, nodeId: 'n2', address: '127.0.0.1:7101', mapRevision: view.revision });
    // Both followers live: alternates.
    const both = viewOf({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] }], live: ['n1', 'n2', 'n3'] });
    expect([0, 1, 2, 3].map((turn) => chooseReadReplica(both, both.keyspace('default')!, 0, none, turn)?.nodeId)).toEqual(['n2', 'n3', 'n2', 'n3']);
  });

  it('skips followers outside the ISR and those already tried; none left means the leader', () => {
    expect(chooseReadReplica(view, ks, 1, none, 0)).toBeUndefined(); // n3 in the ISR but down, n2 live but not in the ISR
    expect(chooseReadReplica(view, ks, 0, new Set(['n2']), 0)).toBeUndefined();
    expect(chooseReadReplica(view, ks, 2, none, 0)).toBeUndefined(); // one replica
    expect(chooseReadReplica(view, ks, 3, none, 7)?.nodeId).toBe('n2'); // leader n4, follower n3 down
  });
});
