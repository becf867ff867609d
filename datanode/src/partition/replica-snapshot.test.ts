/**
 * PartitionReplica snapshot installs (RFC 0001 "Catch-up, snapshots and log truncation"), over
 * real LMDB: a leader's consistent read loaded into a follower that lags, its in-memory state
 * reset to the snapshot, and the log continuing after it; an install cut off (by a restart or
 * a leader change) discarded to an empty replica.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '@quire/common';
import { ManualClock } from '../../../common/src/testing/manual-clock.js';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import type { StorageEngine, StoredEntry } from '../storage/engine.js';
import { cutChunks } from '../replication/snapshot-chunks.js';
import { PartitionReplica, type ReplicatedEntry, type WriteRequest } from './replica.js';

let dir: string;
let engine: StorageEngine;
let clock: ManualClock;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-replica-snapshot-'));
  engine = openLmdbEngine({ path: dir, partitionsMax: 4 });
  clock = new ManualClock();
});
afterEach(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (key: string, value: string): WriteRequest => ({ kind: 'put', key: Buffer.from(key), value: Buffer.from(value), expectedVersion: undefined });
const del = (key: string): WriteRequest => ({ kind: 'delete', key: Buffer.from(key), value: Buffer.alloc(0), expectedVersion: undefined });
const entry = (index: number, epoch: number, key: string, value = `v${index}`): ReplicatedEntry => ({ index, epoch, kind: 'put', key: Buffer.from(key), value: Buffer.from(value) });

function replicated(partitionId: number, retain = 1000): PartitionReplica {
  return new PartitionReplica(
    engine.partition('default', partitionId),
    {
      logRetainEntriesMax: retain,
      logTruncateBatchMax: 1000,
      applyEntriesMax: 1000,
      pending: { pendingEntriesMax: 1000, pendingBytesMax: 1 << 20, retryAfterMs: 10 },
      replicated: true,
      dedup: { dedupEntriesMax: 1000, dedupWindowMs: 60_000 },
    },
    clock,
  );
}

/** Leader side: appends at `epoch`, durable, acknowledged and applied (its followers agreed). */
async function lead(r: PartitionReplica, epoch: number, ...requests: WriteRequest[]): Promise<void> {
  await engine.write(() => {
    for (const req of requests) r.appendWrite(req, epoch);
    r.finishWrites();
  });
  r.logDurable();
  r.acknowledge(r.durableIndex);
  await engine.write(() => {
    r.applyAcknowledged();
    r.finishWrites();
  });
  r.appliedDurable();
}

/** Follower side: appends, durable, acknowledged up to `ack` and applied. */
async function follow(f: PartitionReplica, entries: ReplicatedEntry[], ack: number): Promise<void> {
  await engine.write(() => {
    f.appendReplicated(entries, undefined);
    f.finishWrites();
  });
  f.logDurable();
  f.acknowledge(ack);
  await engine.write(() => {
    f.applyAcknowledged();
    f.finishWrites();
  });
  f.appliedDurable();
}

/** Streams the leader's consistent read into the follower, one transaction per chunk, as the installer does. */
async function install(leader: PartitionReplica, follower: PartitionReplica, chunkBytesMax: number): Promise<{ appliedIndex: number; epoch: number; chunks: number }> {
  const reader = engine.partition('default', leader.partitionId).snapshotReader();
  try {
    const { appliedIndex, epoch } = reader;
    await engine.write(() => {
      follower.beginSnapshotInstall();
      follower.finishWrites();
    });
    let chunks = 0;
    for (const chunk of cutChunks(reader.chunks(chunkBytesMax), chunkBytesMax)) {
      chunks++;
      await engine.write(() => {
        follower.loadSnapshotChunk(appliedIndex, epoch, chunk);
        follower.finishWrites();
      });
    }
    await engine.write(() => {
      follower.finishSnapshotInstall(appliedIndex, epoch);
      follower.finishWrites();
    });
    follower.logDurable();
    return { appliedIndex, epoch, chunks };
  } finally {
    reader.close();
  }
}

function dataOf(partitionId: number): StoredEntry[] {
  return engine.partition('default', partitionId).range({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1000, bytesMax: 1 << 30, keysOnly: false });
}

describe('PartitionReplica snapshot install', () => {
  it('re-seeds an old leader whose applied writes a failover took back (async): never truncated below its applied index in place, the snapshot lowers it', async () => {
    const oldLeader = replicated(0);
    const newLeader = replicated(1);
    oldLeader.setLeading(1);
    await lead(oldLeader, 1, put('a', '1'), put('b', '2'));
    await follow(newLeader, oldLeader.entriesForSend(1, 2, 1 << 20), 2);
    // Acknowledged and applied on the old leader alone (async), with a request id.
    await lead(oldLeader, 1, { ...put('lost', 'x'), requestId: Buffer.from('request-lost') });
    expect(oldLeader.appliedIndex).toBe(3);
    // A failover promotes the other replica at epoch 2, which writes index 3 of its own.
    newLeader.setLeading(2);
    await lead(newLeader, 2, put('c', '3'));
    oldLeader.setLeading(0);
    expect(oldLeader.floorEpoch).toBe(1);
    // Following the new leader's log in place would drop an applied entry: the replica's own
    // assertion refuses it (the follower core asks for a re-seed before it gets here).
    expect(() => oldLeader.truncateLogAfter(2)).toThrow(AssertionError);
    expect(oldLeader.appliedIndex).toBe(3);

    const { appliedIndex, epoch } = await install(newLeader, oldLeader, 1 << 20);
    expect([appliedIndex, epoch]).toEqual([3, 2]);
    expect(dataOf(0)).toEqual(dataOf(1));
    expect(oldLeader.read(Buffer.from('lost'))).toBeUndefined();
    expect(oldLeader.logEndPair).toEqual({ epoch: 2, index: 3 });
    expect(oldLeader.floorEpoch).toBe(2);
    // The dedup record of the lost write went with its entry: a retry is appended again rather
    // than answered with the index of a write that no longer exists.
    oldLeader.setLeading(3);
    await lead(oldLeader, 3, { ...put('lost', 'x'), requestId: Buffer.from('request-lost') });
    expect(oldLeader.read(Buffer.from('lost'))?.version).toBe(4);
  });

  it('re-seeds a lagging follower from the leader data and lets it continue from the leader log', async () => {
    const leader = replicated(0, 3);
    const follower = replicated(1);
    await lead(leader, 2, put('a', '1'), put('b', '2'));
    await follow(follower, leader.entriesForSend(1, 2, 1 << 20), 2);
    // The follower falls behind; it also holds an unacknowledged entry the leader never had.
    await follow(follower, [entry(3, 2, 'zombie')], 2);
    for (let i = 0; i < 10; i++) await lead(leader, 3, put(`k${i}`, 'x'.repeat(i)), del('a'));
    expect(leader.firstLogIndex).toBeGreaterThan(4);

    const { appliedIndex, epoch, chunks } = await install(leader, follower, 8);
    expect([appliedIndex, epoch]).toEqual([leader.appliedIndex, 3]);
    expect(chunks).toBeGreaterThan(1);
    expect(follower.installingSnapshot).toBe(false);
    expect(follower.snapshotInstallsBegun).toBe(1);
    for (const index of [follower.logEndIndex, follower.durableIndex, follower.acknowledgedIndex, follower.appliedIndex]) expect(index).toBe(appliedIndex);
    expect(follower.logEndPair).toEqual({ epoch: 3, index: appliedIndex });
    expect(follower.epochAt(appliedIndex)).toBe(3);
    expect(follower.epochAt(appliedIndex - 1)).toBeUndefined();
    expect(dataOf(1)).toEqual(dataOf(0));
    expect(follower.read(Buffer.from('zombie'))).toBeUndefined();
    expect(follower.read(Buffer.from('k3'))?.version).toBe(leader.read(Buffer.from('k3'))?.version);

    // The leader's next entries follow the snapshot: the prev check (appliedIndex, epoch 3) holds.
    await lead(leader, 3, put('after', 'snapshot'));
    const next = leader.entriesForSend(appliedIndex + 1, leader.durableIndex, 1 << 20);
    await follow(follower, next, leader.durableIndex);
    expect(follower.read(Buffer.from('after'))?.version).toBe(appliedIndex + 1);

    // Reopened, it is the same replica: applied state, log and epoch history were stored.
    const reopened = replicated(1);
    expect(reopened.installingSnapshot).toBe(false);
    expect(reopened.logEndPair).toEqual({ epoch: 3, index: appliedIndex + 1 });
    expect(reopened.appliedIndex).toBe(appliedIndex + 1);
    expect(reopened.epochAt(appliedIndex)).toBe(3);
    expect(engine.partition('default', 1).firstLogIndex()).toBe(appliedIndex + 1);
  });

  it('takes nothing to write while an install runs, even with acknowledged entries waiting to be applied', async () => {
    const follower = replicated(1);
    await follow(follower, [entry(1, 1, 'a'), entry(2, 1, 'b')], 1);
    follower.acknowledge(2);
    expect(follower.needsApply).toBe(true);
    await engine.write(() => {
      follower.beginSnapshotInstall();
      follower.finishWrites();
    });
    // The old applied index stays until the install finishes; the log and the waiting apply are gone.
    expect([follower.installingSnapshot, follower.needsApply, follower.appliedIndex, follower.logEndIndex]).toEqual([true, false, 1, 1]);
    expect(engine.partition('default', 1).snapshotInstallPending()).toBe(true);
    expect(() => follower.loadSnapshotChunk(5, 1, [{ key: Buffer.from('a'), value: Buffer.from('x'), version: 6 }])).toThrow();
  });

  it('discards an install found pending on open: the replica starts empty, from index 1', async () => {
    const follower = replicated(1);
    await follow(follower, [entry(1, 1, 'a'), entry(2, 1, 'b')], 2);
    await engine.write(() => {
      follower.beginSnapshotInstall();
      follower.loadSnapshotChunk(9, 2, [{ key: Buffer.from('partial'), value: Buffer.from('x'), version: 9 }]);
      follower.finishWrites();
    });
    const reopened = replicated(1);
    expect(reopened.installingSnapshot).toBe(true);
    await engine.write(() => {
      reopened.discardSnapshotInstall();
      reopened.finishWrites();
    });
    expect([reopened.installingSnapshot, reopened.appliedIndex, reopened.logEndPair]).toEqual([false, 0, { epoch: 0, index: 0 }]);
    expect(dataOf(1)).toEqual([]);
    expect(reopened.epochAt(0)).toBe(0);
    // A leader whose log starts at 1 replays it into the empty replica.
    await follow(reopened, [entry(1, 1, 'a'), entry(2, 2, 'c')], 2);
    expect(reopened.read(Buffer.from('c'))?.version).toBe(2);
    expect(replicated(1).logEndPair).toEqual({ epoch: 2, index: 2 });
  });

  it('installs an empty snapshot (a partition whose keys were all deleted) at its applied index', async () => {
    const leader = replicated(0);
    const follower = replicated(1);
    await lead(leader, 1, put('a', '1'), del('a'));
    const { appliedIndex, chunks } = await install(leader, follower, 1024);
    expect([appliedIndex, chunks]).toEqual([2, 0]);
    expect(follower.logEndPair).toEqual({ epoch: 1, index: 2 });
    expect(dataOf(1)).toEqual([]);
  });
});

describe('PartitionReplica.trimLog: a storage engine wants the space of a log back', () => {
  it('drops the log down to the keep floor while an in-sync follower lacks entries, then down to the applied index + 1', async () => {
    const r = replicated(3);
    await lead(r, 1, put('a', '1'), put('b', '2'), put('c', '3'));
    const store = engine.partition('default', 3);
    expect([store.firstLogIndex(), store.lastLogIndex(), store.applied().appliedIndex]).toEqual([1, 3, 3]);
    // A follower still lacks entry 2: the trim keeps it.
    r.setLogKeepFloor(2);
    expect(await engine.write(() => r.trimLog())).toBe(1);
    expect(store.firstLogIndex()).toBe(2);
    // Nothing is owed any more: only the applied state remains.
    r.setLogKeepFloor(Number.POSITIVE_INFINITY);
    expect(await engine.write(() => r.trimLog())).toBe(2);
    expect([store.firstLogIndex(), store.lastLogIndex()]).toEqual([4, 3]);
    expect(await engine.write(() => r.trimLog())).toBe(0);
    expect(r.read(Buffer.from('c'))?.value.toString()).toBe('3');
  });
});
