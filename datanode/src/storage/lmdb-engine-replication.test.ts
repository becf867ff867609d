/**
 * The storage primitives replication needs (RFC 0001), against real LMDB on a temp dir: log end
 * and log shape, bounded log reads, follower truncation, the epoch history, snapshot reading and
 * snapshot install. "Crash" here is close and reopen: LMDB keeps exactly the committed
 * transactions, so a reopen shows what a restart after kill -9 would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb, type Database } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLmdbEngine } from './lmdb-engine.js';
import { openWalEngine } from './wal-engine.js';
import { directKeyBytesMax, encodeAppliedState, logKey, storedKey, type AppliedState } from './codec.js';
import type { PartitionStore, RangeQuery, SnapshotReader, StorageEngine, StoredEntry } from './engine.js';

let dir: string;
let engine: StorageEngine;
type EngineKind = 'lmdb' | 'wal';
const engineKinds: EngineKind[] = ['lmdb', 'wal'];

/** The engine under test; each suite below runs once per engine. */
let kind: EngineKind;
const open = async (snapshotReadersMax?: number): Promise<StorageEngine> => {
  const readers = snapshotReadersMax === undefined ? {} : { snapshotReadersMax };
  if (kind === 'lmdb') return openLmdbEngine({ path: join(dir, 'lmdb'), partitionsMax: 8, ...readers });
  return openWalEngine({ lmdbPath: join(dir, 'lmdb'), walDir: join(dir, 'wal'), partitionsMax: 8, segmentBytes: 256 * 1024, ...readers });
};
const reopen = async (): Promise<void> => {
  await engine.close();
  engine = await open();
};
const all: RangeQuery = { start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1_000_000, bytesMax: 1 << 30, keysOnly: false };
const entry = (i: number): Buffer => Buffer.from(`entry-${i}`);
const summary = (entries: readonly StoredEntry[]): string[] => entries.map((e) => `${e.key.length}:${e.key.subarray(-8).toString()}=${e.value.toString()}@${e.version}`);

/** Appends entries from..to, then records `applied` (when given) in one transaction. */
async function appendEntries(p: PartitionStore, from: number, to: number, applied?: AppliedState): Promise<void> {
  await engine.write(() => {
    for (let i = from; i <= to; i++) p.appendLog(i, entry(i));
    if (applied !== undefined) p.setApplied(applied);
  });
}

/**
 * Edits the environment behind the engine's back (the engine must be closed), to build on-disk
 * states the engine itself refuses to write.
 */
async function editRaw(edit: (dbs: RawDbs) => void): Promise<void> {
  const root = openLmdb({ path: join(dir, 'lmdb'), maxDbs: 20, compression: false, keyEncoding: 'binary', encoding: 'binary' });
  const dbs: RawDbs = {
    log: root.openDB<Buffer, Buffer>('l/default/0', { keyEncoding: 'binary', encoding: 'binary' }),
    meta: root.openDB<Buffer, string>('meta', { keyEncoding: 'ordered-binary', encoding: 'binary' }),
  };
  await root.transaction(() => edit(dbs));
  await root.close();
}
interface RawDbs {
  readonly log: Database<Buffer, Buffer>;
  readonly meta: Database<Buffer, string>;
}


describe.each(engineKinds)('the %s storage engine', (engineKind) => {
  beforeEach(async () => {
    kind = engineKind;
    dir = mkdtempSync(join(tmpdir(), 'quire-lmdb-repl-'));
    engine = await open();
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the log end and the log shape', () => {
    it('is 0 for a log that never had an entry, follows appends, and survives a reopen', async () => {
      const p = engine.partition('default', 0);
      expect(p.lastLogIndex()).toBe(0);
      expect(p.firstLogIndex()).toBe(1);
      await appendEntries(p, 1, 3, { appliedIndex: 3, epoch: 1 });
      expect(p.lastLogIndex()).toBe(3);
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.firstLogIndex(), q.lastLogIndex(), q.applied().appliedIndex]).toEqual([1, 3, 3]);
    });

    it('is the applied index once prefix truncation has removed every entry, also after a reopen', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 6, { appliedIndex: 6, epoch: 2 });
      expect(await engine.write(() => p.truncateLogBefore(7, 100))).toBe(6);
      expect([p.firstLogIndex(), p.lastLogIndex()]).toEqual([7, 6]);
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.firstLogIndex(), q.lastLogIndex()]).toEqual([7, 6]);
      await appendEntries(q, 7, 7, { appliedIndex: 7, epoch: 2 });
      expect(q.logEntry(7)?.toString()).toBe('entry-7');
    });

    it('lets the log run ahead of the applied index (deferred apply), across a reopen', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 5, { appliedIndex: 2, epoch: 1 });
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.applied().appliedIndex, q.firstLogIndex(), q.lastLogIndex()]).toEqual([2, 1, 5]);
      await engine.write(() => q.setApplied({ appliedIndex: 5, epoch: 1 }));
      await appendEntries(q, 6, 6);
      expect(q.lastLogIndex()).toBe(6);
    });

    it('refuses an append that would leave a gap or overwrite an entry, and writes nothing (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 3, { appliedIndex: 3, epoch: 1 });
      await expect(engine.write(() => p.appendLog(5, entry(5)))).rejects.toThrow('Log append at 5, but the log ends at 3');
      await expect(engine.write(() => p.appendLog(3, Buffer.from('other')))).rejects.toThrow('Log append at 3');
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.lastLogIndex(), q.logEntry(3)?.toString(), q.logEntry(5)]).toEqual([3, 'entry-3', undefined]);
    });

    it('refuses an applied index beyond the end of a non-empty log (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 3, { appliedIndex: 1, epoch: 1 });
      await expect(engine.write(() => p.setApplied({ appliedIndex: 4, epoch: 1 }))).rejects.toThrow('beyond the log end 3');
    });

    it('moves an empty log along with the applied index', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => p.setApplied({ appliedIndex: 5, epoch: 1 }));
      expect([p.firstLogIndex(), p.lastLogIndex()]).toEqual([6, 5]);
      await appendEntries(p, 6, 6);
      expect(p.firstLogIndex()).toBe(6);
    });

    it('refuses prefix truncation of entries that are not applied yet (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 5, { appliedIndex: 2, epoch: 1 });
      await expect(engine.write(() => p.truncateLogBefore(4, 10))).rejects.toThrow('would drop entries after applied index 2');
      expect(await engine.write(() => p.truncateLogBefore(3, 10))).toBe(2);
      expect([p.firstLogIndex(), p.lastLogIndex()]).toEqual([3, 5]);
    });

    it.each([
      [
        'a gap in the middle of the log (found by the entry count)',
        (e: RawDbs) => e.log.removeSync(logKey(3)),
        'has gaps',
      ],
      [
        'a log that starts after applied + 1',
        (e: RawDbs) => {
          e.log.removeSync(logKey(1));
          e.log.removeSync(logKey(2));
          e.meta.putSync('applied/default/0', encodeAppliedState({ appliedIndex: 1, epoch: 1 }));
        },
        'leaving a gap after applied index 1',
      ],
      [
        'a log that ends below the applied index',
        (e: RawDbs) => e.meta.putSync('applied/default/0', encodeAppliedState({ appliedIndex: 7, epoch: 1 })),
        'log ends at 5, below applied index 7',
      ],
      // The first two edit the LMDB log, which the WAL engine does not have.
    ].filter(([name]) => engineKind === 'lmdb' || String(name).startsWith('a log that ends')) as [string, (e: RawDbs) => void, string][])('refuses to open a partition with %s (assertion)', async (_name, edit, message) => {
      await appendEntries(engine.partition('default', 0), 1, 5, { appliedIndex: 3, epoch: 1 });
      await engine.close();
      await editRaw(edit);
      engine = await open();
      expect(() => engine.partition('default', 0)).toThrow(message);
    });
  });

  describe('reading log entries', () => {
    it('reads a range in index order, cut at the log end and by the byte budget, never empty when entries exist', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 10, { appliedIndex: 10, epoch: 1 });
      const indexes = (from: number, to: number, bytesMax: number) => p.logEntries(from, to, bytesMax).map((e) => e.index);
      expect(p.logEntries(2, 3, 1 << 20)).toEqual([{ index: 2, entry: entry(2) }, { index: 3, entry: entry(3) }]);
      expect(indexes(1, 10, 1 << 20)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(indexes(8, 1000, 1 << 20)).toEqual([8, 9, 10]);
      // Each entry is 7 bytes: the budget is reached after the third (the first two take 14 < 15).
      expect(indexes(1, 10, 15)).toEqual([1, 2, 3]);
      expect(indexes(4, 10, 1)).toEqual([4]);
      expect(indexes(11, 20, 1 << 20)).toEqual([]);
      expect(indexes(5, 4, 1 << 20)).toEqual([]);
    });

    it('refuses to read below the log start: those entries are gone and a snapshot is due (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 10, { appliedIndex: 10, epoch: 1 });
      await engine.write(() => p.truncateLogBefore(5, 100));
      expect(() => p.logEntries(4, 10, 1 << 20)).toThrow('below the log start 5');
      expect(p.logEntries(5, 5, 1 << 20).map((e) => e.index)).toEqual([5]);
      expect(() => p.logEntries(0, 3, 100)).toThrow('Log read from 0');
      expect(() => p.logEntries(5, 10, 0)).toThrow('byte budget');
    });
  });

  describe('truncating the log after an index (follower)', () => {
    it('deletes the suffix, lets appends continue after it, and keeps that across a reopen', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 10, { appliedIndex: 4, epoch: 1 });
      expect(await engine.write(() => p.truncateLogAfter(6))).toBe(4);
      expect([p.firstLogIndex(), p.lastLogIndex(), p.logEntry(7)]).toEqual([1, 6, undefined]);
      await engine.write(() => p.appendLog(7, Buffer.from('new-7')));
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.lastLogIndex(), q.logEntry(7)?.toString(), q.logEntry(8)]).toEqual([7, 'new-7', undefined]);
      expect(await engine.write(() => q.truncateLogAfter(9))).toBe(0);
    });

    it('down to the applied index leaves an empty log that continues after it', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 6, { appliedIndex: 6, epoch: 1 });
      await engine.write(() => p.truncateLogBefore(7, 100));
      await appendEntries(p, 7, 9);
      expect(await engine.write(() => p.truncateLogAfter(6))).toBe(3);
      expect([p.firstLogIndex(), p.lastLogIndex()]).toEqual([7, 6]);
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.firstLogIndex(), q.lastLogIndex(), q.applied().appliedIndex]).toEqual([7, 6, 6]);
    });

    it('refuses to truncate below the applied index (RFC invariant 6) and removes nothing (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 10, { appliedIndex: 4, epoch: 1 });
      await expect(engine.write(() => p.truncateLogAfter(3))).rejects.toThrow('would drop entries up to applied index 4');
      expect([p.lastLogIndex(), p.logEntry(10)?.toString()]).toEqual([10, 'entry-10']);
    });

    it('refuses to run outside a write() body (assertion)', async () => {
      const p = engine.partition('default', 0);
      await appendEntries(p, 1, 3, { appliedIndex: 1, epoch: 1 });
      expect(() => p.truncateLogAfter(2)).toThrow('outside a write() body');
      expect(p.lastLogIndex()).toBe(3);
    });
  });

  describe('the epoch history', () => {
    it('stores opaque bytes per partition, replaces them, and keeps them across a reopen', async () => {
      const a = engine.partition('default', 0);
      const b = engine.partition('default', 1);
      expect(a.epochHistory()).toBeUndefined();
      await engine.write(() => a.setEpochHistory(Buffer.from('first')));
      await engine.write(() => a.setEpochHistory(Buffer.from('second')));
      expect(a.epochHistory()?.toString()).toBe('second');
      expect(b.epochHistory()).toBeUndefined();
      await reopen();
      expect(engine.partition('default', 0).epochHistory()?.toString()).toBe('second');
      // Stored partitions: one with only an epoch history, and one only opened (its sub-databases exist).
      expect(engine.storedPartitions().map((p) => p.partitionId).sort()).toEqual([0, 1]);
    });

    it('is unchanged by a body that throws after setting it', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => p.setEpochHistory(Buffer.from('kept')));
      await expect(
        engine.write(() => {
          p.setEpochHistory(Buffer.from('lost'));
          throw new Error('body failed');
        }),
      ).rejects.toThrow('body failed');
      expect(p.epochHistory()?.toString()).toBe('kept');
    });

    it('refuses empty bytes and writes outside a write() body (assertion)', async () => {
      const p = engine.partition('default', 0);
      await expect(engine.write(() => p.setEpochHistory(Buffer.alloc(0)))).rejects.toThrow('must not be empty');
      expect(() => p.setEpochHistory(Buffer.from('x'))).toThrow('outside a write() body');
    });
  });

  describe('the leader tenure', () => {
    it('is 0 until recorded, keeps the newest epoch per partition across a reopen and a snapshot install, and is never lowered', async () => {
      const a = engine.partition('default', 0);
      expect(a.leaderTenure()).toBe(0);
      await engine.write(() => a.setLeaderTenure(3));
      await engine.write(() => a.setLeaderTenure(2 ** 40));
      expect(a.leaderTenure()).toBe(2 ** 40);
      expect(engine.partition('default', 1).leaderTenure()).toBe(0);
      await reopen();
      const reopened = engine.partition('default', 0);
      expect(reopened.leaderTenure()).toBe(2 ** 40);
      // A node that led, then was re-seeded as a follower, still knows the epoch it led.
      await engine.write(() => reopened.beginSnapshotInstall());
      await engine.write(() => reopened.finishSnapshotInstall({ appliedIndex: 0, epoch: 0 }));
      expect(reopened.leaderTenure()).toBe(2 ** 40);
      await expect(engine.write(() => reopened.setLeaderTenure(5))).rejects.toThrow('would go from');
      expect(() => reopened.setLeaderTenure(2 ** 41)).toThrow('outside a write() body');
      // Partition 1 was only opened: its sub-databases exist, so it is listed too.
      expect(engine.storedPartitions().map((p) => p.partitionId).sort()).toEqual([0, 1]);
    });

    it('is stored in meta under leader-term/<keyspace>/<id>, the key existing data directories have', async () => {
      const a = engine.partition('default', 0);
      await engine.write(() => a.setLeaderTenure(7));
      await engine.close();
      let stored: Buffer | undefined;
      await editRaw((dbs) => {
        stored = dbs.meta.get('leader-term/default/0');
      });
      engine = await open();
      expect(stored?.toString('hex')).toBe('0000000000000007');
    });
  });

  /** Keys of every shape: short, exactly at the direct limit, 4096 bytes, and an overflow group. */
  function mixedKeys(): Buffer[] {
    const long = 'L'.repeat(directKeyBytesMax + 5);
    return [
      Buffer.from('a'),
      Buffer.from('b'.repeat(directKeyBytesMax)),
      Buffer.alloc(4096, 'c'),
      Buffer.from(`${long}x`),
      Buffer.from(`${long}y`),
      Buffer.from(`${long}z${'0'.repeat(2000)}`),
      Buffer.from('m'),
      Buffer.from('z'),
    ];
  }

  async function fill(p: PartitionStore, keys: readonly Buffer[], epoch: number): Promise<AppliedState> {
    const from = p.lastLogIndex() + 1;
    await engine.write(() => {
      keys.forEach((key, i) => {
        p.appendLog(from + i, entry(from + i));
        p.putValue(key, from + i, Buffer.from(`value-${from + i}`));
      });
      p.setApplied({ appliedIndex: from + keys.length - 1, epoch });
    });
    return p.applied();
  }

  const chunksOf = (reader: SnapshotReader, bytesMax: number): StoredEntry[][] => [...reader.chunks(bytesMax)];

  describe('reading a snapshot', () => {
    it('returns every entry in key order, in bounded chunks of at least one entry, with its applied state', async () => {
      const p = engine.partition('default', 0);
      const state = await fill(p, mixedKeys(), 3);
      const reader = p.snapshotReader();
      expect([reader.appliedIndex, reader.epoch]).toEqual([state.appliedIndex, 3]);
      const chunks = chunksOf(reader, 3000);
      for (const chunk of chunks) {
        expect(chunk.length).toBeGreaterThanOrEqual(1);
        const bytes = chunk.reduce((sum, e) => sum + e.key.length + e.value.length, 0);
        const last = chunk.at(-1)!;
        expect(bytes - last.key.length - last.value.length).toBeLessThan(3000);
      }
      expect(chunks.length).toBeGreaterThan(2);
      // The same entries in the same order as a full scan, overflow group included.
      const flat = chunks.flat();
      expect(summary(flat)).toEqual(summary(p.range(all)));
      expect(flat.find((e) => e.key.length === 4096)?.key.equals(Buffer.alloc(4096, 'c'))).toBe(true);
      // A second pass over the same reader starts again from the first key.
      expect(summary(chunksOf(reader, 1 << 30)[0] ?? [])).toEqual(summary(flat));
      reader.close();
    });

    it('keeps its view while writes continue, also across event-loop turns and between chunks', async () => {
      const p = engine.partition('default', 0);
      await fill(p, [Buffer.from('k1'), Buffer.from('k2'), Buffer.from('k3'), Buffer.from('k4')], 1);
      const before = p.range(all);
      const reader = p.snapshotReader();
      await engine.write(() => {
        p.appendLog(5, entry(5));
        p.putValue(Buffer.from('k2'), 5, Buffer.from('changed'));
        p.appendLog(6, entry(6));
        p.deleteValue(Buffer.from('k3'));
        p.appendLog(7, entry(7));
        p.putValue(Buffer.from('k0'), 7, Buffer.from('new'));
        p.setApplied({ appliedIndex: 7, epoch: 2 });
      });
      // lmdb-js resets its shared read transaction on a timer; the reader's must survive that.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const iterator = reader.chunks(1)[Symbol.iterator]();
      const first = iterator.next();
      await engine.write(() => {
        p.appendLog(8, entry(8));
        p.deleteValue(Buffer.from('k4'));
        p.setApplied({ appliedIndex: 8, epoch: 2 });
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const rest: StoredEntry[] = [];
      for (let next = iterator.next(); next.done !== true; next = iterator.next()) rest.push(...next.value);
      expect(first.done).toBe(false);
      expect(summary([...(first.value as StoredEntry[]), ...rest])).toEqual(summary(before));
      expect([reader.appliedIndex, reader.epoch]).toEqual([4, 1]);
      reader.close();
      // A new reader sees the new state.
      const now = p.snapshotReader();
      expect(summary(chunksOf(now, 1 << 20).flat())).toEqual(summary(p.range(all)));
      expect([now.appliedIndex, now.epoch]).toEqual([8, 2]);
      now.close();
    });

    it('stops reading between overflow groups and sorts each group, whatever the budget', async () => {
      const p = engine.partition('default', 0);
      const keys: Buffer[] = [];
      for (const head of ['G', 'H', 'I']) {
        const prefix = head.repeat(directKeyBytesMax);
        for (const tail of ['c', 'a', 'b', 'a0']) keys.push(Buffer.from(`${prefix}${tail}`));
      }
      await fill(p, keys, 1);
      const expected = summary(p.range(all));
      expect(expected).toHaveLength(12);
      for (const bytesMax of [1, 1910, 3 * 1902, 1 << 20]) {
        const reader = p.snapshotReader();
        const chunks = chunksOf(reader, bytesMax);
        reader.close();
        expect(summary(chunks.flat())).toEqual(expected);
        for (const chunk of chunks.slice(0, -1)) {
          const bytes = chunk.reduce((sum, e) => sum + e.key.length + e.value.length, 0);
          const last = chunk.at(-1)!;
          expect(bytes).toBeGreaterThanOrEqual(bytesMax);
          expect(bytes - last.key.length - last.value.length).toBeLessThan(bytesMax);
        }
      }
    });

    it('reads an empty partition as no chunks at applied index 0', () => {
      const reader = engine.partition('default', 0).snapshotReader();
      expect([reader.appliedIndex, reader.epoch, chunksOf(reader, 100)]).toEqual([0, 0, []]);
      reader.close();
    });

    it('describes committed state only, even when taken inside a write() body', async () => {
      const p = engine.partition('default', 0);
      await fill(p, [Buffer.from('k1')], 1);
      const reader = await engine.write(() => {
        p.appendLog(2, entry(2));
        p.putValue(Buffer.from('k2'), 2, Buffer.from('v'));
        p.setApplied({ appliedIndex: 2, epoch: 1 });
        return p.snapshotReader();
      });
      expect(reader.appliedIndex).toBe(1);
      expect(chunksOf(reader, 100).flat().map((e) => e.key.toString())).toEqual(['k1']);
      reader.close();
    });

    it('is bounded in number, refuses use after close, and is closed by engine.close() (assertion)', async () => {
      await engine.close();
      engine = await open(2);
      const p = engine.partition('default', 0);
      await fill(p, [Buffer.from('k')], 1);
      const a = p.snapshotReader();
      const b = p.snapshotReader();
      expect(() => p.snapshotReader()).toThrow('More than 2 snapshot readers');
      a.close();
      a.close();
      expect(() => chunksOf(a, 100)).toThrow('used after close()');
      const c = p.snapshotReader();
      // A reader closed between chunks yields nothing more, even what it had already read.
      const iterator = b.chunks(1)[Symbol.iterator]();
      expect(iterator.next().done).toBe(false);
      b.close();
      expect(() => iterator.next()).toThrow('used after close()');
      const d = p.snapshotReader();
      await engine.close();
      expect(() => chunksOf(c, 100)).toThrow('used after close()');
      expect(() => chunksOf(d, 100)).toThrow('used after close()');
      engine = await open();
    });
  });

  /** Streams `source`'s snapshot into `target` the way a follower would: one transaction per chunk. */
  async function copySnapshot(source: PartitionStore, target: PartitionStore, bytesMax: number, epochHistory: Buffer): Promise<AppliedState> {
    const reader = source.snapshotReader();
    const state = { appliedIndex: reader.appliedIndex, epoch: reader.epoch };
    await engine.write(() => target.beginSnapshotInstall());
    for (const chunk of reader.chunks(bytesMax)) await engine.write(() => target.installSnapshot(state, chunk));
    reader.close();
    await engine.write(() => {
      target.finishSnapshotInstall(state);
      target.setEpochHistory(epochHistory);
    });
    return state;
  }

  describe('installing a snapshot', () => {
    it('loads a snapshot with a 4096-byte key in several transactions and continues the log after it, across a reopen', async () => {
      const source = engine.partition('default', 0);
      const target = engine.partition('default', 1);
      await fill(source, mixedKeys(), 4);
      await fill(target, [Buffer.from('old-1'), Buffer.from('old-2')], 1);
      await engine.write(() => target.setEpochHistory(Buffer.from('old-history')));
      const expected = summary(source.range(all));
      const longValue = source.get(Buffer.alloc(4096, 'c'))?.value.toString();
      const state = await copySnapshot(source, target, 2500, Buffer.from('new-history'));
      const check = (p: PartitionStore): void => {
        expect(summary(p.range(all))).toEqual(expected);
        expect(p.get(Buffer.alloc(4096, 'c'))?.value.toString()).toBe(longValue);
        expect(p.get(Buffer.from('old-1'))).toBeUndefined();
        expect(p.applied()).toEqual(state);
        expect([p.firstLogIndex(), p.lastLogIndex(), p.logEntry(1), p.snapshotInstallPending()]).toEqual([
          state.appliedIndex + 1,
          state.appliedIndex,
          undefined,
          false,
        ]);
        expect(p.epochHistory()?.toString()).toBe('new-history');
      };
      check(target);
      await reopen();
      const reopened = engine.partition('default', 1);
      check(reopened);
      await engine.write(() => reopened.appendLog(state.appliedIndex + 1, entry(state.appliedIndex + 1)));
      expect(reopened.logEntries(state.appliedIndex + 1, state.appliedIndex + 1, 100)).toHaveLength(1);
    });

    it('loads overflow groups split over chunks, in key order where their stored (hash) order differs', async () => {
      const source = engine.partition('default', 0);
      const target = engine.partition('default', 1);
      const prefix = 'G'.repeat(directKeyBytesMax);
      const group = ['c', 'a', 'b', 'a0', 'd', 'e'].map((tail) => Buffer.from(`${prefix}${tail}`));
      const byKey = [...group].sort(Buffer.compare);
      const byStored = [...group].sort((a, b) => Buffer.compare(storedKey(a), storedKey(b)));
      expect(byStored).not.toEqual(byKey); // the case this test is about
      await fill(source, [Buffer.from('A'), ...group, Buffer.from('Z')], 1);
      await copySnapshot(source, target, 1, Buffer.from('h'));
      expect(summary(target.range(all))).toEqual(summary(source.range(all)));
      for (const key of group) expect(target.get(key)?.version).toBe(source.get(key)?.version);
    });

    it('installs an empty snapshot without any chunk', async () => {
      const target = engine.partition('default', 1);
      await fill(target, [Buffer.from('k')], 1);
      await engine.write(() => target.beginSnapshotInstall());
      await engine.write(() => target.finishSnapshotInstall({ appliedIndex: 0, epoch: 0 }));
      expect([target.range(all), target.applied(), target.lastLogIndex()]).toEqual([[], { appliedIndex: 0, epoch: 0 }, 0]);
    });

    it('may lower the applied index: a re-seed replaces the replica (RFC invariant 6)', async () => {
      const source = engine.partition('default', 0);
      const target = engine.partition('default', 1);
      await fill(source, [Buffer.from('a'), Buffer.from('b')], 2);
      await fill(target, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d')], 1);
      await copySnapshot(source, target, 1 << 20, Buffer.from('h'));
      expect(target.applied()).toEqual({ appliedIndex: 2, epoch: 2 });
      expect(target.range(all).map((e) => e.key.toString())).toEqual(['a', 'b']);
    });

    it('marks an install interrupted by a crash as pending, refuses normal writes, and restarts it cleanly', async () => {
      const source = engine.partition('default', 0);
      const target = engine.partition('default', 1);
      await fill(source, mixedKeys(), 4);
      await fill(target, [Buffer.from('old')], 1);
      const reader = source.snapshotReader();
      const state = { appliedIndex: reader.appliedIndex, epoch: reader.epoch };
      await engine.write(() => target.beginSnapshotInstall());
      expect([target.snapshotInstallPending(), target.lastLogIndex(), target.applied().appliedIndex, target.range(all)]).toEqual([true, 1, 1, []]);
      const [firstChunk] = chunksOf(reader, 1);
      await engine.write(() => target.installSnapshot(state, firstChunk ?? []));
      reader.close();
      await reopen();
      const pending = engine.partition('default', 1);
      expect(pending.snapshotInstallPending()).toBe(true);
      expect(pending.range(all)).toHaveLength(1);
      expect(pending.applied().appliedIndex).toBe(1);
      await expect(engine.write(() => pending.appendLog(2, entry(2)))).rejects.toThrow('while a snapshot install is pending');
      await expect(engine.write(() => pending.setApplied({ appliedIndex: 1, epoch: 1 }))).rejects.toThrow('while a snapshot install is pending');
      await expect(engine.write(() => pending.putValue(Buffer.from('x'), 1, Buffer.from('y')))).rejects.toThrow('while a snapshot install is pending');
      expect(() => pending.snapshotReader()).toThrow('while a snapshot install is pending');
      // What was loaded before the crash is not resumed: only a new begin continues.
      await expect(engine.write(() => pending.installSnapshot(state, []))).rejects.toThrow('must begin again');
      await expect(engine.write(() => pending.finishSnapshotInstall(state))).rejects.toThrow('must begin again');
      const source2 = engine.partition('default', 0);
      await copySnapshot(source2, pending, 4000, Buffer.from('h'));
      expect(summary(pending.range(all))).toEqual(summary(source2.range(all)));
      expect(pending.snapshotInstallPending()).toBe(false);
    });

    it('lists a partition whose first install is pending among the stored partitions', async () => {
      const target = engine.partition('default', 5);
      await engine.write(() => target.beginSnapshotInstall());
      await reopen();
      expect(engine.storedPartitions()).toEqual([{ keyspace: 'default', partitionId: 5 }]);
      expect(engine.partition('default', 5).snapshotInstallPending()).toBe(true);
    });

    it('undoes beginSnapshotInstall in a body that throws', async () => {
      const p = engine.partition('default', 0);
      await fill(p, [Buffer.from('k1'), Buffer.from('k2')], 1);
      await engine.write(() => p.setEpochHistory(Buffer.from('h')));
      await expect(
        engine.write(() => {
          p.beginSnapshotInstall();
          throw new Error('body failed');
        }),
      ).rejects.toThrow('body failed');
      await reopen();
      const q = engine.partition('default', 0);
      expect([q.snapshotInstallPending(), q.range(all).length, q.lastLogIndex(), q.epochHistory()?.toString()]).toEqual([false, 2, 2, 'h']);
    });

    const state = { appliedIndex: 10, epoch: 2 };
    const stored = (key: string, version = 1): StoredEntry => ({ key: Buffer.from(key), value: Buffer.from('v'), version });
    it.each([
      ['entries out of key order in one chunk', [[stored('b'), stored('a')]], 'out of ascending key order'],
      ['a chunk that starts before the previous one ended', [[stored('b')], [stored('a')]], 'out of ascending key order'],
      ['a key loaded twice', [[stored('a')], [stored('a')]], 'out of ascending key order'],
      ['a version above the snapshot index', [[stored('a', 11)]], 'outside 1..10'],
      ['a version 0', [[stored('a', 0)]], 'outside 1..10'],
      ['an empty key', [[stored('')]], 'Snapshot key of 0 bytes'],
    ])('refuses %s and writes none of that chunk (assertion)', async (_name, chunks, message) => {
      const p = engine.partition('default', 0);
      await engine.write(() => p.beginSnapshotInstall());
      const last = chunks.length - 1;
      for (const [i, chunk] of chunks.entries()) {
        const install = engine.write(() => p.installSnapshot(state, chunk));
        if (i < last) await install;
        else await expect(install).rejects.toThrow(message);
      }
      expect(p.range(all)).toHaveLength(last === 0 ? 0 : 1);
    });

    it('refuses chunks and finishing without a begun install, and a finish at another state (assertion)', async () => {
      const p = engine.partition('default', 0);
      await expect(engine.write(() => p.installSnapshot(state, [stored('a')]))).rejects.toThrow('without beginSnapshotInstall');
      await expect(engine.write(() => p.finishSnapshotInstall(state))).rejects.toThrow('without beginSnapshotInstall');
      await engine.write(() => p.beginSnapshotInstall());
      await engine.write(() => p.installSnapshot(state, [stored('a')]));
      await expect(engine.write(() => p.finishSnapshotInstall({ appliedIndex: 11, epoch: 2 }))).rejects.toThrow('finished as 11');
      await expect(engine.write(() => p.installSnapshot({ appliedIndex: 10, epoch: 3 }, [stored('b')]))).rejects.toThrow('in an install of 10/2');
      expect(() => p.installSnapshot(state, [stored('b')])).toThrow('outside a write() body');
      expect(p.snapshotInstallPending()).toBe(true);
    });
  });
});
