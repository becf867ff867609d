import { describe, expect, it } from 'vitest';
import type { sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import { KeyspaceRecord, MovePhase, MoveRecord, PartitionRecord, type RequestSplitRequest, type RequestSplitResponse } from '@quire/proto';
import { defaultLimits, fromGrpcError, keyspaceKey, moveKey, partitionKey, type MetadataView, type QuireError } from '@quire/common';
import { RpcMetrics } from '@quire/runtime';
import type { FencedChange, FencedResult } from '@quire/metastore';
import { ManualClock } from '../../common/src/testing/manual-clock.js';
import { applyToView, viewOf } from '../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger, recordingMeter } from '../../runtime/src/testing/recorders.js';
import { createCoordinationService } from './server/coordination-service.js';
import { SplitWriter } from './split-writer.js';
import { addRangeKeyspace } from './testing/range-fixtures.js';

/** The mod revision of a key as etcd would compare it: partition and keyspace records from the view, 0 when absent. */
function modRevisionOf(view: MetadataView, key: string): number {
  for (const name of view.keyspaceNames()) {
    const ks = view.keyspace(name);
    if (ks === undefined) continue;
    if (keyspaceKey(name) === key) return ks.modRevision;
    for (const entry of ks.partitions) if (entry !== undefined && partitionKey(name, entry.record.partitionId) === key) return entry.modRevision;
  }
  return 0;
}

/** A fenced writer over the view that applies a change when every expected revision holds, like etcd; `before` runs first (a concurrent change). */
class FakeWriter {
  readonly calls: (readonly FencedChange[])[] = [];
  before: (() => void) | undefined;
  term = true;

  constructor(private readonly view: MetadataView) {}

  applyFenced(changes: readonly FencedChange[]): Promise<FencedResult> {
    this.calls.push(changes);
    const before = this.before;
    this.before = undefined;
    before?.();
    if (!this.term) return Promise.resolve({ applied: false, revision: this.view.revision, reason: 'term' });
    if (changes.some((c) => c.expectedModRevision !== 'any' && modRevisionOf(this.view, c.key) !== c.expectedModRevision)) {
      return Promise.resolve({ applied: false, revision: this.view.revision, reason: 'conflict' });
    }
    return Promise.resolve({ applied: true, revision: applyToView(this.view, changes) });
  }
}

/** Keyspace `r` created with split keys g and p on n1..n3 (R = 3), every partition led by n1 at epoch 4. */
function setup() {
  const view = viewOf({ cluster: true, coordinatorLeader: '10.0.0.9:7000', live: ['n1', 'n2', 'n3'] });
  const replicas = ['n1', 'n2', 'n3'];
  addRangeKeyspace(view, 'r', ['g', 'p'], [
    { id: 0, start: '', end: 'g', leader: 'n1', replicas, epoch: 4 },
    { id: 1, start: 'g', end: 'p', leader: 'n1', replicas, epoch: 4 },
    { id: 2, start: 'p', end: '', leader: 'n1', replicas, epoch: 4 },
  ], { replicationFactor: 3 });
  const writer = new FakeWriter(view);
  const metrics = recordingMeter();
  const log = new RecordingLogger();
  const splits = new SplitWriter({ view, watcher: { waitForRevision: (revision) => Promise.resolve(view.revision >= revision) }, writer, limits: defaultLimits, meter: metrics.meter, log });
  const entry = (id: number) => view.keyspace('r')!.partitions[id]!;
  /** The outcome of a split, as a value: the answer or the typed refusal. */
  const outcome = <T>(p: Promise<T>): Promise<{ done?: T; error?: QuireError }> => p.then((done) => ({ done }), (error: QuireError) => ({ error }));
  return { view, writer, metrics, log, splits, entry, outcome };
}

describe('SplitWriter', () => {
  it('writes the parent, the new partition and the keyspace record in one transaction, each compared at the revision planned from', async () => {
    const s = setup();
    const parentRevision = s.entry(1).modRevision;
    const keyspaceRevision = s.view.keyspace('r')!.modRevision;
    const done = await s.splits.split({ keyspace: 'r', at: Buffer.from('k'), partitionId: undefined }, 'manual');
    expect(s.writer.calls).toHaveLength(1);
    expect(s.writer.calls[0]!.map((c) => [c.key, c.expectedModRevision])).toEqual([
      [partitionKey('r', 1), parentRevision],
      [partitionKey('r', 3), 0],
      [keyspaceKey('r'), keyspaceRevision],
    ]);
    expect(PartitionRecord.decode(s.writer.calls[0]![0]!.value!)).toMatchObject({ partitionId: 1, epoch: 5, startKey: Buffer.from('g'), endKey: Buffer.from('k'), isr: ['n1', 'n2', 'n3'] });
    expect(PartitionRecord.decode(s.writer.calls[0]![1]!.value!)).toMatchObject({ partitionId: 3, epoch: 5, startKey: Buffer.from('k'), endKey: Buffer.from('p'), isr: ['n1'], splitFrom: { parentPartitionId: 1, parentEpoch: 5 } });
    expect(KeyspaceRecord.decode(s.writer.calls[0]![2]!.value!)).toMatchObject({ partitionCount: 4, splitKeys: [Buffer.from('g'), Buffer.from('p')] });
    expect(done).toMatchObject({ parent: { partitionId: 1, epoch: 5 }, child: { partitionId: 3 }, revision: s.view.revision });
    expect(s.view.keyspace('r')!.partitions.map((p) => p?.record.partitionId)).toEqual([0, 1, 2, 3]);
    expect(s.metrics.sum('quire_coordinator_splits', { reason: 'manual' })).toBe(1);
    expect(s.log.find('Partition split')[0]?.fields).toMatchObject({ keyspace: 'r', partitionId: 1, newPartitionId: 3, at: '"k"', epoch: 5, reason: 'manual' });
  });

  it('writes nothing for a refusal', async () => {
    const s = setup();
    const { error } = await s.outcome(s.splits.split({ keyspace: 'r', at: Buffer.from('g'), partitionId: undefined }, 'manual'));
    expect(error?.code).toBe('INVALID_ARGUMENT');
    expect(s.writer.calls).toEqual([]);
    expect(s.metrics.sum('quire_coordinator_splits')).toBe(0);
  });

  it('refuses a partition with a move in flight (a move record in the view)', async () => {
    const s = setup();
    const move = { keyspace: 'r', partitionId: 1, source: 'n3', target: 'n4', phase: MovePhase.MOVE_PHASE_CATCHING_UP, reason: 'balance', startedAtMs: 0, endedAtMs: 0, outcome: '' };
    applyToView(s.view, [{ key: moveKey('r', 1), value: MoveRecord.encode({ move }).finish() }]);
    const { error } = await s.outcome(s.splits.split({ keyspace: 'r', at: Buffer.from('k'), partitionId: undefined }, 'manual'));
    expect(error?.code).toBe('FAILED_PRECONDITION');
    expect(s.writer.calls).toEqual([]);
  });

  it('plans again from the caught-up view when the parent changed under the write, keeping what changed', async () => {
    const s = setup();
    // An ISR change lands between the plan and the write.
    s.writer.before = () => {
      const record = { ...s.entry(1).record, isr: ['n1', 'n2'] };
      applyToView(s.view, [{ key: partitionKey('r', 1), value: PartitionRecord.encode(record).finish() }]);
    };
    const done = await s.splits.split({ keyspace: 'r', at: Buffer.from('k'), partitionId: undefined }, 'manual');
    expect(s.writer.calls).toHaveLength(2);
    expect(done.parent).toMatchObject({ isr: ['n1', 'n2'], epoch: 5, endKey: Buffer.from('k') });
    expect(s.log.find('A record changed while a split was written; planning it again')).toHaveLength(1);
  });

  it('answers NOT_LEADER, writing nothing, when another coordinator holds the term', async () => {
    const s = setup();
    s.writer.term = false;
    const { error } = await s.outcome(s.splits.split({ keyspace: 'r', at: Buffer.from('k'), partitionId: undefined }, 'manual'));
    expect(error?.code).toBe('NOT_LEADER');
    expect(error?.details.leaderHint).toBe('10.0.0.9:7000');
    expect(s.view.keyspace('r')!.record.partitionCount).toBe(3);
  });

  it('judges concurrent splits of one keyspace one at a time: each gets the next id', async () => {
    const s = setup();
    const [a, b] = await Promise.all([
      s.splits.split({ keyspace: 'r', at: Buffer.from('k'), partitionId: undefined }, 'manual'),
      s.splits.split({ keyspace: 'r', at: Buffer.from('c'), partitionId: undefined }, 'manual'),
    ]);
    expect([a.child.partitionId, b.child.partitionId]).toEqual([3, 4]);
    expect(s.writer.calls).toHaveLength(2);
    expect(s.view.keyspace('r')!.partitions.map((p) => [p!.record.startKey.toString(), p!.record.endKey.toString()])).toEqual([
      ['', 'c'],
      ['g', 'k'],
      ['p', ''],
      ['k', 'p'],
      ['c', 'g'],
    ]);
  });
});

describe('Coordination.RequestSplit', () => {
  function service() {
    const s = setup();
    const metrics = recordingMeter();
    const coordination = createCoordinationService({
      view: s.view,
      watcher: { waitForRevision: () => Promise.resolve(true) },
      writer: { isLeader: true, applyFenced: () => Promise.reject(new Error('RequestSplit writes through the SplitWriter')) },
      limits: defaultLimits,
      metrics: new RpcMetrics(metrics.meter, 'coordinator', 'coordination'),
      meter: metrics.meter,
      clock: new ManualClock(),
      log: s.log,
      splits: s.splits,
    });
    const request = (over: Partial<RequestSplitRequest> = {}): RequestSplitRequest => ({ keyspace: 'r', partitionId: 1, epoch: 4, leaderNodeId: 'n1', splitKey: Buffer.from('k'), reason: 'size', ...over });
    const call = (req: RequestSplitRequest): Promise<{ response?: RequestSplitResponse; error?: QuireError }> =>
      new Promise((resolve) => {
        const callback: sendUnaryData<RequestSplitResponse> = (err, response) =>
          err === null ? resolve({ response: response! }) : resolve({ error: fromGrpcError(err as ServiceError, 'coordinator') });
        coordination.requestSplit({ request: req, cancelled: false, getDeadline: () => Number.POSITIVE_INFINITY } as unknown as ServerUnaryCall<RequestSplitRequest, RequestSplitResponse>, callback);
      });
    return { ...s, request, call };
  }

  it('splits at the leader\'s key and answers the new partition and the epoch, counted by reason', async () => {
    const s = service();
    const { response, error } = await s.call(s.request({ reason: 'load' }));
    expect(error).toBeUndefined();
    expect(response).toEqual({ rightPartitionId: 3, epoch: 5 });
    expect(s.metrics.sum('quire_coordinator_splits', { reason: 'load' })).toBe(1);
  });

  it.each<[name: string, over: Partial<RequestSplitRequest>, code: string, field: string | undefined]>([
    ['a requester at another epoch: STALE_EPOCH', { epoch: 3 }, 'STALE_EPOCH', undefined],
    ['a requester that does not lead: NOT_LEADER', { leaderNodeId: 'n2' }, 'NOT_LEADER', undefined],
    ['a split key outside the partition', { splitKey: Buffer.from('z') }, 'INVALID_ARGUMENT', 'split_key'],
    ['an empty split key', { splitKey: Buffer.alloc(0) }, 'INVALID_ARGUMENT', 'split_key'],
    ['an unknown reason', { reason: 'whim' }, 'INVALID_ARGUMENT', 'reason'],
    ['no keyspace', { keyspace: '' }, 'INVALID_ARGUMENT', 'keyspace'],
    ['no requester', { leaderNodeId: '' }, 'INVALID_ARGUMENT', 'leader_node_id'],
    ['a keyspace that does not exist', { keyspace: 'nope' }, 'KEYSPACE_NOT_FOUND', 'keyspace'],
  ])('refuses %s, writing nothing', async (_name, over, code, field) => {
    const s = service();
    const { error } = await s.call(s.request(over));
    expect(error?.code).toBe(code);
    if (field !== undefined) expect(error?.details.field).toBe(field);
    expect(s.writer.calls).toEqual([]);
  });
});
