import { describe, expect, it } from 'vitest';
import { drainKey } from '@quire/common';
import { DrainRecord } from '@quire/proto';
import { applyToView, viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { checkNodeId, planDecommission, planForgetNode } from './decommission.js';

const view = (live: string[], rf = 3) =>
  viewOf({
    keyspaces: { default: 2, small: 1 },
    replicationFactors: { default: rf, small: 1 },
    partitions: [
      { id: 0, leader: 'n1', replicas: ['n1', 'n2', 'n3'].slice(0, rf) },
      { id: 1, leader: 'n2', replicas: ['n2', 'n3', 'n1'].slice(0, rf) },
    ],
    live,
    known: ['n1', 'n2', 'n3', 'n4'],
  });

describe('planDecommission', () => {
  it.each([
    ['an empty node id', '', 'INVALID_ARGUMENT', /node_id is required/],
    ['a node no record names', 'n9', 'NODE_NOT_FOUND', /No data node "n9" is known/],
  ])('refuses %s with nothing written', (_what, nodeId, code, message) => {
    const d = planDecommission(view(['n1', 'n2', 'n3', 'n4']), nodeId);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.code).toBe(code);
      expect(d.error.message).toMatch(message);
      expect(d.error.details.field).toBe('node_id');
    }
  });

  it('refuses a drain that would leave fewer live, non-draining nodes than a replication factor', () => {
    const d = planDecommission(view(['n1', 'n2', 'n3']), 'n1');
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.code).toBe('FAILED_PRECONDITION');
      expect(d.error.message).toMatch(/would leave 2 live data node\(s\).*"default"'s replication factor 3/);
      expect(d.error.details).toMatchObject({ limit: 3, actual: 2 });
    }
  });

  it('counts nodes already draining as gone', () => {
    const v = view(['n1', 'n2', 'n3', 'n4']);
    expect(planDecommission(v, 'n4')).toEqual({ ok: true, alreadyDraining: false, replicaCount: 0 });
    applyToView(v, [{ key: drainKey('n4'), value: DrainRecord.encode({ nodeId: 'n4', startedAtMs: 1 }).finish() }]);
    expect(planDecommission(v, 'n1').ok).toBe(false);
  });

  it('answers a node already draining unchanged, with the replicas it holds', () => {
    const v = view(['n1', 'n2', 'n3', 'n4']);
    applyToView(v, [{ key: drainKey('n1'), value: DrainRecord.encode({ nodeId: 'n1', startedAtMs: 1 }).finish() }]);
    expect(planDecommission(v, 'n1')).toEqual({ ok: true, alreadyDraining: true, replicaCount: 2 });
  });

  it('accepts a node that is down but known (its replicas move away once it is drained)', () => {
    expect(planDecommission(view(['n1', 'n2', 'n4']), 'n3')).toEqual({ ok: true, alreadyDraining: false, replicaCount: 2 });
    expect(checkNodeId(view(['n1']), 'n3')).toBeUndefined();
  });
});

describe('planForgetNode', () => {
  it('refuses a node that runs or still holds replicas, with nothing changed', () => {
    const running = planForgetNode(view(['n1', 'n2', 'n3', 'n4']), 'n4');
    expect(running.ok).toBe(false);
    if (!running.ok) expect(running.error.message).toMatch(/n4 is running \(it holds a registration\): drain it/);
    const holding = planForgetNode(view(['n1', 'n2', 'n4']), 'n3');
    expect(holding.ok).toBe(false);
    if (!holding.ok) {
      expect(holding.error.code).toBe('FAILED_PRECONDITION');
      expect(holding.error.message).toMatch(/n3 still holds 2 replica\(s\)/);
    }
    expect(planForgetNode(view(['n1']), 'n9')).toMatchObject({ ok: false, error: { code: 'NODE_NOT_FOUND' } });
  });

  it('forgets a stopped, empty node, with its drain record when it has one', () => {
    const v = view(['n1', 'n2', 'n3']);
    expect(planForgetNode(v, 'n4')).toEqual({ ok: true, drainRevision: undefined });
    const revision = applyToView(v, [{ key: drainKey('n4'), value: DrainRecord.encode({ nodeId: 'n4', startedAtMs: 1 }).finish() }]);
    expect(planForgetNode(v, 'n4')).toEqual({ ok: true, drainRevision: revision });
  });
});
