/**
 * What the WAL engine does beyond the PartitionStore contract both engines pass
 * (lmdb-engine*.test.ts): the directory format check, segment retention by the floors LMDB made
 * durable, and reads of data that only the in-memory layers hold. Real files in a temp dir;
 * wal-engine-crash.int.test.ts kills a writer with SIGKILL.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PartitionStore, RangeQuery, StorageEngine } from './engine.js';
import { openLmdbEngine } from './lmdb-engine.js';
import { openWalEngine, type WalEngineOptions } from './wal-engine.js';

let dir: string;
const all: RangeQuery = { start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1_000, bytesMax: 1 << 30, keysOnly: false };
const options = (over: Partial<WalEngineOptions> = {}): WalEngineOptions => ({ lmdbPath: join(dir, 'lmdb'), walDir: join(dir, 'wal'), partitionsMax: 4, segmentBytes: 64 * 1024, ...over });
const segments = (): string[] => readdirSync(join(dir, 'wal')).filter((n) => n.endsWith('.seg'));

/** 400 commits of one ~2 KB entry to `busy`, applied at once and trimmed to the last 50; returns the most segments seen at once. */
async function writeBusy(engine: StorageEngine, busy: PartitionStore): Promise<number> {
  const value = Buffer.alloc(2_000, 7);
  let most = 0;
  for (let i = 1; i <= 400; i++) {
    await engine.write(() => {
      busy.appendLog(i, value);
      busy.setApplied({ appliedIndex: i, epoch: 1 });
      if (i > 50) busy.truncateLogBefore(i - 49, 1_000);
    });
    most = Math.max(most, segments().length);
  }
  return most;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-wal-engine-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the WAL engine', () => {
  it('refuses a data directory of the LMDB-log engine, and that engine refuses its directory', async () => {
    const lmdb = openLmdbEngine({ path: join(dir, 'lmdb'), partitionsMax: 4 });
    const p = lmdb.partition('default', 0);
    await lmdb.write(() => {
      p.appendLog(1, Buffer.from('e1'));
      p.setApplied({ appliedIndex: 0, epoch: 0 });
    });
    await lmdb.close();
    await expect(openWalEngine(options())).rejects.toThrow(/written by the "lmdb-log-v1" storage engine; this node runs the "wal-v1" engine/);

    rmSync(join(dir, 'lmdb'), { recursive: true });
    const wal = await openWalEngine(options());
    await wal.close();
    expect(() => openLmdbEngine({ path: join(dir, 'lmdb'), partitionsMax: 4 })).toThrow(/written by the "wal-v1" storage engine; this node runs the "lmdb-log-v1" engine/);
  });

  it('serves reads, ranges and snapshots of data that only the pending layers hold, and keeps them across a close', async () => {
    // An apply interval longer than the test: only close() writes LMDB.
    let engine: StorageEngine = await openWalEngine(options({ applyIntervalMs: 60_000 }));
    const p = engine.partition('default', 0);
    await engine.write(() => {
      p.appendLog(1, Buffer.from('e1'));
      p.appendLog(2, Buffer.from('e2'));
      p.putValue(Buffer.from('a'), 1, Buffer.from('one'));
      p.putValue(Buffer.from('b'), 2, Buffer.from('two'));
      p.setApplied({ appliedIndex: 2, epoch: 1 });
    });
    await engine.write(() => {
      p.appendLog(3, Buffer.from('e3'));
      p.deleteValue(Buffer.from('a'));
      p.putValue(Buffer.from('c'), 3, Buffer.from('three'));
      p.setApplied({ appliedIndex: 3, epoch: 1 });
    });
    expect(p.get(Buffer.from('a'))).toBeUndefined();
    expect(p.version(Buffer.from('c'))).toBe(3);
    expect(p.range(all).map((e) => `${e.key.toString()}=${e.value.toString()}`)).toEqual(['b=two', 'c=three']);
    const reader = p.snapshotReader();
    expect([reader.appliedIndex, reader.epoch]).toEqual([3, 1]);
    expect([...reader.chunks(1 << 20)].flat().map((e) => e.key.toString())).toEqual(['b', 'c']);
    reader.close();
    await engine.close();
    engine = await openWalEngine(options());
    const q = engine.partition('default', 0);
    expect(q.applied()).toEqual({ appliedIndex: 3, epoch: 1 });
    expect(q.range(all).map((e) => e.key.toString())).toEqual(['b', 'c']);
    expect(q.logEntries(1, 3, 1 << 20).map((e) => e.entry.toString())).toEqual(['e1', 'e2', 'e3']);
    await engine.close();
  });

  it('deletes the segments below every floor once LMDB holds the applied data, and replays the rest after a reopen', async () => {
    let engine: StorageEngine = await openWalEngine(options({ applyIntervalMs: 1 }));
    const a = engine.partition('default', 0);
    const b = engine.partition('default', 1);
    const value = Buffer.alloc(1_000, 7);
    let created = 0;
    for (let i = 1; i <= 400; i++) {
      await engine.write(() => {
        a.appendLog(i, value);
        b.appendLog(i, value);
        a.putValue(Buffer.from(`k${i % 10}`), i, value);
        a.setApplied({ appliedIndex: i, epoch: 1 });
        b.setApplied({ appliedIndex: i, epoch: 1 });
        // Keep the last 50 entries of each partition.
        if (i > 50) {
          a.truncateLogBefore(i - 49, 1_000);
          b.truncateLogBefore(i - 49, 1_000);
        }
      });
      created = Math.max(created, ...segments().map((n) => Number.parseInt(n, 16)));
    }
    // 400 batches of about 2 KB fill some 12 segments of 64 KiB; the floors keep the last two or three.
    expect(created).toBeGreaterThan(10);
    await engine.close();
    expect(segments().length).toBeLessThan(created - 5);
    engine = await openWalEngine(options());
    const reopened = engine.partition('default', 0);
    expect(reopened.applied().appliedIndex).toBe(400);
    expect(reopened.lastLogIndex()).toBe(400);
    expect(reopened.firstLogIndex()).toBeLessThanOrEqual(351);
    expect(reopened.logEntries(351, 400, 1 << 30)).toHaveLength(50);
    expect(reopened.get(Buffer.from('k0'))?.version).toBe(400);
    expect(engine.partition('default', 1).logEntry(400)).toEqual(value);
    await engine.close();
  });

  it('bounds the live WAL: a partition that stopped writing is copied forward instead of keeping every later segment', async () => {
    const entryOf = (i: number): Buffer => Buffer.from(`idle entry ${i}`);
    /** Writes 20 entries to an idle partition, then the busy load (writeBusy). */
    const run = async (walRetentionBytes: number): Promise<{ engine: StorageEngine; most: number }> => {
      const engine = await openWalEngine(options({ applyIntervalMs: 1, walRetentionBytes }));
      const idle = engine.partition('default', 0);
      const busy = engine.partition('default', 1);
      await engine.write(() => {
        for (let i = 1; i <= 20; i++) idle.appendLog(i, entryOf(i));
        idle.putValue(Buffer.from('idle-key'), 20, Buffer.from('idle-value'));
        idle.setApplied({ appliedIndex: 20, epoch: 1 });
      });
      return { engine, most: await writeBusy(engine, busy) };
    };

    // Without a bound that matters, the idle partition's first segment keeps all the others.
    const unbounded = await run(1 << 30);
    await unbounded.engine.close();
    expect(unbounded.most).toBeGreaterThan(12);
    rmSync(dir, { recursive: true, force: true });

    // With 4 segments of 64 KiB: the idle run is relocated and old segments go.
    const bounded = await run(4 * 64 * 1024);
    expect(bounded.most).toBeLessThanOrEqual(7);
    const idle = bounded.engine.partition('default', 0);
    expect(idle.logEntries(1, 20, 1 << 30).map((e) => e.entry)).toEqual(Array.from({ length: 20 }, (_, i) => entryOf(i + 1)));
    await bounded.engine.close();
    // Replay finds the run at its new place (the segment that held it first is gone).
    expect(segments().map((n) => Number.parseInt(n, 16))).not.toContain(1);
    const reopened = await openWalEngine(options());
    const again = reopened.partition('default', 0);
    expect([again.firstLogIndex(), again.lastLogIndex(), again.applied().appliedIndex]).toEqual([1, 20, 20]);
    expect(again.logEntries(1, 20, 1 << 30).map((e) => e.entry)).toEqual(Array.from({ length: 20 }, (_, i) => entryOf(i + 1)));
    expect(again.get(Buffer.from('idle-key'))?.value.toString()).toBe('idle-value');
    expect(reopened.partition('default', 1).lastLogIndex()).toBe(400);
    await reopened.close();
  });

  it('asks for a log trim when a stopped partition pins old segments with a run too long to copy, and the trim frees them', async () => {
    const wanted: string[] = [];
    let trim: (() => void) | undefined;
    const engine = await openWalEngine(options({ applyIntervalMs: 1, walRetentionBytes: 4 * 64 * 1024, onLogTrimWanted: (p) => {
      wanted.push(`${p.keyspace}/${p.partitionId}`);
      trim?.();
    } }));
    const idle = engine.partition('default', 0);
    const busy = engine.partition('default', 1);
    // 40 entries of 1 KB: more than the quarter segment (16 KiB) a relocation copies.
    const big = Buffer.alloc(1_000, 3);
    await engine.write(() => {
      for (let i = 1; i <= 40; i++) idle.appendLog(i, big);
      idle.setApplied({ appliedIndex: 40, epoch: 1 });
    });
    // What PartitionReplica.trimLog does for it: keep from the applied index + 1.
    let trims = 0;
    trim = () => {
      if (trims > 0) return;
      trims++;
      void engine.write(() => idle.truncateLogBefore(idle.applied().appliedIndex + 1, 1_000));
    };
    const most = await writeBusy(engine, busy);
    expect(wanted[0]).toBe('default/0');
    expect(trims).toBe(1);
    expect(most).toBeLessThanOrEqual(7);
    expect([idle.firstLogIndex(), idle.lastLogIndex()]).toEqual([41, 40]);
    await engine.close();
    const reopened = await openWalEngine(options());
    const again = reopened.partition('default', 0);
    expect([again.firstLogIndex(), again.lastLogIndex(), again.applied().appliedIndex]).toEqual([41, 40, 40]);
    await reopened.close();
  });

  it('lists a partition whose writes are only in the WAL as stored', async () => {
    const engine = await openWalEngine(options({ applyIntervalMs: 60_000 }));
    const p = engine.partition('default', 2);
    await engine.write(() => p.appendLog(1, Buffer.from('e1')));
    expect(engine.storedPartitions()).toEqual([{ keyspace: 'default', partitionId: 2 }]);
    await engine.close();
  });
});
