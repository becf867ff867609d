/**
 * Splits at the replica level (RFC 0003 "Splits"), over both storage engines on real files: a
 * leader appends a split marker, a follower receives it through replication, and each carves
 * the child's keys out of its data at the marker's index — the same cut on both — in one
 * transaction that survives a reopen; writes to the keys given away are refused after the marker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/src/testing/manual-clock.js';
import type { StorageEngine } from '../storage/engine.js';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import { openWalEngine } from '../storage/wal-engine.js';
import { PartitionReplica, type SplitHost, type WriteRequest } from './replica.js';

const dirs: string[] = [];
const engines: StorageEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type EngineKind = 'lmdb' | 'wal';
async function open(kind: EngineKind, dir?: string): Promise<{ engine: StorageEngine; dir: string }> {
  const at = dir ?? mkdtempSync(join(tmpdir(), 'quire-replica-split-'));
  if (dir === undefined) dirs.push(at);
  const engine = kind === 'lmdb' ? openLmdbEngine({ path: at, partitionsMax: 8 }) : await openWalEngine({ lmdbPath: join(at, 'lmdb'), walDir: join(at, 'wal'), partitionsMax: 8, segmentBytes: 64 * 1024, applyIntervalMs: 1 });
  engines.push(engine);
  return { engine, dir: at };
}

const clock = new ManualClock();
function replicaOf(engine: StorageEngine, partitionId: number, replicated: boolean): PartitionReplica {
  return new PartitionReplica(
    engine.partition('r', partitionId),
    {
      logRetainEntriesMax: 1000,
      logTruncateBatchMax: 1000,
      applyEntriesMax: 1000,
      pending: { pendingEntriesMax: 1000, pendingBytesMax: 1 << 20, retryAfterMs: 10 },
      replicated,
      dedup: { dedupEntriesMax: 1000, dedupWindowMs: 60_000 },
    },
    clock,
  );
}

/** A host that gives every marker the one child replica (or says it is not held, or not known yet), and records the seeded ones. */
function hostFor(child: PartitionReplica | 'not-held' | 'unknown'): SplitHost & { seeded: number[]; child: PartitionReplica | 'not-held' | 'unknown' } {
  const seeded: number[] = [];
  const host = { seeded, child, childFor: () => host.child, childSeeded: (_p: PartitionReplica, c: PartitionReplica) => seeded.push(c.partitionId) };
  return host;
}

const put = (key: string, value = `v-${key}`): WriteRequest => ({ kind: 'put', key: Buffer.from(key), value: Buffer.from(value), expectedVersion: undefined });
const keysOf = (r: PartitionReplica): string[] => r.range({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1000, bytesMax: 1 << 20, keysOnly: true }).entries.map((e) => e.key.toString());

async function applyAll(engine: StorageEngine, r: PartitionReplica): Promise<void> {
  for (let i = 0; i < 10 && r.needsApply; i++) {
    await engine.write(() => {
      r.applyAcknowledged();
      r.finishWrites();
    });
    r.appliedDurable();
  }
}

/** As the leader at epoch 2 of a one-replica parent: puts b, k and x, then a split marker at k for child 1; applies what it can. */
async function writeThenSplit(engine: StorageEngine, parent: PartitionReplica): Promise<void> {
  parent.setLeading(2);
  await engine.write(() => {
    for (const k of ['b', 'k', 'x']) parent.appendWrite(put(k), 2);
    parent.appendSplit({ childPartitionId: 1, childEpoch: 2, splitKey: Buffer.from('k') }, 2);
    parent.finishWrites();
  });
  parent.logDurable();
  await applyAll(engine, parent);
}

describe.each<EngineKind>(['lmdb', 'wal'])('a split marker (%s engine)', (kind) => {
  it('carves the keys from the split key on into the child, at the marker index, on leader and follower alike', async () => {
    const leaderStore = await open(kind);
    const followerStore = await open(kind);
    const leader = replicaOf(leaderStore.engine, 0, true);
    const leaderChild = replicaOf(leaderStore.engine, 1, true);
    const follower = replicaOf(followerStore.engine, 0, true);
    const followerChild = replicaOf(followerStore.engine, 1, true);
    const leaderHost = hostFor(leaderChild);
    const followerHost = hostFor(followerChild);
    leader.setSplitHost(leaderHost);
    follower.setSplitHost(followerHost);
    leader.setLeading(3);

    // Writes on both sides of the split key, then the marker, then more writes.
    const before = ['a', 'f', 'm', 'q', 'z'].map((k) => put(k));
    const markerIndex = await leaderStore.engine.write(() => {
      for (const w of before) expect(leader.appendWrite(w, 3).result.ok).toBe(true);
      const appended = leader.appendSplit({ childPartitionId: 1, childEpoch: 2, splitKey: Buffer.from('m') }, 3);
      expect(appended.ok).toBe(true);
      // Keys from the split key on are refused from the marker on; keys below it are taken.
      const refused = leader.appendWrite(put('n'), 3);
      expect(refused.result.ok ? 'ok' : refused.result.error.code).toBe('WRONG_PARTITION');
      expect(leader.appendWrite(put('b'), 3).result.ok).toBe(true);
      leader.finishWrites();
      return appended.ok ? appended.index : 0;
    });
    expect(markerIndex).toBe(6);
    expect(leader.hasSeenSplit(1)).toBe(true);
    leader.logDurable();

    // The follower gets the same log through replication.
    const entries = leader.entriesForSend(1, leader.logEndIndex, 1 << 20);
    await followerStore.engine.write(() => {
      follower.appendReplicated(entries, undefined);
      follower.finishWrites();
    });
    follower.logDurable();
    follower.acknowledge(follower.durableIndex);
    leader.acknowledge(leader.durableIndex);

    await applyAll(leaderStore.engine, leader);
    await applyAll(followerStore.engine, follower);

    for (const [parent, child, host] of [
      [leader, leaderChild, leaderHost],
      [follower, followerChild, followerHost],
    ] as const) {
      expect(parent.appliedIndex).toBe(7);
      expect(keysOf(parent)).toEqual(['a', 'b', 'f']);
      expect(keysOf(child)).toEqual(['m', 'q', 'z']);
      expect(child.appliedIndex).toBe(markerIndex);
      expect(child.logEndIndex).toBe(markerIndex);
      // Seeded at the split's epoch (the marker's child epoch), not at the epoch of the parent's log (3).
      expect(child.epochAt(markerIndex)).toBe(2);
      expect(child.logEndPair).toEqual({ epoch: 2, index: markerIndex });
      expect(child.read(Buffer.from('q'))?.value.toString()).toBe('v-q');
      // Versions are the parent's log indexes: a compare-and-set on the child still matches them.
      expect(child.read(Buffer.from('q'))?.version).toBe(4);
      expect(host.seeded).toEqual([1]);
    }
  });

  it('keeps the carve across a reopen: the child holds the keys and the parent does not', async () => {
    const { engine, dir } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    const child = replicaOf(engine, 1, false);
    parent.setSplitHost(hostFor(child));
    await writeThenSplit(engine, parent);
    expect(keysOf(child)).toEqual(['k', 'x']);
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    const reopened = await open(kind, dir);
    const parentAgain = replicaOf(reopened.engine, 0, false);
    const childAgain = replicaOf(reopened.engine, 1, false);
    expect(keysOf(parentAgain)).toEqual(['b']);
    expect(keysOf(childAgain)).toEqual(['k', 'x']);
    expect(childAgain.unseeded).toBe(false);
    expect(parentAgain.appliedIndex).toBe(4);
  });

  it('drops the keys without seeding when the child is not held here, and never seeds a child twice', async () => {
    const { engine } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    const host = hostFor('not-held');
    parent.setSplitHost(host);
    await writeThenSplit(engine, parent);
    expect(keysOf(parent)).toEqual(['b']);
    expect(host.seeded).toEqual([]);
  });

  it('waits with the marker while the view does not show the child, then carves once it does', async () => {
    const { engine } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    const child = replicaOf(engine, 1, false);
    const host = hostFor('unknown');
    parent.setSplitHost(host);
    await writeThenSplit(engine, parent);
    // Everything before the marker is applied; the marker waits, and nothing asks to apply it.
    expect(parent.appliedIndex).toBe(3);
    expect(parent.needsApply).toBe(false);
    expect(parent.hasSeenSplit(1)).toBe(true);
    host.child = child;
    parent.retrySplit();
    await applyAll(engine, parent);
    expect(parent.appliedIndex).toBe(4);
    expect(keysOf(child)).toEqual(['k', 'x']);
    expect(host.seeded).toEqual([1]);
  });

  it('remembers a marker found in the retained log after a reopen, so no second marker is appended', async () => {
    const { engine, dir } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    parent.setSplitHost(hostFor('not-held'));
    parent.setLeading(2);
    await engine.write(() => {
      parent.appendWrite(put('b'), 2);
      parent.appendSplit({ childPartitionId: 7, childEpoch: 2, splitKey: Buffer.from('k') }, 2);
      parent.finishWrites();
    });
    parent.logDurable();
    await applyAll(engine, parent);
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    const reopened = await open(kind, dir);
    expect(replicaOf(reopened.engine, 0, false).hasSeenSplit(7)).toBe(true);
    expect(replicaOf(reopened.engine, 0, false).hasSeenSplit(8)).toBe(false);
  });

  it('answers a retry of a write the parent took for a carved key from the child, without applying it again', async () => {
    const { engine } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    const child = replicaOf(engine, 1, false);
    parent.setSplitHost(hostFor(child));
    parent.setLeading(2);
    const withId = (key: string, id: string): WriteRequest => ({ ...put(key), requestId: Buffer.from(id) });
    await engine.write(() => {
      parent.appendWrite(withId('b', 'req-b'), 2);
      parent.appendWrite(withId('x', 'req-x'), 2);
      parent.appendSplit({ childPartitionId: 1, childEpoch: 2, splitKey: Buffer.from('k') }, 2);
      parent.finishWrites();
    });
    parent.logDurable();
    await applyAll(engine, parent);
    child.setLeading(2);
    const retried = await engine.write(() => {
      const outcome = child.appendWrite(withId('x', 'req-x'), 2);
      child.finishWrites();
      return outcome;
    });
    // The first write's result (version 2, the parent's index), and no new entry in the child's log.
    expect(retried.result).toEqual({ ok: true, version: 2, found: true });
    expect(child.logEndIndex).toBe(3);
    // The parent's own keys keep their ids; the child does not know them.
    const other = await engine.write(() => {
      const outcome = child.appendWrite(withId('y', 'req-b'), 2);
      child.finishWrites();
      return outcome;
    });
    expect(other.result).toEqual({ ok: true, version: 4, found: false });
  });

  it('refuses a marker from a replica that does not lead the epoch', async () => {
    const { engine } = await open(kind);
    const parent = replicaOf(engine, 0, false);
    parent.setLeading(4);
    const outcome = await engine.write(() => parent.appendSplit({ childPartitionId: 1, childEpoch: 3, splitKey: Buffer.from('k') }, 3));
    expect(outcome.ok ? 'ok' : outcome.error.code).toBe('NOT_LEADER');
  });
});
