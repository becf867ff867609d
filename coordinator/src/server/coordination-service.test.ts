import { describe, expect, it } from 'vitest';
import type { sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import {
  PartitionRecord,
  type AlterIsrRequest,
  type AlterIsrResponse,
  type CoordinationTransferLeaderRequest,
  type CoordinationTransferLeaderResponse,
} from '@quire/proto';
import { defaultLimits, fromGrpcError, partitionKey, type MetadataView, type QuireError } from '@quire/common';
import { RpcMetrics } from '@quire/runtime';
import type { FencedChange, FencedResult } from '@quire/metastore';
import { ManualClock } from '../../../common/src/testing/manual-clock.js';
import { applyToView, viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger, recordingMeter } from '../../../runtime/src/testing/recorders.js';
import { createCoordinationService, type IsrWriter } from './coordination-service.js';

/** The key range of a HASH partition's record: none. */
const hash = { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined };

/** An IsrWriter over the view that applies a change when its expected revision holds, like etcd; `next` overrides one answer. */
class FakeWriter implements IsrWriter {
  isLeader = true;
  readonly calls: (readonly FencedChange[])[] = [];
  next: (() => FencedResult) | undefined;

  constructor(private readonly view: MetadataView) {}

  applyFenced(changes: readonly FencedChange[]): Promise<FencedResult> {
    this.calls.push(changes);
    const next = this.next;
    this.next = undefined;
    if (next !== undefined) return Promise.resolve(next());
    const current = this.view.keyspace('default')!.partitions[0]!.modRevision;
    if (changes.some((c) => c.expectedModRevision !== current)) return Promise.resolve({ applied: false, revision: this.view.revision, reason: 'conflict' });
    return Promise.resolve({ applied: true, revision: applyToView(this.view, changes) });
  }
}

function setup() {
  const view = viewOf({
    cluster: true,
    coordinatorLeader: '10.0.0.9:7000',
    replicationFactors: { default: 3 },
    keyspaces: { default: 2 },
    partitions: [{ id: 0, leader: 'n1', epoch: 5, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2'] }],
    live: ['n1', 'n2', 'n3'],
  });
  const writer = new FakeWriter(view);
  const metrics = recordingMeter();
  const log = new RecordingLogger();
  const waits: number[] = [];
  const service = createCoordinationService({
    view,
    watcher: {
      waitForRevision: (revision) => {
        waits.push(revision);
        return Promise.resolve(view.revision >= revision);
      },
    },
    writer,
    limits: defaultLimits,
    metrics: new RpcMetrics(metrics.meter, 'coordinator', 'coordination'),
    meter: metrics.meter,
    clock: new ManualClock(),
    log,
    // RequestSplit is tested in split-writer.test.ts.
    splits: { split: () => Promise.reject(new Error('no split expected')) },
  });
  const entry = () => view.keyspace('default')!.partitions[0]!;
  const request = (over: Partial<AlterIsrRequest> = {}): AlterIsrRequest => ({
    keyspace: 'default',
    partitionId: 0,
    epoch: 5,
    leaderNodeId: 'n1',
    isr: ['n1', 'n2', 'n3'],
    recordRevision: entry().modRevision,
    ...over,
  });
  /** Calls AlterIsr as gRPC would; resolves with the answer or the typed error decoded from the status. */
  const alterIsr = (req: AlterIsrRequest): Promise<{ response?: AlterIsrResponse; error?: QuireError }> =>
    new Promise((resolve) => {
      const callback: sendUnaryData<AlterIsrResponse> = (err, response) =>
        err === null ? resolve({ response: response! }) : resolve({ error: fromGrpcError(err as ServiceError, 'coordinator') });
      service.alterIsr({ request: req } as ServerUnaryCall<AlterIsrRequest, AlterIsrResponse>, callback);
    });
  const transferRequest = (over: Partial<CoordinationTransferLeaderRequest> = {}): CoordinationTransferLeaderRequest => ({
    keyspace: 'default',
    partitionId: 0,
    epoch: 5,
    leaderNodeId: 'n1',
    targetNodeId: 'n2',
    recordRevision: entry().modRevision,
    ...over,
  });
  /** Calls TransferLeader as gRPC would (`cancelled`: the caller gave up). */
  const transferLeader = (
    req: CoordinationTransferLeaderRequest,
    cancelled = false,
  ): Promise<{ response?: CoordinationTransferLeaderResponse; error?: QuireError }> =>
    new Promise((resolve) => {
      const callback: sendUnaryData<CoordinationTransferLeaderResponse> = (err, response) =>
        err === null ? resolve({ response: response! }) : resolve({ error: fromGrpcError(err as ServiceError, 'coordinator') });
      service.transferLeader(
        { request: req, cancelled, getDeadline: () => Number.POSITIVE_INFINITY } as unknown as ServerUnaryCall<CoordinationTransferLeaderRequest, CoordinationTransferLeaderResponse>,
        callback,
      );
    });
  return { view, writer, metrics, log, waits, entry, request, alterIsr, transferRequest, transferLeader };
}

describe('Coordination.AlterIsr', () => {
  it('writes the new ISR, in replicas order, comparing the record revision, and answers with the record and its new revision', async () => {
    const s = setup();
    const before = s.entry().modRevision;
    const { response, error } = await s.alterIsr(s.request({ isr: ['n3', 'n1', 'n2'] }));
    expect(error).toBeUndefined();
    const expected = { ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 5, isr: ['n1', 'n2', 'n3'] };
    expect(s.writer.calls).toHaveLength(1);
    expect(s.writer.calls[0]).toMatchObject([{ key: partitionKey('default', 0), expectedModRevision: before }]);
    expect(PartitionRecord.decode(s.writer.calls[0]![0]!.value!)).toEqual(expected);
    expect(response).toEqual({ record: expected, recordRevision: s.entry().modRevision, changed: true });
    expect(response!.recordRevision).toBeGreaterThan(before);
    expect(s.log.find('Partition ISR changed')[0]?.fields).toMatchObject({ keyspace: 'default', partitionId: 0, added: ['n3'], removed: [], isr: ['n1', 'n2', 'n3'] });
    expect(s.metrics.sum('quire_coordinator_isr_changes')).toBe(1);
    expect(s.metrics.sum('quire_coordinator_coordination_requests', { method: 'AlterIsr', code: 'OK' })).toBe(1);
  });

  it('answers changed=false without writing when the ISR asked for is the current one', async () => {
    const s = setup();
    const { response } = await s.alterIsr(s.request({ isr: ['n2', 'n1'] }));
    expect(response).toEqual({ record: s.entry().record, recordRevision: s.entry().modRevision, changed: false });
    expect(s.writer.calls).toEqual([]);
    expect(s.metrics.sum('quire_coordinator_isr_changes')).toBe(0);
  });

  it('refuses on a standby with NOT_LEADER naming the leader address, or COORDINATOR_UNAVAILABLE with no leader', async () => {
    const s = setup();
    s.writer.isLeader = false;
    const { error } = await s.alterIsr(s.request());
    expect(error?.code).toBe('NOT_LEADER');
    expect(error?.details).toMatchObject({ leaderHint: '10.0.0.9:7000', mapRevision: s.view.revision });
    expect(s.writer.calls).toEqual([]);
    expect(s.metrics.sum('quire_coordinator_coordination_requests', { method: 'AlterIsr', code: 'NOT_LEADER' })).toBe(1);

    const lone = setup();
    lone.writer.isLeader = false;
    applyToView(lone.view, [{ key: '/quire/v1/coordinator/leader', value: undefined }]);
    expect((await lone.alterIsr(lone.request())).error?.code).toBe('COORDINATOR_UNAVAILABLE');
  });

  it('refuses a request from another epoch with STALE_EPOCH naming the current epoch and leader', async () => {
    const s = setup();
    const { error } = await s.alterIsr(s.request({ epoch: 4 }));
    expect(error?.code).toBe('STALE_EPOCH');
    expect(error?.details).toMatchObject({ epoch: 5, leaderHint: 'n1', partitionId: 0 });
    expect(s.writer.calls).toEqual([]);
  });

  it('refuses a requester that does not lead the partition with NOT_LEADER naming the partition leader', async () => {
    const s = setup();
    const { error } = await s.alterIsr(s.request({ leaderNodeId: 'n2' }));
    expect(error?.code).toBe('NOT_LEADER');
    expect(error?.details).toMatchObject({ epoch: 5, leaderHint: 'n1' });
  });

  it('refuses a change computed from a stale record revision with CONDITION_FAILED and the current revision', async () => {
    const s = setup();
    const { error } = await s.alterIsr(s.request({ recordRevision: s.entry().modRevision - 1 }));
    expect(error?.code).toBe('CONDITION_FAILED');
    expect(error?.details.currentVersion).toBe(s.entry().modRevision);
    expect(s.writer.calls).toEqual([]);
  });

  it('answers CONDITION_FAILED with the new revision when the record moves between the check and the write', async () => {
    const s = setup();
    const req = s.request();
    let moved = 0;
    s.writer.next = () => {
      moved = applyToView(s.view, [{ key: partitionKey('default', 0), value: PartitionRecord.encode({ ...s.entry().record, isr: ['n1'] }).finish() }]);
      return { applied: false, revision: moved, reason: 'conflict' };
    };
    const { error } = await s.alterIsr(req);
    expect(error?.code).toBe('CONDITION_FAILED');
    expect(error?.details.currentVersion).toBe(moved);
    expect(s.waits).toContain(moved);
  });

  it('answers NOT_LEADER when the write finds another coordinator holds the term', async () => {
    const s = setup();
    s.writer.next = () => ({ applied: false, revision: s.view.revision, reason: 'term' });
    const { error } = await s.alterIsr(s.request());
    expect(error?.code).toBe('NOT_LEADER');
    expect(error?.details.leaderHint).toBe('10.0.0.9:7000');
  });

  it('waits for the view to reach a newer record revision the leader names before judging it', async () => {
    const s = setup();
    const { error } = await s.alterIsr(s.request({ recordRevision: s.view.revision + 5 }));
    expect(s.waits).toEqual([s.view.revision + 5]);
    expect(error?.code).toBe('CONDITION_FAILED');
  });

  it.each<[string, Partial<AlterIsrRequest>, string, string]>([
    ['an empty keyspace', { keyspace: '' }, 'INVALID_ARGUMENT', 'keyspace'],
    ['a malformed keyspace name', { keyspace: 'Not Valid!' }, 'INVALID_ARGUMENT', 'keyspace'],
    ['a keyspace that does not exist', { keyspace: 'other' }, 'WRONG_PARTITION', 'keyspace'],
    ['a partition id outside the keyspace', { partitionId: 2 }, 'INVALID_ARGUMENT', 'partition_id'],
    ['a partition that is not assigned', { partitionId: 1 }, 'WRONG_PARTITION', 'partition_id'],
    ['no requester', { leaderNodeId: '' }, 'INVALID_ARGUMENT', 'leader_node_id'],
    ['more ISR members than a partition can have', { isr: ['n1', 'a', 'b', 'c', 'd', 'e', 'f', 'g'] }, 'INVALID_ARGUMENT', 'isr'],
    ['an ISR without the leader', { isr: ['n2', 'n3'] }, 'INVALID_ARGUMENT', 'isr'],
  ])('refuses %s', async (_name, over, code, field) => {
    const s = setup();
    const { error } = await s.alterIsr(s.request(over));
    expect(error?.code).toBe(code);
    expect(error?.details.field).toBe(field);
    expect(s.writer.calls).toEqual([]);
  });
});

describe('Coordination.TransferLeader', () => {
  it('writes {leader: target, epoch + 1, isr unchanged} comparing the record revision, and answers with the record and its revision', async () => {
    const s = setup();
    const before = s.entry().modRevision;
    const { response, error } = await s.transferLeader(s.transferRequest());
    expect(error).toBeUndefined();
    const expected = { ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n2', epoch: 6, isr: ['n1', 'n2'] };
    expect(s.writer.calls).toHaveLength(1);
    expect(s.writer.calls[0]).toMatchObject([{ key: partitionKey('default', 0), expectedModRevision: before }]);
    expect(PartitionRecord.decode(s.writer.calls[0]![0]!.value!)).toEqual(expected);
    expect(response).toEqual({ record: expected, recordRevision: s.entry().modRevision });
    expect(s.log.find('Partition leadership transferred')[0]?.fields).toMatchObject({ oldLeader: 'n1', leader: 'n2', epoch: 6 });
    expect(s.metrics.sum('quire_coordinator_leader_transfers')).toBe(1);
    expect(s.metrics.sum('quire_coordinator_coordination_requests', { method: 'TransferLeader', code: 'OK' })).toBe(1);
  });

  it('tells a resend after the transfer applied that the epoch moved on (STALE_EPOCH naming the new leader)', async () => {
    const s = setup();
    const req = s.transferRequest();
    await s.transferLeader(req);
    const { error } = await s.transferLeader(req);
    expect(error?.code).toBe('STALE_EPOCH');
    expect(error?.details).toMatchObject({ epoch: 6, leaderHint: 'n2' });
    expect(s.writer.calls).toHaveLength(1);
  });

  it('writes nothing for a caller that has given up', async () => {
    const s = setup();
    const { error } = await s.transferLeader(s.transferRequest(), true);
    expect(error?.code).toBe('DEADLINE_EXCEEDED');
    expect(s.writer.calls).toEqual([]);
  });

  it('answers AMBIGUOUS_RESULT when the etcd transaction fails with an unknown outcome', async () => {
    const s = setup();
    s.writer.next = () => {
      throw new Error('etcd connection reset');
    };
    const { error } = await s.transferLeader(s.transferRequest());
    expect(error?.code).toBe('AMBIGUOUS_RESULT');
  });

  it('answers CONDITION_FAILED naming the current epoch and revision when the record moves between the check and the write', async () => {
    const s = setup();
    let moved = 0;
    s.writer.next = () => {
      moved = applyToView(s.view, [{ key: partitionKey('default', 0), value: PartitionRecord.encode({ ...s.entry().record, isr: ['n1', 'n2', 'n3'] }).finish() }]);
      return { applied: false, revision: moved, reason: 'conflict' };
    };
    const { error } = await s.transferLeader(s.transferRequest());
    expect(error?.code).toBe('CONDITION_FAILED');
    expect(error?.details).toMatchObject({ currentVersion: moved, epoch: 5, leaderHint: 'n1' });
  });

  it('refuses on a standby with NOT_LEADER naming the coordinator leader address (epoch 0)', async () => {
    const s = setup();
    s.writer.isLeader = false;
    const { error } = await s.transferLeader(s.transferRequest());
    expect(error?.code).toBe('NOT_LEADER');
    expect(error?.details.leaderHint).toBe('10.0.0.9:7000');
    expect(error?.details.epoch ?? 0).toBe(0);
  });

  it.each<[string, Partial<CoordinationTransferLeaderRequest>, string, string | undefined]>([
    ['an empty keyspace', { keyspace: '' }, 'INVALID_ARGUMENT', 'keyspace'],
    ['no requester', { leaderNodeId: '' }, 'INVALID_ARGUMENT', 'leader_node_id'],
    ['no target', { targetNodeId: '' }, 'INVALID_ARGUMENT', 'target_node_id'],
    ['a target outside the ISR', { targetNodeId: 'n3' }, 'INVALID_ARGUMENT', 'target_node_id'],
    ['a requester that does not lead', { leaderNodeId: 'n2', targetNodeId: 'n1' }, 'NOT_LEADER', undefined],
    ['another epoch', { epoch: 4 }, 'STALE_EPOCH', undefined],
    ['a stale record revision', { recordRevision: 1 }, 'CONDITION_FAILED', undefined],
    ['an unassigned partition', { partitionId: 1 }, 'WRONG_PARTITION', 'partition_id'],
  ])('refuses %s', async (_name, over, code, field) => {
    const s = setup();
    const { error } = await s.transferLeader(s.transferRequest(over));
    expect(error?.code).toBe(code);
    if (field !== undefined) expect(error?.details.field).toBe(field);
    expect(s.writer.calls).toEqual([]);
  });

  it('refuses a target that is not registered with PARTITION_UNAVAILABLE', async () => {
    const s = setup();
    applyToView(s.view, [{ key: '/quire/v1/nodes/n2', value: undefined }]);
    const { error } = await s.transferLeader(s.transferRequest({ recordRevision: s.entry().modRevision }));
    expect(error?.code).toBe('PARTITION_UNAVAILABLE');
    expect(s.writer.calls).toEqual([]);
  });
});
