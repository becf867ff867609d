/**
 * DataNode across replica-set changes (RFC 0003 "Data node side (step 2)"), in one process: each
 * node has its own storage engine on a temp dir, all share one metadata view that the test edits
 * as the coordinator would write the partition records, and leaders reach followers through
 * in-process links that hand each message to the follower's FollowerHandler (the test can hold a
 * link's messages to keep writes waiting). What it proves:
 *  - a replica the view no longer gives the node is deleted (data, log, meta), its requests are
 *    refused with routing errors, and a fresh empty replica opens when the view gives it back,
 *    which the leader re-seeds; nothing is deleted on a view that is not this node's cluster or
 *    does not hold its registration; at start-up partitions stored on disk but not given to the
 *    node are deleted;
 *  - the replicated flag follows the replica set: a learner added to a one-replica partition
 *    (semi-sync) stops no write, and a write waiting for a follower that the record drops is
 *    answered once durable on the sole replica;
 *  - an epoch bump that keeps the leader (a follower added) acknowledges the writes the old
 *    tenure left waiting: answered OK, never AMBIGUOUS_RESULT, and new writes go on;
 *  - the follower progress a leader reports (Replication.GetFollowerProgress) carries the snapshot
 *    it serves to a follower while it serves it, and quire_datanode_snapshot_bytes_sent counts it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AckPolicy,
  KeyspaceRecord,
  PartitionRecord,
  PartitionScheme,
  type AlterIsrRequest,
  type AlterIsrResponse,
  type FollowerMessage,
  type LeaderMessage,
  type NodeOperation,
  type OperationResult,
} from '@quire/proto';
import { Failpoints, defaultLimits, keyspaceKey, nodeKey, partitionKey, systemClock, type MetadataView } from '@quire/common';
import { applyToView, nodeRegistrationValue, viewOf } from '../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger, recordingMeter, type RecordingMeter } from '../../runtime/src/testing/recorders.js';
import { DataNode, type DataNodeSettings } from './node.js';
import type { PeerLink, PeerLinkEvents } from './replicate/peer-link.js';
import { openLmdbEngine } from './storage/lmdb-engine.js';
import { openWalEngine } from './storage/wal-engine.js';
import { LogEntryKind, encodeLogEntry } from './storage/codec.js';
import type { StorageEngine } from './storage/engine.js';

type EngineKind = 'lmdb' | 'wal';

/** A leader's link to a follower node, delivering in process; `held` keeps messages until released. */
class LoopLink {
  held = false;
  private queue: LeaderMessage[] = [];
  closed = false;

  constructor(
    private readonly from: string,
    private readonly to: string,
    private readonly events: PeerLinkEvents,
    private readonly cluster: TestCluster,
  ) {}

  get ready(): boolean {
    return !this.closed;
  }

  setAddress(): void {
    setImmediate(() => {
      if (!this.closed) this.events.connected();
    });
  }

  send(messages: LeaderMessage[]): boolean {
    if (this.closed) return false;
    this.queue.push(...messages);
    this.deliverSoon();
    return true;
  }

  release(): void {
    this.held = false;
    this.deliverSoon();
  }

  close(): void {
    this.closed = true;
  }

  private deliverSoon(): void {
    setImmediate(() => {
      if (this.held || this.closed) return;
      const target = this.cluster.nodes.get(this.to);
      if (target === undefined) {
        // The follower node is still starting (its engine opens asynchronously).
        setTimeout(() => this.deliverSoon(), 5);
        return;
      }
      const messages = this.queue;
      this.queue = [];
      for (const m of messages) target.follower.handle(this.from, m, (answer: FollowerMessage) => setImmediate(() => !this.closed && this.events.messages([answer])));
    });
  }
}

/** Nodes over one view; the test plays the coordinator by editing the view. */
class TestCluster {
  readonly nodes = new Map<string, DataNode>();
  readonly engines = new Map<string, StorageEngine>();
  readonly logs = new Map<string, RecordingLogger>();
  readonly meters = new Map<string, RecordingMeter>();
  readonly links: LoopLink[] = [];
  readonly dirs: string[] = [];
  bound = 'test-cluster';
  /** --partitions-max of the nodes started from now on (engine and DataNode alike). */
  partitionsMax = 8;

  constructor(
    readonly view: MetadataView,
    private readonly kind: EngineKind,
  ) {}

  async openEngine(nodeId: string, dir?: string): Promise<StorageEngine> {
    const at = dir ?? mkdtempSync(join(tmpdir(), `quire-node-${nodeId}-`));
    if (dir === undefined) this.dirs.push(at);
    const engine =
      this.kind === 'lmdb'
        ? openLmdbEngine({ path: join(at, 'lmdb'), partitionsMax: this.partitionsMax })
        : await openWalEngine({ lmdbPath: join(at, 'lmdb'), walDir: join(at, 'wal'), partitionsMax: this.partitionsMax, segmentBytes: 64 * 1024, applyIntervalMs: 2 });
    this.engines.set(nodeId, engine);
    return engine;
  }

  /** Starts node `nodeId` over `engine` (a new one when absent) and opens what the view gives it. */
  async start(nodeId: string, engine?: StorageEngine): Promise<DataNode> {
    const log = new RecordingLogger();
    const meter = recordingMeter();
    const node = new DataNode(settings(nodeId, this.partitionsMax), {
      engine: engine ?? (await this.openEngine(nodeId)),
      view: this.view,
      clock: systemClock,
      log,
      // The recording meter records counters; the node's batch gauges are not asserted here.
      meter: Object.assign(Object.create(meter.meter) as typeof meter.meter, { addBatchObservableCallback: () => undefined }),
      schedule: setImmediate,
      onFatal: (err) => {
        throw err;
      },
      failpoints: Failpoints.disabled(),
      boundClusterId: () => this.bound,
      alterIsr: async (_address, request) => this.alterIsr(request),
      createLink: (target, events) => {
        const link = new LoopLink(nodeId, target, events, this);
        this.links.push(link);
        return link as unknown as PeerLink;
      },
    });
    this.nodes.set(nodeId, node);
    this.logs.set(nodeId, log);
    this.meters.set(nodeId, meter);
    this.view.subscribe(() => node.openOwnedPartitions());
    node.openOwnedPartitions();
    return node;
  }

  /** What the coordinator does with an AlterIsr: writes the ISR (same epoch) and answers the new record. */
  alterIsr(request: AlterIsrRequest): AlterIsrResponse {
    const entry = this.view.keyspace(request.keyspace)?.partitions[request.partitionId];
    if (entry === undefined || entry.record.epoch !== request.epoch || entry.modRevision !== request.recordRevision) throw new Error('AlterIsr refused');
    const record = { ...entry.record, isr: entry.record.replicas.filter((n) => request.isr.includes(n)) };
    const recordRevision = applyToView(this.view, [{ key: partitionKey(request.keyspace, request.partitionId), value: PartitionRecord.encode(record).finish() }]);
    return { record, recordRevision, changed: true };
  }

  /** Writes a partition record as a fenced coordinator write would. */
  setRecord(keyspace: string, partitionId: number, record: { replicas: string[]; leader: string; epoch: number; isr: string[] }): void {
    applyToView(this.view, [{ key: partitionKey(keyspace, partitionId), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace, partitionId, ...record }).finish() }]);
  }

  linksTo(target: string): LoopLink[] {
    return this.links.filter((l) => !l.closed && (l as unknown as { to: string }).to === target);
  }

  async stop(): Promise<void> {
    for (const node of this.nodes.values()) await node.stop();
    for (const engine of this.engines.values()) await engine.close();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function settings(nodeId: string, partitionsMax: number): DataNodeSettings {
  return {
    nodeId,
    limits: defaultLimits,
    partitionsMax,
    writeQueueOpsMax: 1024,
    writeBatchOpsMax: 64,
    logRetainEntries: 10_000,
    pendingEntriesMax: 1024,
    pendingBytesMax: 1 << 24,
    dedupWindowMs: 60_000,
    dedupEntriesMax: 4096,
    scanChunkKeysMax: 512,
    scanChunkBytesMax: 1 << 20,
    isrLagTimeMs: 2_000,
    followerSilenceMs: 60_000,
    newReplicaSnapshotEntries: 1000,
    followerReads: { sessionReadWaitMs: 100, sessionReadWaitersMax: 16 },
  };
}

let nextOpId = 1;

/** Runs one operation on `node`; resolves with its result. */
function run(node: DataNode, partitionId: number, op: NodeOperation['op'], keyspace = 'default'): Promise<OperationResult['result']> {
  const withKeyspace = op === undefined ? undefined : ({ ...op, value: { ...op.value, keyspace } } as NodeOperation['op']);
  return new Promise((resolve) => node.execute({ id: nextOpId++, partitionId, epoch: 0, mapRevision: 0, op: withKeyspace, minIndex: 0, traceparent: '' }, (r) => resolve(r.result)));
}

const put = (node: DataNode, partitionId: number, key: string, value: string, keyspace = 'default') =>
  run(node, partitionId, { $case: 'put', value: { keyspace, key: Buffer.from(key), value: Buffer.from(value), expectedVersion: undefined, requestId: Buffer.alloc(0) } }, keyspace);
const get = (node: DataNode, partitionId: number, key: string, keyspace = 'default') =>
  run(node, partitionId, { $case: 'get', value: { keyspace, key: Buffer.from(key), consistency: 0, session: [], maxStalenessMs: 0 } }, keyspace);

const codeOf = (result: OperationResult['result']): string => (result?.$case === 'error' ? result.value.code : 'OK');
const valueOf = (result: OperationResult['result']): string | undefined => (result?.$case === 'get' && result.value.found ? result.value.value.toString() : undefined);

/** Polls `condition` every 5 ms for up to 5 s. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const stored = (c: TestCluster, nodeId: string): string[] =>
  (c.engines.get(nodeId)?.storedPartitions() ?? []).map((p) => `${p.keyspace}/${p.partitionId}`).sort();

describe.each(['lmdb', 'wal'] as const)('DataNode replica-set changes (%s engine)', (kind) => {
  let c: TestCluster;
  beforeEach(() => {
    c = new TestCluster(viewOf({ keyspaces: { default: 2 }, partitions: [{ id: 0, leader: 'n1' }, { id: 1, leader: 'n1' }], live: ['n1', 'n2', 'n3'], cluster: true, coordinatorLeader: '127.0.0.1:7000' }), kind);
  });
  afterEach(async () => {
    await c.stop();
  });

  it('deletes a replica the view no longer gives it, refuses its requests with routing errors, and opens a fresh one when given it back', async () => {
    const n1 = await c.start('n1');
    const n2 = await c.start('n2');
    for (let i = 0; i < 20; i++) expect(codeOf(await put(n1, 0, `k${i}`, `v${i}`))).toBe('OK');
    expect(codeOf(await put(n1, 1, 'other', 'kept'))).toBe('OK');
    // A move to n2: learner first, then leadership, then n1 removed.
    c.setRecord('default', 0, { replicas: ['n1', 'n2'], leader: 'n1', epoch: 2, isr: ['n1'] });
    await until('n2 in the ISR', () => c.view.keyspace('default')?.partitions[0]?.record.isr.includes('n2') === true);
    await until('n2 holding every entry', async () => valueOf(await get(n1, 0, 'k19')) === 'v19' && n2.logEnd('default', 0).durableIndex === 20);
    c.setRecord('default', 0, { replicas: ['n1', 'n2'], leader: 'n2', epoch: 3, isr: ['n1', 'n2'] });
    c.setRecord('default', 0, { replicas: ['n2'], leader: 'n2', epoch: 4, isr: ['n2'] });
    await until('the deletion on n1', () => (c.logs.get('n1')?.find('Deleted partition replica').length ?? 0) === 1);
    expect(c.logs.get('n1')?.find('Deleted partition replica')[0]?.fields).toMatchObject({ keyspace: 'default', partitionId: 0, reason: 'not-a-replica' });
    expect(c.meters.get('n1')?.sum('quire_datanode_replicas_deleted')).toBe(1);
    expect(stored(c, 'n1')).toEqual(['default/1']);
    expect(codeOf(await get(n1, 0, 'k1'))).toBe('WRONG_PARTITION');
    expect(codeOf(await put(n1, 0, 'k1', 'x'))).toBe('WRONG_PARTITION');
    expect(valueOf(await get(n1, 1, 'other'))).toBe('kept');
    // n2, now the sole replica, serves everything.
    expect(valueOf(await get(n2, 0, 'k7'))).toBe('v7');
    expect(codeOf(await put(n2, 0, 'after', 'move'))).toBe('OK');

    // Given back (a learner again): a fresh, empty replica, which the leader re-seeds from its log.
    c.setRecord('default', 0, { replicas: ['n2', 'n1'], leader: 'n2', epoch: 5, isr: ['n2'] });
    await until('n1 re-seeded', () => n1.logEnd('default', 0).durableIndex === 21);
    expect(c.logs.get('n1')?.find('Opened partition replica').filter((l) => l.fields['partitionId'] === 0).at(-1)?.fields).toMatchObject({ appliedIndex: 0, logEndIndex: 0 });
    await until('n1 back in the ISR', () => c.view.keyspace('default')?.partitions[0]?.record.isr.includes('n1') === true);
  });

  it('on a full node, a replica given in the view change that takes another away opens once that one is deleted', async () => {
    // n1 holds its --partitions-max of 2; one view change moves default/0 to n2 and gives n1 a learner of other/0.
    c.partitionsMax = 2;
    const n1 = await c.start('n1');
    const n2 = await c.start('n2');
    expect(codeOf(await put(n1, 0, 'k', 'v'))).toBe('OK');
    applyToView(c.view, [
      { key: keyspaceKey('other'), value: KeyspaceRecord.encode({ splitKeys: [], name: 'other', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 1, replicationFactor: 1, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 1 }).finish() },
      { key: partitionKey('other', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'other', partitionId: 0, replicas: ['n2'], leader: 'n2', epoch: 1, isr: ['n2'] }).finish() },
    ]);
    expect(codeOf(await put(n2, 0, 'o', '1', 'other'))).toBe('OK');
    applyToView(c.view, [
      { key: partitionKey('default', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId: 0, replicas: ['n2'], leader: 'n2', epoch: 2, isr: ['n2'] }).finish() },
      { key: partitionKey('other', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'other', partitionId: 0, replicas: ['n2', 'n1'], leader: 'n2', epoch: 2, isr: ['n2'] }).finish() },
    ]);
    await until('n1 holding other/0 after deleting default/0', () => stored(c, 'n1').join() === 'default/1,other/0');
    await until('n1 in the ISR of other/0', () => c.view.keyspace('other')?.partitions[0]?.record.isr.includes('n1') === true);
    expect(c.logs.get('n1')?.find('Deleted partition replica').map((l) => `${String(l.fields['keyspace'])}/${String(l.fields['partitionId'])}`)).toEqual(['default/0']);
  });

  it('deletes nothing on a view of another cluster or without its own registration, and deletes at start-up what is on disk but not given to it', async () => {
    const engine = await c.openEngine('n1');
    // Partitions on disk from before: default/1 (which the view gives n1), default/3 (beyond the keyspace), gone/0 (no such keyspace).
    for (const [keyspace, id] of [['default', 1], ['default', 3], ['gone', 0]] as const) {
      const p = engine.partition(keyspace, id);
      await engine.write(() => {
        p.appendLog(1, encodeLogEntry(LogEntryKind.Put, 1, Buffer.from('k'), Buffer.from('v')));
        p.setLeaderTenure(1);
      });
    }
    c.bound = 'another-cluster';
    await c.start('n1', engine);
    await new Promise((r) => setTimeout(r, 50));
    expect(stored(c, 'n1')).toEqual(['default/0', 'default/1', 'default/3', 'gone/0']);
    // Its own registration gone (lease lost): still nothing, even on the right cluster.
    c.bound = 'test-cluster';
    applyToView(c.view, [{ key: nodeKey('n1'), value: undefined }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(stored(c, 'n1')).toEqual(['default/0', 'default/1', 'default/3', 'gone/0']);
    // Registered again: the view is sane, and what it does not give n1 goes.
    applyToView(c.view, [{ key: nodeKey('n1'), value: nodeRegistrationValue('n1', '127.0.0.1:7100') }]);
    await until('two deletions', () => (c.logs.get('n1')?.find('Deleted partition replica').length ?? 0) === 2);
    expect(stored(c, 'n1')).toEqual(['default/0', 'default/1']);
    const reasons = c.logs.get('n1')?.find('Deleted partition replica').map((l) => `${String(l.fields['keyspace'])}/${String(l.fields['partitionId'])}:${String(l.fields['reason'])}`).sort();
    expect(reasons).toEqual(['default/3:partition-gone', 'gone/0:keyspace-gone']);
  });

  it('a learner added to a one-replica semi-sync partition stops no write, and a write waiting for a follower the record drops is answered once durable', async () => {
    applyToView(c.view, [
      {
        key: keyspaceKey('solo'),
        value: KeyspaceRecord.encode({ splitKeys: [], name: 'solo', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 1, replicationFactor: 1, ackPolicy: AckPolicy.ACK_POLICY_SEMI_SYNC, minIsr: 1 }).finish(),
      },
      { key: partitionKey('solo', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'solo', partitionId: 0, replicas: ['n1'], leader: 'n1', epoch: 1, isr: ['n1'] }).finish() },
    ]);
    const n1 = await c.start('n1');
    const n2 = await c.start('n2');
    expect(codeOf(await put(n1, 0, 'a', '1', 'solo'))).toBe('OK');
    // Hold n2's messages: the learner acknowledges nothing, and still writes are acknowledged by n1 alone.
    c.setRecord('solo', 0, { replicas: ['n1', 'n2'], leader: 'n1', epoch: 2, isr: ['n1'] });
    for (const link of c.linksTo('n2')) link.held = true;
    expect(codeOf(await put(n1, 0, 'b', '2', 'solo'))).toBe('OK');
    expect(valueOf(await get(n1, 0, 'b', 'solo'))).toBe('2');
    for (const link of c.linksTo('n2')) link.release();
    await until('n2 in the ISR', () => c.view.keyspace('solo')?.partitions[0]?.record.isr.includes('n2') === true);
    // Semi-sync with an ISR follower waits for it: hold n2 again, and the write waits...
    for (const link of c.linksTo('n2')) link.held = true;
    let answered: OperationResult['result'] | undefined;
    void put(n1, 0, 'c', '3', 'solo').then((r) => (answered = r));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBeUndefined();
    // ...until the record drops n2: n1 alone holds the partition, and its durable write is acknowledged.
    c.setRecord('solo', 0, { replicas: ['n1'], leader: 'n1', epoch: 3, isr: ['n1'] });
    await until('the waiting write answered', () => answered !== undefined);
    expect(codeOf(answered)).toBe('OK');
    expect(valueOf(await get(n1, 0, 'c', 'solo'))).toBe('3');
    expect(codeOf(await put(n1, 0, 'd', '4', 'solo'))).toBe('OK');
    await until('n2 deleted its replica', () => !stored(c, 'n2').includes('solo/0'));
    expect(codeOf(await get(n2, 0, 'a', 'solo'))).toBe('WRONG_PARTITION');
  });

  it('an epoch bump that keeps the leader (a follower added) acknowledges the writes the old tenure left waiting, and new writes go on', async () => {
    c.setRecord('default', 0, { replicas: ['n1', 'n2'], leader: 'n1', epoch: 2, isr: ['n1', 'n2'] });
    const n1 = await c.start('n1');
    await c.start('n2');
    await c.start('n3');
    expect(codeOf(await put(n1, 0, 'a', '1'))).toBe('OK');
    // n2 stops answering: sync writes wait for it.
    for (const link of c.linksTo('n2')) link.held = true;
    const waiting = Array.from({ length: 10 }, (_, i) => put(n1, 0, `w${i}`, `${i}`));
    const results: OperationResult['result'][] = [];
    for (const p of waiting) void p.then((r) => results.push(r));
    await new Promise((r) => setTimeout(r, 50));
    expect(results).toEqual([]);
    // The coordinator adds n3 as a learner: epoch + 1, same leader, same ISR.
    c.setRecord('default', 0, { replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 3, isr: ['n1', 'n2'] });
    // The same process led the epoch before: reads go on at once, and see nothing unacknowledged.
    expect(valueOf(await get(n1, 0, 'a'))).toBe('1');
    expect(valueOf(await get(n1, 0, 'w0'))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(results).toEqual([]);
    for (const link of c.linksTo('n2')) link.release();
    await until('the waiting writes answered', () => results.length === 10);
    expect(results.map(codeOf)).toEqual(Array.from({ length: 10 }, () => 'OK'));
    expect(c.logs.get('n1')?.find('No longer leading partition')).toEqual([]);
    expect(codeOf(await put(n1, 0, 'after', 'bump'))).toBe('OK');
    await until('n3 in the ISR', () => c.view.keyspace('default')?.partitions[0]?.record.isr.includes('n3') === true);
    expect(valueOf(await get(n1, 0, 'w9'))).toBe('9');
  });

  it('reports each follower\'s progress with the snapshot being served to it (0s when none is), and counts the snapshot bytes it serves', async () => {
    c.setRecord('default', 0, { replicas: ['n1', 'n2'], leader: 'n1', epoch: 2, isr: ['n1', 'n2'] });
    const n1 = await c.start('n1');
    const n2 = await c.start('n2');
    for (let i = 0; i < 30; i++) expect(codeOf(await put(n1, 0, `k${i}`, `value-${i}`))).toBe('OK');
    // A snapshot carries the applied data: wait until all 30 writes are applied on n1.
    await until('n2 holding every entry, n1 having applied them', () => n2.logEnd('default', 0).durableIndex === 30 && n1.logEnd('default', 0).appliedIndex === 30);
    const followerOf = (): Record<string, unknown> | undefined => n1.followerProgress().find((p) => p.keyspace === 'default' && p.partitionId === 0)?.followers.find((f) => f.nodeId === 'n2') as Record<string, unknown> | undefined;
    expect(followerOf()).toMatchObject({ nodeId: 'n2', snapshotBytesSent: 0, snapshotBytesEstimate: 0, snapshotKeysSent: 0, snapshotElapsedMs: 0 });
    // n2 pulls a snapshot (as a re-seeded replica would) and is slow to take its end.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let atEnd = false;
    const served = n1.snapshots.serve({ keyspace: 'default', partitionId: 0, epoch: 2, requesterNodeId: 'n2' }, (part) => (part.part?.$case === 'end' ? ((atEnd = true), gate) : Promise.resolve()), () => false, 60_000);
    await until('the snapshot at its end', () => atEnd);
    const payloadBytes = Array.from({ length: 30 }, (_, i) => `k${i}`.length + `value-${i}`.length).reduce((n, b) => n + b, 0);
    const during = followerOf();
    expect(during).toMatchObject({ snapshotBytesSent: payloadBytes, snapshotKeysSent: 30 });
    expect(during?.['snapshotBytesEstimate']).toBeGreaterThanOrEqual(payloadBytes);
    expect(during?.['snapshotElapsedMs']).toEqual(expect.any(Number));
    release();
    expect(await served).toEqual({ keyCount: 30, payloadBytes });
    expect(followerOf()).toMatchObject({ snapshotBytesSent: 0, snapshotBytesEstimate: 0, snapshotKeysSent: 0, snapshotElapsedMs: 0 });
    expect(c.meters.get('n1')?.sum('quire_datanode_snapshot_bytes_sent')).toBe(payloadBytes);
  });
});
