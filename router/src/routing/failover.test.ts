import { describe, expect, it } from 'vitest';
import { viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { epochOf, holdUntilMs, replicaCountOf, retryActionFor, settlesAmbiguousWrite, unavailabilityIsMomentary, type FailureSite, type OperationKind, type RetryAction } from './failover.js';

describe('retryActionFor', () => {
  const cases: readonly [code: string, site: FailureSite, kind: OperationKind, replicas: number, action: RetryAction][] = [
    // No usable leader in the view: held only if another replica can be promoted.
    ['PARTITION_UNAVAILABLE', 'route', 'put', 3, 'hold'],
    ['PARTITION_UNAVAILABLE', 'route', 'get', 2, 'hold'],
    ['PARTITION_UNAVAILABLE', 'route', 'scan', 3, 'hold'],
    ['PARTITION_UNAVAILABLE', 'route', 'put', 1, 'fail'],
    ['PARTITION_UNAVAILABLE', 'route', 'get', 0, 'fail'],
    ['KEYSPACE_NOT_FOUND', 'route', 'get', 3, 'fail'],
    // Routing refusals: the operation did not happen, whatever it is.
    ['NOT_LEADER', 'node', 'put', 3, 'refresh'],
    ['STALE_EPOCH', 'node', 'delete', 1, 'refresh'],
    ['WRONG_PARTITION', 'node', 'get', 1, 'refresh'],
    ['NOT_LEADER', 'node', 'scan', 3, 'refresh'],
    // UNAVAILABLE: a write was never sent (a lost sent write is AMBIGUOUS_RESULT); a read has no effect.
    ['UNAVAILABLE', 'node', 'put', 3, 'resend'],
    ['UNAVAILABLE', 'node', 'delete', 1, 'resend'],
    // A stopping data node refuses before doing anything (SIGTERM: its leaderships move away).
    ['SHUTTING_DOWN', 'node', 'put', 3, 'resend'],
    ['SHUTTING_DOWN', 'node', 'get', 1, 'resend'],
    ['UNAVAILABLE', 'node', 'get', 3, 'resend'],
    ['UNAVAILABLE', 'node', 'scan', 3, 'resend'],
    // Unknown outcomes: never retried for writes without a request id (those with one: below).
    ['AMBIGUOUS_RESULT', 'node', 'put', 3, 'fail'],
    ['AMBIGUOUS_RESULT', 'node', 'delete', 3, 'fail'],
    ['AMBIGUOUS_RESULT', 'node', 'put', 1, 'fail'],
    ['AMBIGUOUS_RESULT', 'node', 'get', 3, 'resend'],
    ['AMBIGUOUS_RESULT', 'node', 'scan', 3, 'resend'],
    ['DEADLINE_EXCEEDED', 'node', 'put', 3, 'fail'],
    ['DEADLINE_EXCEEDED', 'node', 'get', 3, 'fail'],
    ['DEADLINE_EXCEEDED', 'node', 'scan', 3, 'fail'],
    // A leader that cannot serve reads for a moment (lease, new tenure): reads are sent again.
    ['PARTITION_UNAVAILABLE', 'node', 'get', 3, 'resend'],
    ['PARTITION_UNAVAILABLE', 'node', 'scan', 2, 'resend'],
    ['PARTITION_UNAVAILABLE', 'node', 'get', 1, 'fail'],
    // Everything else reaches the client as it is (a write below min ISR included).
    ['PARTITION_UNAVAILABLE', 'node', 'put', 3, 'fail'],
    ['PARTITION_UNAVAILABLE', 'node', 'delete', 3, 'fail'],
    ['OVERLOADED', 'node', 'put', 3, 'fail'],
    ['CONDITION_FAILED', 'node', 'put', 3, 'fail'],
    ['INTERNAL', 'node', 'get', 3, 'fail'],
    ['SOMETHING_NEW', 'node', 'get', 3, 'fail'],
  ];

  it.each(cases)('%s at %s for a %s with %i replicas: %s', (code, site, kind, replicas, action) => {
    expect(retryActionFor(code, site, kind, replicas, false)).toBe(action);
  });

  // With a request id: a write's unknown outcome may be resent (the data nodes deduplicate it);
  // everything else is decided as without one.
  const withRequestId: readonly [code: string, site: FailureSite, kind: OperationKind, replicas: number, action: RetryAction][] = [
    ['AMBIGUOUS_RESULT', 'node', 'put', 3, 'resend'],
    ['AMBIGUOUS_RESULT', 'node', 'delete', 3, 'resend'],
    ['AMBIGUOUS_RESULT', 'node', 'put', 1, 'resend'],
    ['NOT_LEADER', 'node', 'put', 3, 'refresh'],
    ['UNAVAILABLE', 'node', 'delete', 3, 'resend'],
    ['PARTITION_UNAVAILABLE', 'route', 'put', 3, 'hold'],
    ['PARTITION_UNAVAILABLE', 'route', 'put', 1, 'fail'],
    ['PARTITION_UNAVAILABLE', 'node', 'put', 3, 'fail'],
    ['DEADLINE_EXCEEDED', 'node', 'put', 3, 'fail'],
    ['CONDITION_FAILED', 'node', 'put', 3, 'fail'],
    ['OVERLOADED', 'node', 'delete', 3, 'fail'],
  ];

  it.each(withRequestId)('%s at %s for a %s with a request id and %i replicas: %s', (code, site, kind, replicas, action) => {
    expect(retryActionFor(code, site, kind, replicas, true)).toBe(action);
  });

  // A split under way: the new partition's leader refuses until it has carved its data, so
  // PARTITION_UNAVAILABLE from a node is a pause for writes too, whatever the replica count;
  // nothing else changes.
  const splitting: readonly [code: string, site: FailureSite, kind: OperationKind, replicas: number, action: RetryAction][] = [
    ['PARTITION_UNAVAILABLE', 'node', 'put', 3, 'resend'],
    ['PARTITION_UNAVAILABLE', 'node', 'delete', 1, 'resend'],
    ['PARTITION_UNAVAILABLE', 'node', 'get', 1, 'resend'],
    ['PARTITION_UNAVAILABLE', 'node', 'scan', 1, 'resend'],
    ['PARTITION_UNAVAILABLE', 'route', 'put', 1, 'fail'],
    ['STALE_EPOCH', 'node', 'put', 1, 'refresh'],
    ['OVERLOADED', 'node', 'put', 3, 'fail'],
    ['AMBIGUOUS_RESULT', 'node', 'put', 3, 'fail'],
  ];

  it.each(splitting)('%s at %s for a %s with %i replicas while a split is under way, or the map shows an ISR the leader has not confirmed: %s', (code, site, kind, replicas, action) => {
    expect(retryActionFor(code, site, kind, replicas, false, true)).toBe(action);
  });
});

describe('settlesAmbiguousWrite', () => {
  it.each([
    [undefined, true],
    ['CONDITION_FAILED', true],
    ['AMBIGUOUS_RESULT', false],
    ['UNAVAILABLE', false],
    ['NOT_LEADER', false],
    ['PARTITION_UNAVAILABLE', false],
    ['OVERLOADED', false],
    ['DEADLINE_EXCEEDED', false],
    ['INVALID_ARGUMENT', false],
  ])('an answer %s after an ambiguous attempt settles the write: %s', (code, settles) => {
    expect(settlesAmbiguousWrite(code)).toBe(settles);
  });
});

describe('failover helpers', () => {
  it('reads replica counts and epochs from the view, 0 for a partition without a record', () => {
    const view = viewOf({ keyspaces: { default: 2 }, partitions: [{ id: 0, leader: 'n1', epoch: 4, replicas: ['n1', 'n2', 'n3'] }], live: ['n1'] });
    const ks = view.keyspace('default')!;
    expect(replicaCountOf(ks, 0)).toBe(3);
    expect(epochOf(ks, 0)).toBe(4);
    expect(replicaCountOf(ks, 1)).toBe(0);
    expect(epochOf(ks, 1)).toBe(0);
  });

  it.each([
    ['the map shows an ISR of min_isr (2) or more: the leader has not confirmed it yet', ['n1', 'n2'], true],
    ['the map shows the whole replica set in sync', ['n1', 'n2', 'n3'], true],
    ['the map shows the leader alone in sync: followers are down or lagging', ['n1'], false],
  ])('PARTITION_UNAVAILABLE from a leader is momentary when %s: %s', (_name, isr, momentary) => {
    const view = viewOf({ replicationFactors: { default: 3 }, keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr }], live: ['n1', 'n2', 'n3'] });
    expect(unavailabilityIsMomentary(view.keyspace('default')!, 0)).toBe(momentary);
  });

  it('never takes a one-replica partition\'s refusal for momentary', () => {
    const view = viewOf({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1' }], live: ['n1'] });
    expect(unavailabilityIsMomentary(view.keyspace('default')!, 0)).toBe(false);
  });

  it('ends a wait after the failover wait, never past the deadline', () => {
    expect(holdUntilMs(100, 1_000, 5_000)).toBe(1_100);
    expect(holdUntilMs(100, 1_000, 600)).toBe(600);
    expect(holdUntilMs(100, 0, 5_000)).toBe(100);
  });
});
