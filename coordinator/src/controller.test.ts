import { describe, expect, it } from 'vitest';
import { AckPolicy, PartitionRecord } from '@quire/proto';
import { Failpoints, nodeKey, partitionKey, seededRng, type MetadataView } from '@quire/common';
import type { FencedChange, FencedResult } from '@quire/metastore';
import { ManualClock } from '../../common/src/testing/manual-clock.js';
import { applyToView, nodeRegistrationValue, viewOf, type ViewFixture } from '../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger, recordingMeter } from '../../runtime/src/testing/recorders.js';
import { CoordinatorController, placementTxnRecordsMax, type LogEndSource } from './controller.js';
import type { LogEnd } from './failover/index.js';

/** The key range of a HASH partition's record: none. */
const hash = { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined };

const term = 7;
const settings = {
  nodesMin: 1,
  defaultPartitions: 4,
  replicationFactor: 3,
  minIsr: 2,
  ackPolicy: AckPolicy.ACK_POLICY_SYNC,
  reconcileIntervalMs: 2_000,
  failoverLogEndDeadlineMs: 1_000,
  failoverRetryMs: 200,
  failoverPartitionsMax: 64,
  moves: { autoRebalance: false, nodeDeadAfterMs: 60_000, movesPerNodeMax: 2, catchUpTimeoutMs: 60_000, transferRetryMs: 1_000, leaderBalanceDelayMs: 30_000 },
};

/** Replica moves are not exercised here: no hand-over is ever asked for. */
const noHandOver = { handOver: () => Promise.reject(new Error('no hand-over in these tests')) };

/** A FencedWriter over the view: it applies a change when every expected revision holds, like etcd, unless told to refuse. */
class FakeWriter {
  readonly calls: { term: number; changes: readonly FencedChange[]; absentKeys: readonly string[] }[] = [];
  /** Answers to give instead of applying, in order; `beforeAnswer` runs first (e.g. to move the record). */
  readonly refusals: { result: (view: MetadataView) => FencedResult; beforeAnswer?: () => void }[] = [];

  constructor(private readonly view: MetadataView) {}

  apply(writerTerm: number, changes: readonly FencedChange[], absentKeys: readonly string[] = []): Promise<FencedResult> {
    this.calls.push({ term: writerTerm, changes, absentKeys });
    const refusal = this.refusals.shift();
    if (refusal !== undefined) {
      refusal.beforeAnswer?.();
      return Promise.resolve(refusal.result(this.view));
    }
    const conflict = changes.some((c) => modRevisionOf(this.view, c.key) !== c.expectedModRevision) || absentKeys.some((key) => this.view.nodes.has(key.slice(nodeKey('').length)));
    if (conflict) return Promise.resolve({ applied: false, revision: this.view.revision, reason: 'conflict' });
    return Promise.resolve({ applied: true, revision: applyToView(this.view, changes) });
  }

  /** The partition records written, decoded. */
  written(): PartitionRecord[] {
    return this.calls.flatMap((c) => c.changes.map((change) => PartitionRecord.decode(change.value!)));
  }
}

function modRevisionOf(view: MetadataView, key: string): number {
  for (const name of view.keyspaceNames()) {
    for (const entry of view.keyspace(name)?.partitions ?? []) {
      if (entry !== undefined && partitionKey(entry.record.keyspace, entry.record.partitionId) === key) return entry.modRevision;
    }
  }
  return 0;
}

/** Log ends by node id (undefined: no answer); `rttMs` moves the clock as each call is made. */
class FakeLogEnds implements LogEndSource {
  readonly calls: { nodeId: string; address: string; keyspace: string; partitionId: number; deadlineMs: number }[] = [];
  constructor(
    readonly answers: Map<string, LogEnd | undefined>,
    private readonly clock: ManualClock,
    private readonly rttMs = 0,
  ) {}

  logEnd(nodeId: string, address: string, keyspace: string, partitionId: number, deadlineMs: number): Promise<LogEnd | undefined> {
    this.calls.push({ nodeId, address, keyspace, partitionId, deadlineMs });
    this.clock.advance(this.rttMs);
    return Promise.resolve(this.answers.get(nodeId));
  }
}

const ends = (spec: Record<string, [epoch: number, index: number] | undefined>): Map<string, LogEnd | undefined> =>
  new Map(Object.entries(spec).map(([nodeId, e]) => [nodeId, e === undefined ? undefined : { epoch: e[0], index: e[1] }]));

/** A bootstrapped cluster with replicated `default` partitions, a controller elected with `term`, and its fakes. */
async function cluster(fixture: ViewFixture, answers: Map<string, LogEnd | undefined> = new Map(), rttMs = 0) {
  const view = viewOf({ cluster: true, replicationFactors: { default: 3 }, ...fixture });
  const clock = new ManualClock();
  const writer = new FakeWriter(view);
  const logEnds = new FakeLogEnds(answers, clock, rttMs);
  const log = new RecordingLogger();
  const metrics = recordingMeter();
  const waits: number[] = [];
  let fenced = 0;
  const controller = new CoordinatorController(settings, {
    view,
    watcher: {
      waitForRevision: (revision) => {
        waits.push(revision);
        return Promise.resolve(view.revision >= revision);
      },
    },
    writer,
    logEnds,
    clock,
    rng: seededRng(1),
    log,
    meter: metrics.meter,
    onFenced: () => {
      fenced++;
      controller.onDeposed();
    },
    failpoints: Failpoints.disabled(),
    handOver: noHandOver,
  });
  controller.onElected(term);
  await controller.idle();
  /** Removes node registrations (their leases expired) and lets the controller react. */
  const expire = async (...nodeIds: string[]): Promise<void> => {
    applyToView(view, nodeIds.map((nodeId) => ({ key: nodeKey(nodeId), value: undefined })));
    await controller.idle();
  };
  /** Registers nodes again. */
  const register = async (...nodeIds: string[]): Promise<void> => {
    applyToView(view, nodeIds.map((nodeId) => ({ key: nodeKey(nodeId), value: nodeRegistrationValue(nodeId, `10.0.0.1:${nodeId}`) })));
    await controller.idle();
  };
  /** Moves the clock (firing due retries) and waits for the reconciles it started. */
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await controller.idle();
  };
  return { view, clock, writer, logEnds, log, metrics, waits, controller, expire, register, advance, fenced: () => fenced };
}

const three = { replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] };
const live = ['n1', 'n2', 'n3'];
const entryOf = (view: MetadataView, id: number) => view.keyspace('default')!.partitions[id]!;

describe('CoordinatorController failover', () => {
  it('promotes the live ISR member with the longest log at epoch + 1, with ISR = the members that answered', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 4, ...three }], live }, ends({ n2: [4, 10], n3: [4, 12] }), 30);
    const before = entryOf(c.view, 0).modRevision;
    await c.expire('n1');

    expect(c.writer.calls).toHaveLength(1);
    expect(c.writer.calls[0]!.term).toBe(term);
    expect(c.writer.calls[0]!.changes).toMatchObject([{ key: partitionKey('default', 0), expectedModRevision: before }]);
    expect(c.writer.calls[0]!.absentKeys).toEqual([nodeKey('n1')]);
    expect(c.writer.written()).toEqual([{ ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n3', epoch: 5, isr: ['n2', 'n3'] }]);
    // Both live ISR members were asked, at their registered addresses, with the deadline setting.
    expect(c.logEnds.calls.map((call) => [call.nodeId, call.address, call.partitionId, call.deadlineMs])).toEqual([
      ['n2', '127.0.0.1:7101', 0, 1_000],
      ['n3', '127.0.0.1:7102', 0, 1_000],
    ]);
    expect(entryOf(c.view, 0).record).toMatchObject({ leader: 'n3', epoch: 5 });
    // It waited for the view to include its write before planning again.
    expect(c.waits).toContain(entryOf(c.view, 0).modRevision);
    const [line] = c.log.find('Partition leader failed over');
    expect(line?.fields).toMatchObject({ keyspace: 'default', partitionId: 0, oldLeader: 'n1', leader: 'n3', epoch: 5, isr: ['n2', 'n3'], logEndEpoch: 4, logEndIndex: 12, leaderMissingMs: 60 });
    expect(c.metrics.sum('quire_coordinator_failovers', { outcome: 'promoted' })).toBe(1);
    expect(c.metrics.measurements.get('quire_coordinator_failover_duration_ms')).toEqual([{ value: 60, attributes: {} }]);
  });

  it('drops ISR members that did not answer, and promotes among those that did', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 2, ...three }], live }, ends({ n2: undefined, n3: [1, 3] }));
    await c.expire('n1');
    expect(c.writer.written()).toEqual([{ ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n3', epoch: 3, isr: ['n3'] }]);
  });

  it('writes independent partitions in independent transactions, so a refused one does not block the others', async () => {
    const c = await cluster(
      {
        keyspaces: { default: 3 },
        partitions: [0, 1, 2].map((id) => ({ id, leader: 'n1', epoch: 1, ...three })),
        live,
      },
      ends({ n2: [1, 5], n3: [1, 4] }),
    );
    c.writer.refusals.push({ result: (view) => ({ applied: false, revision: view.revision, reason: 'conflict' }) });
    await c.expire('n1');
    // Three writes of one change each; the first was refused, so its partition was planned and written again.
    expect(c.writer.calls.every((call) => call.changes.length === 1)).toBe(true);
    expect(c.writer.calls).toHaveLength(4);
    expect([0, 1, 2].map((id) => entryOf(c.view, id).record)).toMatchObject([0, 1, 2].map(() => ({ leader: 'n2', epoch: 2, isr: ['n2', 'n3'] })));
    expect(c.metrics.sum('quire_coordinator_failovers', { outcome: 'promoted' })).toBe(3);
  });

  it('replans, without crashing, when a fenced write is refused because the record moved', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 4, ...three }], live }, ends({ n2: [4, 10], n3: [4, 12] }));
    const first = entryOf(c.view, 0).modRevision;
    // Between the plan and the write, another change of the record lands (an ISR change that drops n3).
    let moved = 0;
    c.writer.refusals.push({
      beforeAnswer: () => {
        moved = applyToView(c.view, [{ key: partitionKey('default', 0), value: PartitionRecord.encode({ ...entryOf(c.view, 0).record, isr: ['n1', 'n2'] }).finish() }]);
      },
      result: (view) => ({ applied: false, revision: view.revision, reason: 'conflict' }),
    });
    await c.expire('n1');

    expect(c.writer.calls.map((call) => call.changes[0]!.expectedModRevision)).toEqual([first, moved]);
    expect(c.writer.written()[1]).toMatchObject({ leader: 'n2', epoch: 5, isr: ['n2'] });
    expect(entryOf(c.view, 0).record).toMatchObject({ leader: 'n2', epoch: 5, isr: ['n2'] });
    expect(c.log.find('Partition changed while failing over; planning again')).toHaveLength(1);
    expect(c.fenced()).toBe(0);
  });

  it('promotes nobody when the old leader re-registers between the plan and the write', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 4, ...three }], live }, ends({ n2: [4, 10], n3: [4, 12] }));
    // etcd has the new registration when the write arrives; the view learns of it afterwards.
    c.writer.refusals.push({
      beforeAnswer: () => {
        applyToView(c.view, [{ key: nodeKey('n1'), value: nodeRegistrationValue('n1', '10.0.0.1:n1') }]);
      },
      result: (view) => ({ applied: false, revision: view.revision, reason: 'conflict' }),
    });
    await c.expire('n1');
    await c.advance(1_000);
    expect(c.writer.calls).toHaveLength(1);
    expect(entryOf(c.view, 0).record).toMatchObject({ leader: 'n1', epoch: 4 });
  });

  it('steps down once when concurrent failover writes find the term over', async () => {
    const c = await cluster(
      { keyspaces: { default: 2 }, partitions: [0, 1].map((id) => ({ id, leader: 'n1', ...three })), live },
      ends({ n2: [1, 1], n3: [1, 1] }),
    );
    const termLost = { result: (view: MetadataView): FencedResult => ({ applied: false, revision: view.revision, reason: 'term' }) };
    c.writer.refusals.push(termLost, termLost);
    await c.expire('n1');
    expect(c.fenced()).toBe(1);
    expect(c.controller.isLeader).toBe(false);
    expect(c.writer.calls).toHaveLength(2);
  });

  it('leaves a partition leaderless while no ISR member is live, logs it once, retries soon, and promotes when a member returns', async () => {
    const c = await cluster(
      { keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 3, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2'] }], live },
      ends({ n2: [3, 7], n3: [3, 99] }),
    );
    await c.expire('n1', 'n2');
    expect(c.writer.calls).toEqual([]);
    // n3 has the longest log but is outside the ISR: never asked, never promoted (no unclean election).
    expect(c.logEnds.calls).toEqual([]);
    const warned = c.log.find('Partition leader is gone and no ISR member can replace it');
    expect(warned).toHaveLength(1);
    expect(warned[0]!.fields).toMatchObject({ partitionId: 0, leader: 'n1', reason: 'no-live-isr-member', liveIsr: [] });
    expect(c.metrics.sum('quire_coordinator_failovers', { outcome: 'leaderless' })).toBe(1);

    // Retries every failoverRetryMs without logging again.
    await c.advance(200);
    await c.advance(200);
    expect(c.log.find('Partition leader is gone and no ISR member can replace it')).toHaveLength(1);

    await c.register('n2');
    expect(c.writer.written()).toEqual([{ ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n2', epoch: 4, isr: ['n2'] }]);
    expect(c.logEnds.calls.map((call) => call.address)).toEqual(['10.0.0.1:n2']);
  });

  it('asks again after failoverRetryMs while live ISR members do not answer', async () => {
    const answers = ends({});
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', ...three }], live }, answers);
    await c.expire('n1');
    expect(c.logEnds.calls).toHaveLength(2);
    expect(c.log.find('Partition leader is gone and no ISR member can replace it')[0]?.fields).toMatchObject({ reason: 'no-isr-member-answered', liveIsr: ['n2', 'n3'] });

    await c.advance(199);
    expect(c.logEnds.calls).toHaveLength(2);
    await c.advance(1);
    expect(c.logEnds.calls).toHaveLength(4);
    expect(c.writer.calls).toEqual([]);

    answers.set('n3', { epoch: 1, index: 2 });
    await c.advance(200);
    expect(c.writer.written()).toEqual([{ ...hash, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n3', epoch: 2, isr: ['n3'] }]);
    // Fixed: no more retries.
    const calls = c.logEnds.calls.length;
    await c.advance(1_000);
    expect(c.logEnds.calls).toHaveLength(calls);
  });

  it('leaves a leaderless partition alone when its old leader comes back', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', epoch: 3, ...three }], live });
    await c.expire('n1', 'n2', 'n3');
    await c.register('n1');
    await c.advance(1_000);
    expect(c.writer.calls).toEqual([]);
    expect(entryOf(c.view, 0).record).toMatchObject({ leader: 'n1', epoch: 3 });
  });

  it('does nothing while the leader is live, even with its followers gone', async () => {
    const c = await cluster({ keyspaces: { default: 2 }, partitions: [0, 1].map((id) => ({ id, leader: 'n1', ...three })), live }, ends({ n2: [1, 1], n3: [1, 1] }));
    await c.expire('n2', 'n3');
    await c.advance(2_000);
    expect(c.logEnds.calls).toEqual([]);
    expect(c.writer.calls).toEqual([]);
    expect(c.log.find('Partition leader is gone and no ISR member can replace it')).toEqual([]);
  });

  it('never fails over a partition with one replica', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, replicationFactors: { default: 1 }, partitions: [{ id: 0, leader: 'n1' }], live }, ends({ n2: [1, 1] }));
    await c.expire('n1');
    await c.advance(2_000);
    expect(c.logEnds.calls).toEqual([]);
    expect(c.writer.calls).toEqual([]);
    expect(c.log.find('Partition leader is gone and no ISR member can replace it')).toEqual([]);
    expect(entryOf(c.view, 0).record).toMatchObject({ leader: 'n1', epoch: 1 });
  });

  it('asks at most failoverPartitionsMax partitions per pass and reaches the rest in the next passes', async () => {
    const c = await cluster(
      { keyspaces: { default: 130 }, partitions: Array.from({ length: 130 }, (_, id) => ({ id, leader: 'n1', ...three })), live },
      ends({ n2: [1, 1], n3: [1, 2] }),
    );
    await c.expire('n1');
    expect(c.view.keyspace('default')!.partitions.every((entry) => entry?.record.leader === 'n3')).toBe(true);
    expect(c.logEnds.calls).toHaveLength(2 * 130);
  });

  it('acts only while elected', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', ...three }], live }, ends({ n2: [1, 1] }));
    c.controller.onDeposed();
    await c.expire('n1');
    await c.advance(2_000);
    expect(c.logEnds.calls).toEqual([]);
    expect(c.writer.calls).toEqual([]);
  });
});

describe('CoordinatorController applyFenced', () => {
  it('writes with the current term, and a standby writes nothing', async () => {
    const c = await cluster({ keyspaces: { default: 1 }, partitions: [{ id: 0, leader: 'n1', ...three }], live });
    const change = { key: partitionKey('default', 0), value: PartitionRecord.encode({ ...entryOf(c.view, 0).record, isr: ['n1', 'n2'] }).finish(), expectedModRevision: entryOf(c.view, 0).modRevision };
    await expect(c.controller.applyFenced([change])).resolves.toMatchObject({ applied: true });
    expect(c.writer.calls.map((call) => call.term)).toEqual([term]);
    c.controller.onDeposed();
    await expect(c.controller.applyFenced([change])).resolves.toMatchObject({ applied: false, reason: 'term' });
    expect(c.writer.calls).toHaveLength(1);
  });
});

describe('CoordinatorController bootstrap', () => {
  it.each([AckPolicy.ACK_POLICY_SYNC, AckPolicy.ACK_POLICY_SEMI_SYNC, AckPolicy.ACK_POLICY_ASYNC])('creates the default keyspace with the configured ack policy (%i)', async (ackPolicy) => {
    const view = viewOf({ keyspaces: {} });
    const controller = new CoordinatorController(
      { ...settings, ackPolicy },
      {
        view,
        watcher: { waitForRevision: (revision) => Promise.resolve(view.revision >= revision) },
        writer: new FakeWriter(view),
        logEnds: new FakeLogEnds(new Map(), new ManualClock(), 0),
        clock: new ManualClock(),
        rng: seededRng(1),
        log: new RecordingLogger(),
        meter: recordingMeter().meter,
        onFenced: () => undefined,
        failpoints: Failpoints.disabled(),
        handOver: noHandOver,
      },
    );
    controller.onElected(term);
    await controller.idle();
    controller.onDeposed();
    expect(view.cluster).toBeDefined();
    expect(view.keyspace('default')?.record).toMatchObject({ replicationFactor: 3, minIsr: 2, ackPolicy });
  });
});

describe('CoordinatorController placement', () => {
  it(`writes a large keyspace's records in transactions of at most ${placementTxnRecordsMax} (etcd refuses more than --max-txn-ops 128), planning again after each`, async () => {
    const { view, writer } = await cluster({ keyspaces: { default: 250 }, live });
    const sizes = writer.calls.map((c) => c.changes.length);
    expect(sizes).toEqual([100, 100, 50]);
    expect(writer.calls.every((c) => c.term === term)).toBe(true);
    const partitions = view.keyspace('default')!.partitions;
    expect(partitions.every((p) => p !== undefined && p.record.replicas.length === 3)).toBe(true);
    // Balanced as one plan would be: 250 × 3 replicas over 3 nodes, leaders within one.
    const leaders = new Map<string, number>();
    for (const p of partitions) leaders.set(p!.record.leader, (leaders.get(p!.record.leader) ?? 0) + 1);
    expect(Math.max(...leaders.values()) - Math.min(...leaders.values())).toBeLessThanOrEqual(1);
  });
});
