import { describe, expect, it } from 'vitest';
import { MoveRecord, PartitionRecord, type HandOverRequest, type HandOverResponse } from '@quire/proto';
import { Failpoints, drainKey, knownNodeKey, moveKey, nodeKey, partitionKey, type MetadataView } from '@quire/common';
import type { FencedChange, FencedResult } from '@quire/metastore';
import { ManualClock } from '../../common/src/testing/manual-clock.js';
import { applyToView, viewOf, type ViewFixture } from '../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger, recordingMeter } from '../../runtime/src/testing/recorders.js';
import { MoveExecutor, drainChange, moveHistoryMax, type MoveExecutorSettings } from './move-executor.js';
import type { HandOverSource } from './hand-over-client.js';

const term = 3;

/** The mod revision of any metadata key in the view (0: absent), as etcd would compare it. */
function modRevisionOf(view: MetadataView, key: string): number {
  for (const name of view.keyspaceNames()) {
    for (const entry of view.keyspace(name)?.partitions ?? []) {
      if (entry !== undefined && partitionKey(entry.record.keyspace, entry.record.partitionId) === key) return entry.modRevision;
    }
  }
  for (const [k, entry] of view.moves) if (moveKey(k.slice(0, k.lastIndexOf('/')), Number(k.slice(k.lastIndexOf('/') + 1))) === key) return entry.modRevision;
  for (const [k, entry] of view.moveHistory) if (k === key) return entry.modRevision;
  for (const [nodeId, entry] of view.drains) if (drainKey(nodeId) === key) return entry.modRevision;
  return 0;
}

/** A fenced writer over the view: applies when every expected revision holds, like etcd. */
class FakeWriter {
  readonly calls: FencedChange[][] = [];
  constructor(private readonly view: MetadataView) {}
  apply(_term: number, changes: readonly FencedChange[]): Promise<FencedResult> {
    this.calls.push([...changes]);
    if (changes.some((c) => c.expectedModRevision !== 'any' && modRevisionOf(this.view, c.key) !== c.expectedModRevision)) {
      return Promise.resolve({ applied: false, revision: this.view.revision, reason: 'conflict' });
    }
    return Promise.resolve({ applied: true, revision: applyToView(this.view, changes) });
  }
}

/** Hand-overs as the data node does them: it writes {leader: target, epoch + 1}. */
class FakeHandOver implements HandOverSource {
  readonly requests: HandOverRequest[] = [];
  constructor(private readonly view: MetadataView) {}
  handOver(_nodeId: string, _address: string, request: HandOverRequest): Promise<HandOverResponse> {
    this.requests.push(request);
    const entry = this.view.keyspace(request.keyspace)?.partitions[request.partitionId];
    if (entry === undefined) return Promise.reject(new Error('no partition'));
    const record = { ...entry.record, leader: request.targetNodeId, epoch: entry.record.epoch + 1 };
    const revision = applyToView(this.view, [{ key: partitionKey(record.keyspace, record.partitionId), value: PartitionRecord.encode(record).finish() }]);
    return Promise.resolve({ record, recordRevision: revision });
  }
}

const settings: MoveExecutorSettings = { catchUpTimeoutMs: 30_000, transferRetryMs: 5_000, movesPerNodeMax: 1, nodeDeadAfterMs: 60_000, autoRebalance: true, leaderBalanceDelayMs: 10_000 };

function setUp(fixture: ViewFixture, overrides: Partial<MoveExecutorSettings> = {}) {
  const view = viewOf({ cluster: true, ...fixture });
  const clock = new ManualClock();
  const writer = new FakeWriter(view);
  const handOver = new FakeHandOver(view);
  const log = new RecordingLogger();
  let kicks = 0;
  const make = (): MoveExecutor =>
    new MoveExecutor({ ...settings, ...overrides }, { view, clock, log, meter: recordingMeter().meter, writeFenced: (t, changes) => writer.apply(t, changes), handOver, kick: () => void kicks++, isLeader: () => true, failpoints: Failpoints.disabled() });
  /** The partition's leader admits every live replica to the ISR (what RFC 0001's AlterIsr does once they caught up). */
  const admitAll = (keyspace = 'default'): void => {
    for (const entry of view.keyspace(keyspace)?.partitions ?? []) {
      if (entry === undefined) continue;
      const isr = entry.record.replicas.filter((r) => view.nodes.has(r));
      if (isr.length === entry.record.isr.length) continue;
      applyToView(view, [{ key: partitionKey(keyspace, entry.record.partitionId), value: PartitionRecord.encode({ ...entry.record, isr }).finish() }]);
    }
  };
  /** Runs passes (admitting learners between them) until nothing is in flight or `passes` ran out. */
  const settle = async (executor: MoveExecutor, passes = 40): Promise<void> => {
    for (let i = 0; i < passes; i++) {
      await executor.reconcile(term, false);
      await Promise.resolve();
      admitAll();
      if (view.moves.size === 0 && executor.plan().length === 0) return;
    }
    throw new Error(`moves did not settle: ${JSON.stringify([...view.moves.values()].map((e) => e.record.move))}`);
  };
  const counts = (): Record<string, number> => {
    const held: Record<string, number> = {};
    for (const entry of view.keyspace('default')?.partitions ?? []) for (const r of entry?.record.replicas ?? []) held[r] = (held[r] ?? 0) + 1;
    return held;
  };
  return { view, clock, writer, handOver, log, make, admitAll, settle, counts, kicks: () => kicks };
}

/** Four partitions of replication 3 on n1..n3. */
const threeNodes = (extraLive: string[] = []): ViewFixture => ({
  keyspaces: { default: 4 },
  replicationFactors: { default: 3 },
  partitions: [0, 1, 2, 3].map((id) => ({ id, leader: `n${(id % 3) + 1}`, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] })),
  live: ['n1', 'n2', 'n3', ...extraLive],
});

describe('MoveExecutor', () => {
  it('adds the target as a learner together with the move record, in one fenced transaction', async () => {
    const t = setUp(threeNodes(['n4']));
    const { startedMoves } = await t.make().reconcile(term, false);
    expect(startedMoves).toHaveLength(1);
    const [first] = t.writer.calls;
    expect(first?.map((c) => c.key)).toEqual([partitionKey('default', startedMoves[0]!.partitionId), moveKey('default', startedMoves[0]!.partitionId)]);
    expect(first?.every((c) => c.expectedModRevision !== 'any')).toBe(true);
    const record = PartitionRecord.decode(first![0]!.value!);
    expect(record.replicas).toContain('n4');
    expect(record.isr).not.toContain('n4');
    expect(record.epoch).toBe(2);
    expect(MoveRecord.decode(first![1]!.value!).move).toMatchObject({ source: startedMoves[0]!.source, target: 'n4', reason: 'balance' });
  });

  it('waits while the learner catches up, removes the source once it is in the ISR, and records the finished move', async () => {
    const t = setUp(threeNodes(['n4']));
    const executor = t.make();
    await executor.reconcile(term, false);
    const moving = [...t.view.moves.values()][0]!.record.move!;
    await executor.reconcile(term, false);
    expect(t.view.keyspace('default')?.partitions[moving.partitionId]?.record.replicas).toContain(moving.source); // not in sync yet
    t.admitAll();
    await executor.reconcile(term, false);
    const record = t.view.keyspace('default')?.partitions[moving.partitionId]?.record;
    expect(record?.replicas).not.toContain(moving.source);
    expect(record?.isr).not.toContain(moving.source);
    await executor.reconcile(term, false);
    expect(t.view.moves.size).toBe(0);
    const history = [...t.view.moveHistory.values()].map((e) => e.record.move);
    expect(history).toEqual([expect.objectContaining({ partitionId: moving.partitionId, source: moving.source, target: 'n4', endedAtMs: expect.any(Number) as number })]);
  });

  it('balances 3 -> 4 nodes within one replica per node, one move per node at a time, handing over leaderships it moves', async () => {
    const t = setUp(threeNodes(['n4']));
    await t.settle(t.make());
    const counts = Object.values(t.counts());
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(t.counts().n4).toBeGreaterThanOrEqual(2);
    for (const entry of t.view.keyspace('default')?.partitions ?? []) expect(entry?.record.replicas).toHaveLength(3);
  });

  it('resumes a move recorded by an earlier leader from its recorded phase', async () => {
    const t = setUp(threeNodes(['n4']));
    await t.make().reconcile(term, false);
    const moving = [...t.view.moves.values()][0]!.record.move!;
    t.admitAll();
    const next = t.make(); // a new coordinator leader: no memory of the move
    await next.reconcile(term, false);
    expect(t.log.lines.some((l) => l.message === 'Resuming a replica move')).toBe(true);
    await next.reconcile(term, false);
    expect(t.view.keyspace('default')?.partitions[moving.partitionId]?.record.replicas).not.toContain(moving.source);
  });

  it('rolls a move back when the target goes down while catching up', async () => {
    const t = setUp(threeNodes(['n4']));
    const executor = t.make();
    await executor.reconcile(term, false);
    const moving = [...t.view.moves.values()][0]!.record.move!;
    applyToView(t.view, [{ key: nodeKey('n4'), value: undefined }]);
    await executor.reconcile(term, false);
    await executor.reconcile(term, false);
    expect(t.view.keyspace('default')?.partitions[moving.partitionId]?.record.replicas).toEqual(['n1', 'n2', 'n3']);
    expect([...t.view.moveHistory.values()][0]?.record.move).toMatchObject({ outcome: 'target n4 went down while catching up' });
  });

  it('drains a node: its replicas (leaderships included, handed over first) move away until it holds none', async () => {
    const t = setUp({ ...threeNodes(['n4']), partitions: [0, 1, 2, 3].map((id) => ({ id, leader: 'n1', replicas: ['n1', id % 2 === 0 ? 'n2' : 'n4', 'n3'], isr: ['n1', id % 2 === 0 ? 'n2' : 'n4', 'n3'] })) });
    applyToView(t.view, [drainChange('n1', 0)]);
    await t.settle(t.make(), 60);
    expect(t.counts().n1 ?? 0).toBe(0);
    expect(t.handOver.requests.length).toBeGreaterThan(0);
    for (const entry of t.view.keyspace('default')?.partitions ?? []) {
      expect(entry?.record.replicas).toHaveLength(3);
      expect(entry?.record.leader).not.toBe('n1');
    }
  });

  it('keeps a drained node that is down drained (it may restart), and forgets it once it is dead and holds nothing', async () => {
    const t = setUp({ ...threeNodes(), live: ['n1', 'n2', 'n3'], known: ['n9'] });
    applyToView(t.view, [drainChange('n9', 0)]);
    const executor = t.make();
    await executor.reconcile(term, false);
    expect(t.view.drains.has('n9')).toBe(true);
    t.clock.advance(60_000);
    await executor.reconcile(term, false);
    expect(t.view.drains.has('n9')).toBe(false);
    expect(t.view.knownNodes.has('n9')).toBe(false);
    expect(t.writer.calls.at(-1)?.map((c) => c.key)).toEqual([drainKey('n9'), knownNodeKey('n9')]);
  });

  it('waits for a node that is down for less than node-dead-after, then re-creates its replicas elsewhere', async () => {
    const t = setUp({ ...threeNodes(['n4']), partitions: [0, 1].map((id) => ({ id, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2'] })), keyspaces: { default: 2 } }, { movesPerNodeMax: 4 });
    applyToView(t.view, [{ key: nodeKey('n3'), value: undefined }]);
    const executor = t.make();
    await executor.reconcile(term, false);
    const sources = (): string[] => [...t.view.moves.values()].map((e) => `${e.record.move?.source}:${e.record.move?.reason}`);
    expect(sources().filter((m) => m.startsWith('n3'))).toEqual([]); // n3 may come back with its data
    t.clock.advance(60_000);
    await executor.reconcile(term, false);
    await t.settle(executor);
    expect(t.counts().n3 ?? 0).toBe(0);
    expect([...t.view.moveHistory.values()].map((e) => e.record.move?.reason)).toContain('repair');
    for (const entry of t.view.keyspace('default')?.partitions ?? []) expect(entry?.record.replicas).toHaveLength(3);
  });

  it('plans nothing by itself without auto-rebalance, and a requested pass plans', async () => {
    const t = setUp(threeNodes(['n4']), { autoRebalance: false });
    const executor = t.make();
    expect((await executor.reconcile(term, false)).startedMoves).toEqual([]);
    expect(executor.plan()).toHaveLength(1); // the throttle: n4 takes one move at a time
    expect((await executor.reconcile(term, true)).startedMoves).toHaveLength(1);
  });

  it('balances leaderships once they have been uneven for leaderBalanceDelayMs, handing over to in-sync replicas', async () => {
    const t = setUp({ ...threeNodes(), keyspaces: { default: 6 }, partitions: [0, 1, 2, 3, 4, 5].map((id) => ({ id, leader: 'n1', replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n2', 'n3'] })) }, { movesPerNodeMax: 2 });
    const executor = t.make();
    await executor.reconcile(term, false);
    expect(t.handOver.requests).toEqual([]); // not for the first 10 s: a restarted node may be catching up
    t.clock.advance(10_000);
    for (let i = 0; i < 6; i++) {
      await executor.reconcile(term, false);
      await Promise.resolve();
    }
    const leads = new Map<string, number>();
    for (const entry of t.view.keyspace('default')?.partitions ?? []) leads.set(entry!.record.leader, (leads.get(entry!.record.leader) ?? 0) + 1);
    expect(Object.fromEntries(leads)).toEqual({ n1: 2, n2: 2, n3: 2 });
    expect(t.handOver.requests).toHaveLength(4);
    expect(t.handOver.requests.every((r) => r.targetNodeId !== 'n1' && r.epoch === 1)).toBe(true);
  });

  it('keeps at most moveHistoryMax finished moves, deleting the oldest in the same transaction', async () => {
    const t = setUp(threeNodes(['n4']));
    const old = Array.from({ length: moveHistoryMax }, (_, i) => ({ key: `/quire/v1/move-history/${String(i).padStart(16, '0')}-default-0`, value: MoveRecord.encode({ move: undefined }).finish() }));
    applyToView(t.view, old);
    const executor = t.make();
    await executor.reconcile(term, false);
    t.admitAll();
    await executor.reconcile(term, false);
    await executor.reconcile(term, false);
    expect(t.view.moveHistory.size).toBe(moveHistoryMax);
    expect(t.view.moveHistory.has(old[0]!.key)).toBe(false);
  });
});
