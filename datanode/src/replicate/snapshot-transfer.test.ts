/**
 * A snapshot from a leader's SnapshotSource into a follower's SnapshotInstaller, in one process
 * over two real LMDB environments, with the gRPC call replaced by a loopback: the refusals of
 * the source, the install and its answer, a repeat that joins, a corrupt transfer started over,
 * a pull given up (its partial install discarded) once its leader no longer leads, and the
 * progress the source reports while it serves (bytes and keys sent, the estimate, the time).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PartitionRecord, type SnapshotRequest, type SnapshotResponse } from '@quire/proto';
import { isQuireError, partitionKey, systemClock, type MetadataView } from '@quire/common';
import { applyToView, viewOf } from '../../../common/src/testing/metadata-fixtures.js';
import { RecordingLogger } from '../../../runtime/src/testing/recorders.js';
import { GroupCommitter } from '../partition/group-commit.js';
import { PartitionReplica, type WriteRequest } from '../partition/replica.js';
import type { LogEnd } from '../replication/divergence.js';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import type { StorageEngine, StoredEntry } from '../storage/engine.js';
import { SnapshotInstaller, type SnapshotStream } from './snapshot-installer.js';
import { SnapshotSource, type SnapshotSourceDeps } from './snapshot-source.js';

const dirs: string[] = [];
const engines: StorageEngine[] = [];
function engine(): StorageEngine {
  const dir = mkdtempSync(join(tmpdir(), 'quire-snapshot-transfer-'));
  dirs.push(dir);
  const e = openLmdbEngine({ path: dir, partitionsMax: 4 });
  engines.push(e);
  return e;
}

let leaderEngine: StorageEngine;
let followerEngine: StorageEngine;
let view: MetadataView;
let log: RecordingLogger;
beforeEach(() => {
  leaderEngine = engine();
  followerEngine = engine();
  view = viewOf({ replicationFactors: { default: 3 }, partitions: [{ id: 0, leader: 'n1', epoch: 3, replicas: ['n1', 'n2', 'n3'], isr: ['n1', 'n3'] }], live: ['n1', 'n2', 'n3'] });
  log = new RecordingLogger();
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function replicaOf(e: StorageEngine): PartitionReplica {
  return new PartitionReplica(
    e.partition('default', 0),
    {
      logRetainEntriesMax: 5,
      logTruncateBatchMax: 1000,
      applyEntriesMax: 10_000,
      pending: { pendingEntriesMax: 10_000, pendingBytesMax: 1 << 24, retryAfterMs: 10 },
      replicated: true,
      dedup: { dedupEntriesMax: 100, dedupWindowMs: 60_000 },
    },
    systemClock,
  );
}

/** The leader's data: `count` puts at epoch 3, acknowledged and applied. */
async function leaderWith(count: number): Promise<PartitionReplica> {
  const r = replicaOf(leaderEngine);
  const writes: WriteRequest[] = Array.from({ length: count }, (_, i) => ({ kind: 'put', key: Buffer.from(`key-${String(i).padStart(5, '0')}`), value: Buffer.alloc(i % 40, 0x76), expectedVersion: undefined }));
  await leaderEngine.write(() => {
    for (const w of writes) r.appendWrite(w, 3);
    r.finishWrites();
  });
  r.logDurable();
  r.acknowledge(r.durableIndex);
  await leaderEngine.write(() => {
    r.applyAcknowledged();
    r.finishWrites();
  });
  r.appliedDurable();
  return r;
}

function sourceFor(leader: PartitionReplica, floors: number[], snapshotsInFlightMax = 2, bytesPerSecond = 0, onChunkSent?: SnapshotSourceDeps['onChunkSent']): SnapshotSource {
  return new SnapshotSource(
    { snapshotsInFlightMax, chunkBytesMax: 256, serveMsMax: 60_000, bytesPerSecond },
    {
      nodeId: 'n1',
      view,
      clock: systemClock,
      log,
      keepLogForSnapshot: (_ks, _p, _epoch, follower, fromIndex) => {
        expect(follower).toBe('n2');
        floors.push(fromIndex);
        return leader;
      },
      openReplica: () => leader,
      openReader: () => leaderEngine.partition('default', 0).snapshotReader(),
      ...(onChunkSent === undefined ? {} : { onChunkSent }),
    },
  );
}

/** A Replication.Snapshot call served in process; `mutate` may change or drop a part. */
function loopback(source: SnapshotSource, mutate: (part: SnapshotResponse) => SnapshotResponse | undefined = (p) => p) {
  return (_address: string, request: SnapshotRequest): SnapshotStream => {
    let cancelled = false;
    const parts: SnapshotResponse[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    source
      .serve(
        request,
        async (part) => {
          const sent = mutate(part);
          if (sent !== undefined) parts.push(sent);
          notify();
        },
        () => cancelled,
        60_000,
      )
      .then(
        () => undefined,
        (err: unknown) => (failure = err),
      )
      .finally(() => {
        finished = true;
        notify();
      });
    return {
      cancel: () => {
        cancelled = true;
      },
      async *[Symbol.asyncIterator](): AsyncGenerator<SnapshotResponse> {
        for (;;) {
          const next = parts.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          if (finished) {
            if (failure !== undefined) throw failure;
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    };
  };
}

function installerFor(openStream: (address: string, request: SnapshotRequest) => SnapshotStream): SnapshotInstaller {
  const committer = new GroupCommitter(
    {
      write: (body) => followerEngine.write(body),
      schedule: setImmediate,
      monotonicMs: () => performance.now(),
      onCommitted: () => undefined,
      onFatal: (err) => {
        throw err;
      },
    },
    { queueOpsMax: 100, batchOpsMax: 100 },
  );
  return new SnapshotInstaller(
    { installsInFlightMax: 1, pullDeadlineMs: 60_000, retryMsMin: 5, retryMsMax: 20, progressLogBytes: 1024, chunksInFlightMax: 2 },
    { nodeId: 'n2', view, clock: systemClock, log, committer, openStream },
  );
}

/** Asks `installer` for partition 0's snapshot from n1 at epoch 3; resolves with the answer. */
function pull(installer: SnapshotInstaller, replica: PartitionReplica): Promise<LogEnd> {
  return new Promise((resolve) => installer.request({ keyspace: 'default', partitionId: 0, replica, leader: 'n1', epoch: 3, answer: resolve }));
}

function dataOf(e: StorageEngine): StoredEntry[] {
  return e.partition('default', 0).range({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 100_000, bytesMax: 1 << 30, keysOnly: false });
}

const request = (fields: Partial<SnapshotRequest> = {}): SnapshotRequest => ({ keyspace: 'default', partitionId: 0, epoch: 3, requesterNodeId: 'n2', ...fields });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isQuireError(err) ? err.code : String(err);
  }
  return 'resolved';
}

describe('snapshot transfer', () => {
  it('installs the leader data on the follower, keeps the leader log from the snapshot, and answers with the snapshot log end', async () => {
    const leader = await leaderWith(300);
    const floors: number[] = [];
    const follower = replicaOf(followerEngine);
    const installer = installerFor(loopback(sourceFor(leader, floors)));
    const logEnd = await pull(installer, follower);
    expect(logEnd).toEqual({ epoch: 3, index: 300 });
    expect(floors).toEqual([301, 301]);
    expect(dataOf(followerEngine)).toEqual(dataOf(leaderEngine));
    expect([follower.appliedIndex, follower.logEndIndex, follower.installingSnapshot]).toEqual([300, 300, false]);
    const installed = log.find('Installed a snapshot')[0]?.fields;
    expect(installed).toMatchObject({ keyCount: 300, appliedIndex: 300 });
    expect(log.find('Loading a snapshot: progress').length).toBeGreaterThan(0);
    expect(installer.pullCounts).toEqual({ running: 0, waiting: 0 });
  });

  it('paces the chunks it serves at --snapshot-bytes-per-second', async () => {
    const leader = await leaderWith(300);
    const follower = replicaOf(followerEngine);
    const bytes = dataOf(leaderEngine).reduce((n, e) => n + e.key.length + e.value.length, 0);
    const bytesPerSecond = Math.ceil(bytes / 0.5); // the whole snapshot in about 500 ms
    const startedMs = performance.now();
    await pull(installerFor(loopback(sourceFor(leader, [], 2, bytesPerSecond))), follower);
    // At the rate, less the 100 ms the first chunks may go ahead of it.
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(500 - 100 - 20);
    expect(dataOf(followerEngine)).toEqual(dataOf(leaderEngine));
  });

  it('shares one pull between a request and its repeat, answering the latest', async () => {
    const leader = await leaderWith(50);
    const follower = replicaOf(followerEngine);
    let opened = 0;
    const open = loopback(sourceFor(leader, []));
    const installer = installerFor((address, req) => {
      opened++;
      return open(address, req);
    });
    const answers: string[] = [];
    installer.request({ keyspace: 'default', partitionId: 0, replica: follower, leader: 'n1', epoch: 3, answer: () => answers.push('first') });
    const second = new Promise<void>((resolve) =>
      installer.request({ keyspace: 'default', partitionId: 0, replica: follower, leader: 'n1', epoch: 3, answer: () => (answers.push('second'), resolve()) }),
    );
    await second;
    expect([opened, answers]).toEqual([1, ['second']]);
  });

  it('starts a transfer whose totals do not match over, and installs the next one', async () => {
    const leader = await leaderWith(80);
    const follower = replicaOf(followerEngine);
    let tampered = false;
    const installer = installerFor(
      loopback(sourceFor(leader, []), (part) => {
        if (part.part?.$case !== 'end' || tampered) return part;
        tampered = true;
        return { part: { $case: 'end', value: { ...part.part.value, keyCount: part.part.value.keyCount + 1 } } };
      }),
    );
    expect(await pull(installer, follower)).toEqual({ epoch: 3, index: 80 });
    expect(log.lines.filter((l) => l.message === 'A snapshot pull failed; starting it over').map((l) => [l.level, l.fields['code']])).toEqual([['error', 'CORRUPT_REPLICA']]);
    expect(dataOf(followerEngine)).toEqual(dataOf(leaderEngine));
  });

  it('gives a pull up once its leader no longer leads, discarding the partial install', async () => {
    const leader = await leaderWith(80);
    const follower = replicaOf(followerEngine);
    const answers: LogEnd[] = [];
    let chunks = 0;
    const installer = installerFor(
      loopback(sourceFor(leader, []), (part) => {
        if (part.part?.$case === 'chunk' && ++chunks === 2) {
          // The leadership moves to n3 at epoch 4 while the follower loads.
          applyToView(view, [{ key: partitionKey('default', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n3', epoch: 4, isr: ['n3'] }).finish() }]);
        }
        return part;
      }),
    );
    installer.request({ keyspace: 'default', partitionId: 0, replica: follower, leader: 'n1', epoch: 3, answer: (e) => answers.push(e) });
    for (let i = 0; i < 200 && installer.pullCounts.running > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(installer.pullCounts.running).toBe(0);
    expect(answers).toEqual([]);
    expect([follower.installingSnapshot, follower.appliedIndex, follower.logEndPair]).toEqual([false, 0, { epoch: 0, index: 0 }]);
    expect(dataOf(followerEngine)).toEqual([]);
    expect(log.find('Gave up a snapshot pull: its leader no longer leads the partition at that epoch').length).toBe(1);
  });

  it('release() ends a serve waiting for a slow follower and resolves once its read is closed (the replica is being deleted)', async () => {
    const leader = await leaderWith(20);
    const source = sourceFor(leader, []);
    // The follower takes the header and never drains after it.
    const stuck = source.serve(request(), (part) => (part.part?.$case === 'header' ? Promise.resolve() : new Promise<void>(() => undefined)), () => false, 60_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(source.inFlight).toBe(1);
    await source.release('default', 0);
    expect(await refusal(stuck)).toBe('WRONG_PARTITION');
    expect(source.inFlight).toBe(0);
    // No reader is left open: the partition can be dropped.
    await leaderEngine.write(() => leaderEngine.dropPartition('default', 0));
    expect(await source.release('default', 0)).toBeUndefined();
  });

  it('cancel() stops a pull at its next step without touching the replica again, and resolves once it ended', async () => {
    const leader = await leaderWith(80);
    const follower = replicaOf(followerEngine);
    const answers: LogEnd[] = [];
    let installer: SnapshotInstaller | undefined;
    let cancelled: Promise<void> | undefined;
    let chunks = 0;
    installer = installerFor(
      loopback(sourceFor(leader, []), (part) => {
        if (part.part?.$case === 'chunk' && ++chunks === 2) cancelled = installer?.cancel('default', 0);
        return part;
      }),
    );
    installer.request({ keyspace: 'default', partitionId: 0, replica: follower, leader: 'n1', epoch: 3, answer: (e) => answers.push(e) });
    for (let i = 0; i < 200 && cancelled === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    await cancelled;
    expect(installer.pullCounts).toEqual({ running: 0, waiting: 0 });
    expect(answers).toEqual([]);
    // Left as it was when the pull stopped (a pending install): the deletion that follows removes it.
    expect(follower.installingSnapshot).toBe(true);
    expect(log.find('Cancelling a snapshot pull: the replica is being deleted').length).toBe(1);
    expect(log.find('Gave up a snapshot pull: its leader no longer leads the partition at that epoch')).toEqual([]);
  });

  it('reports the progress of a serve while it runs (bytes and keys the follower took, the estimate from disk) and nothing once it ended', async () => {
    const leader = await leaderWith(300);
    const counted: number[] = [];
    const source = sourceFor(leader, [], 2, 0, (bytes) => counted.push(bytes));
    expect(source.progressOf('default', 0, 'n2')).toBeUndefined();
    // The follower takes two chunks and is slow to drain the third.
    const taken: { bytes: number; keys: number }[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const served = source.serve(
      request(),
      (part) => {
        if (part.part?.$case !== 'chunk') return Promise.resolve();
        if (taken.length === 2) {
          held = true;
          return gate;
        }
        taken.push({ bytes: part.part.value.items.reduce((n, e) => n + e.key.length + e.value.length, 0), keys: part.part.value.items.length });
        return Promise.resolve();
      },
      () => false,
      60_000,
    );
    for (let i = 0; i < 200 && !held; i++) await new Promise((r) => setTimeout(r, 5));
    expect(held).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const total = dataOf(leaderEngine).reduce((n, e) => n + e.key.length + e.value.length, 0);
    const mid = source.progressOf('default', 0, 'n2');
    const sentMid = (taken[0]?.bytes ?? 0) + (taken[1]?.bytes ?? 0);
    expect(mid).toEqual({ bytesSent: sentMid, keysSent: (taken[0]?.keys ?? 0) + (taken[1]?.keys ?? 0), bytesEstimate: leader.approximateDataBytes(), elapsedMs: expect.any(Number) as number });
    expect(sentMid).toBeGreaterThan(0);
    expect(sentMid).toBeLessThan(total);
    // Page bytes: at least the payload, so the estimate is an upper bound here.
    expect(mid?.bytesEstimate).toBeGreaterThanOrEqual(total);
    expect(mid?.elapsedMs).toBeGreaterThanOrEqual(15);
    // Only that follower, only that partition.
    expect([source.progressOf('default', 0, 'n3'), source.progressOf('default', 1, 'n2'), source.progressOf('other', 0, 'n2')]).toEqual([undefined, undefined, undefined]);
    release();
    expect(await served).toEqual({ keyCount: 300, payloadBytes: total });
    expect(source.progressOf('default', 0, 'n2')).toBeUndefined();
    // The counter saw every chunk's key and value bytes, once.
    expect(counted.reduce((n, b) => n + b, 0)).toBe(total);
  });

  it('never reports more bytes sent than its estimate: the estimate is raised to the bytes sent', async () => {
    const leader = await leaderWith(300);
    // The replica as the source sees it, claiming 1 byte on disk.
    const small = Object.create(leader, { approximateDataBytes: { value: () => 1 } }) as PartitionReplica;
    const source = new SnapshotSource(
      { snapshotsInFlightMax: 2, chunkBytesMax: 256, serveMsMax: 60_000 },
      { nodeId: 'n1', view, clock: systemClock, log, keepLogForSnapshot: () => small, openReplica: () => leader, openReader: () => leaderEngine.partition('default', 0).snapshotReader() },
    );
    const seen: { bytesSent: number; bytesEstimate: number }[] = [];
    await source.serve(
      request(),
      async () => {
        const p = source.progressOf('default', 0, 'n2');
        if (p !== undefined) seen.push({ bytesSent: p.bytesSent, bytesEstimate: p.bytesEstimate });
      },
      () => false,
      60_000,
    );
    // Seen as each part is written: the header and the first chunk before any chunk was taken.
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.slice(0, 2)).toEqual([
      { bytesSent: 0, bytesEstimate: 1 },
      { bytesSent: 0, bytesEstimate: 1 },
    ]);
    for (const p of seen.slice(2)) expect(p.bytesEstimate).toBe(p.bytesSent);
    expect(seen.at(-1)?.bytesSent).toBe(dataOf(leaderEngine).reduce((n, e) => n + e.key.length + e.value.length, 0));
    expect(source.progressOf('default', 0, 'n2')).toBeUndefined();
  });

  it('refuses pulls it must not serve: another epoch, not the leader, not a follower, too many at once', async () => {
    const leader = await leaderWith(10);
    const source = sourceFor(leader, [], 1);
    const serve = (req: SnapshotRequest): Promise<unknown> => source.serve(req, async () => undefined, () => false, 60_000);
    expect(await refusal(serve(request({ epoch: 2 })))).toBe('STALE_EPOCH');
    expect(await refusal(serve(request({ requesterNodeId: 'n9' })))).toBe('INVALID_ARGUMENT');
    expect(await refusal(serve(request({ requesterNodeId: 'n1' })))).toBe('INVALID_ARGUMENT');
    expect(await refusal(serve(request({ keyspace: 'other' })))).toBe('WRONG_PARTITION');
    // One call in flight, held at its first part.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = source.serve(request(), () => gate, () => false, 60_000);
    expect(await refusal(serve(request()))).toBe('OVERLOADED');
    release();
    expect(await held).toEqual({ keyCount: 10, payloadBytes: expect.any(Number) as number });
    // Cancelled after the header: the read closes and the slot frees.
    const cancelled = { value: false };
    expect(await source.serve(request(), async () => void (cancelled.value = true), () => cancelled.value, 60_000)).toBeUndefined();
    expect(source.inFlight).toBe(0);
    applyToView(view, [{ key: partitionKey('default', 0), value: PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId: 0, replicas: ['n1', 'n2', 'n3'], leader: 'n3', epoch: 4, isr: ['n3'] }).finish() }]);
    expect(await refusal(serve(request({ epoch: 4 })))).toBe('NOT_LEADER');
  });
});
