/**
 * Deleting a partition replica (StorageEngine.dropPartition, RFC 0003 "Data node side"), against
 * both engines on real files in a temp dir: the drop deletes data, log and every meta key; the
 * partition opens empty afterwards; nothing of it comes back after a reopen, nor after a crash,
 * which is simulated by copying the directory while the engine is open (LMDB commits and WAL
 * batches are synchronous, so the copy holds exactly what a kill -9 at that moment would leave);
 * stored partitions are listed; and drop/create cycles far beyond LMDB's maxDbs keep working.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLmdbEngine } from './lmdb-engine.js';
import { openWalEngine } from './wal-engine.js';
import type { PartitionStore, RangeQuery, StorageEngine, StoredPartition } from './engine.js';

type EngineKind = 'lmdb' | 'wal';
const engineKinds: EngineKind[] = ['lmdb', 'wal'];
const all: RangeQuery = { start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1_000_000, bytesMax: 1 << 30, keysOnly: false };

let dir: string;
let kind: EngineKind;
const extraDirs: string[] = [];
const openEngines: StorageEngine[] = [];

/** Opens the engine under test on `at` (the test's directory by default); WAL applies wait 60 s unless a commit needs one. */
async function open(at = dir, partitionsMax = 8): Promise<StorageEngine> {
  const engine =
    kind === 'lmdb'
      ? openLmdbEngine({ path: join(at, 'lmdb'), partitionsMax })
      : await openWalEngine({ lmdbPath: join(at, 'lmdb'), walDir: join(at, 'wal'), partitionsMax, segmentBytes: 64 * 1024, applyIntervalMs: 60_000 });
  openEngines.push(engine);
  return engine;
}

async function close(engine: StorageEngine): Promise<void> {
  openEngines.splice(openEngines.indexOf(engine), 1);
  await engine.close();
}

/** A copy of the directory as it is on disk now, while the engine keeps running: what a crash now would leave. */
function crashCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), 'quire-drop-crash-'));
  extraDirs.push(copy);
  cpSync(dir, copy, { recursive: true });
  return copy;
}

const key = (i: number): Buffer => Buffer.from(`key-${i}`);
const entry = (i: number, tag = 'e'): Buffer => Buffer.from(`${tag}-${i}`);
const ids = (ps: readonly StoredPartition[]): string[] => ps.map((p) => `${p.keyspace}/${p.partitionId}`).sort();

/** Entries 1..n with a key each, applied up to `applied`, an epoch history and a leader tenure. */
async function fill(engine: StorageEngine, p: PartitionStore, n: number, applied: number, tag = 'e'): Promise<void> {
  await engine.write(() => {
    for (let i = p.lastLogIndex() + 1; i <= n; i++) p.appendLog(i, entry(i, tag));
    for (let i = p.applied().appliedIndex + 1; i <= applied; i++) p.putValue(key(i), i, entry(i, tag));
    if (applied > p.applied().appliedIndex) p.setApplied({ appliedIndex: applied, epoch: 2 });
    p.setEpochHistory(Buffer.from(`history-${tag}`));
    if (p.leaderTenure() < 2) p.setLeaderTenure(2);
  });
}

/** What a store holds, in one comparable shape. */
function contents(p: PartitionStore): { applied: number; first: number; last: number; keys: string[]; log: string[]; history: string | undefined; tenure: number } {
  const last = p.lastLogIndex();
  const first = p.firstLogIndex();
  return {
    applied: p.applied().appliedIndex,
    first,
    last,
    keys: p.range(all).map((e) => `${e.key.toString()}=${e.value.toString()}@${e.version}`),
    log: last >= first ? p.logEntries(first, last, 1 << 30).map((e) => e.entry.toString()) : [],
    history: p.epochHistory()?.toString(),
    tenure: p.leaderTenure(),
  };
}

const empty = { applied: 0, first: 1, last: 0, keys: [], log: [], history: undefined, tenure: 0 };

/**
 * Expects `after` (a store reopened after a crash) to hold the replica `before` described: the
 * same log end, entries, epoch history and tenure. The WAL engine may come back with a lower
 * applied index (the data of entries only its WAL held is applied again by the replica on open),
 * but then the log still holds every entry above it.
 */
function expectWhole(after: PartitionStore, before: ReturnType<typeof contents>): void {
  const now = contents(after);
  if (kind === 'lmdb') {
    expect(now).toEqual(before);
    return;
  }
  expect({ last: now.last, history: now.history, tenure: now.tenure }).toEqual({ last: before.last, history: before.history, tenure: before.tenure });
  expect(now.applied).toBeLessThanOrEqual(before.applied);
  expect(now.first).toBeLessThanOrEqual(now.applied + 1);
  expect(now.log).toEqual(before.log.slice(now.first - before.first));
  expect(now.keys).toEqual(before.keys.slice(0, now.applied));
}

/** The meta keys of the environment at `at` (the engine must be closed, or this is a crash copy). */
async function metaKeys(at: string): Promise<string[]> {
  const root = openLmdb({ path: join(at, 'lmdb'), maxDbs: 20, compression: false, keyEncoding: 'binary', encoding: 'binary' });
  const meta = root.openDB<Buffer, string>('meta', { keyEncoding: 'ordered-binary', encoding: 'binary' });
  const keys = [...meta.getKeys()].map(String).filter((k) => k !== 'storage-format');
  const names = [...root.getKeys()].map((k) => Buffer.from(k as Uint8Array).toString('utf8').replace(/\0$/, '')).filter((n) => n !== 'meta');
  await root.close();
  return [...keys, ...names.map((n) => `db:${n}`)].sort();
}

describe.each(engineKinds)('dropping a partition with the %s engine', (engineKind) => {
  beforeEach(() => {
    kind = engineKind;
    dir = mkdtempSync(join(tmpdir(), 'quire-drop-'));
  });
  afterEach(async () => {
    for (const engine of openEngines.splice(0)) await engine.close();
    for (const d of [dir, ...extraDirs.splice(0)]) rmSync(d, { recursive: true, force: true });
  });

  it('deletes its data, log and meta keys, leaves other partitions alone, and it opens empty afterwards', async () => {
    const engine = await open();
    const gone = engine.partition('default', 0);
    const kept = engine.partition('default', 1);
    await fill(engine, gone, 10, 6);
    await fill(engine, kept, 5, 5, 'kept');
    const keptBefore = contents(kept);
    expect(ids(engine.storedPartitions())).toEqual(['default/0', 'default/1']);

    await engine.write(() => engine.dropPartition('default', 0));
    expect(ids(engine.storedPartitions())).toEqual(['default/1']);
    expect(() => gone.get(key(1))).toThrow(/which was dropped/);
    expect(contents(engine.partition('default', 0))).toEqual(empty);
    expect(contents(kept)).toEqual(keptBefore);

    await close(engine);
    const reopened = await open();
    expect(contents(reopened.partition('default', 0))).toEqual(empty);
    expect(contents(reopened.partition('default', 1))).toEqual(keptBefore);
    await close(reopened);
    // Nothing of partition 0 is left in meta (the WAL engine keeps its drop mark while the WAL holds its batches).
    const left = (await metaKeys(dir)).filter((k) => k.includes('default/0'));
    expect(left).toEqual(engineKind === 'wal' ? ['db:d/default/0', 'wal-dropped/default/0'] : ['db:d/default/0', 'db:l/default/0']);
  });

  it('drops a partition that is not open (a replica found on disk at start-up), with its install mark and tenure', async () => {
    let engine = await open();
    const p = engine.partition('other', 3);
    await fill(engine, p, 4, 2);
    await engine.write(() => p.beginSnapshotInstall());
    await close(engine);
    engine = await open();
    expect(ids(engine.storedPartitions())).toEqual(['other/3']);
    await engine.write(() => engine.dropPartition('other', 3));
    expect(engine.storedPartitions()).toEqual([]);
    await close(engine);
    engine = await open();
    expect(engine.storedPartitions()).toEqual([]);
    expect(contents(engine.partition('other', 3))).toEqual(empty);
    expect(engine.partition('other', 3).snapshotInstallPending()).toBe(false);
  });

  it('lists every partition with anything on disk: data, only a log, only a leader tenure, only an install mark', async () => {
    let engine = await open();
    await fill(engine, engine.partition('ks', 0), 3, 3);
    const logOnly = engine.partition('ks', 1);
    await engine.write(() => logOnly.appendLog(1, entry(1)));
    const tenureOnly = engine.partition('ks', 2);
    await engine.write(() => tenureOnly.setLeaderTenure(4));
    const installing = engine.partition('ks', 3);
    await engine.write(() => installing.beginSnapshotInstall());
    expect(ids(engine.storedPartitions())).toEqual(['ks/0', 'ks/1', 'ks/2', 'ks/3']);
    await close(engine);
    engine = await open();
    // Listed without being opened.
    expect(ids(engine.storedPartitions())).toEqual(['ks/0', 'ks/1', 'ks/2', 'ks/3']);
    await engine.write(() => {
      engine.dropPartition('ks', 1);
      engine.dropPartition('ks', 2);
    });
    expect(ids(engine.storedPartitions())).toEqual(['ks/0', 'ks/3']);
  });

  it('keeps the replica whole after a crash before the drop committed, and gone after a crash once it did', async () => {
    const engine = await open();
    const p = engine.partition('default', 0);
    // With the WAL engine, entries 7..12 and the data of 5..8 are only in the WAL and its layers here.
    await fill(engine, p, 6, 4);
    await fill(engine, p, 12, 8);
    const before = contents(p);
    const dropped = engine.write(() => engine.dropPartition('default', 0));
    const beforeDrop = crashCopy();
    await dropped;
    const afterDrop = crashCopy();

    const whole = await open(beforeDrop);
    expect(ids(whole.storedPartitions())).toEqual(['default/0']);
    expectWhole(whole.partition('default', 0), before);
    const gone = await open(afterDrop);
    expect(gone.storedPartitions()).toEqual([]);
    expect(contents(gone.partition('default', 0))).toEqual(empty);
  });

  it('never brings the dropped replica back on replay, also once a new replica of the partition wrote and crashed', async () => {
    const engine = await open();
    const p = engine.partition('default', 0);
    await fill(engine, p, 20, 10, 'old');
    await engine.write(() => engine.dropPartition('default', 0));
    // A new replica of the same partition, as when a move adds this node back: it starts at index 1.
    const q = engine.partition('default', 0);
    await fill(engine, q, 3, 1, 'new');
    const fresh = contents(q);
    expect(fresh).toMatchObject({ applied: 1, first: 1, last: 3, log: ['new-1', 'new-2', 'new-3'], keys: ['key-1=new-1@1'] });

    const crashed = await open(crashCopy());
    expectWhole(crashed.partition('default', 0), fresh);
    await close(engine);
    const reopened = await open();
    expect(contents(reopened.partition('default', 0))).toEqual(fresh);
  });

  it('undoes a drop in a body that throws, and refuses one while a snapshot reader of the partition is open (assertion)', async () => {
    const engine = await open();
    const p = engine.partition('default', 0);
    await fill(engine, p, 5, 5);
    const before = contents(p);
    const reader = p.snapshotReader();
    await expect(engine.write(() => engine.dropPartition('default', 0))).rejects.toThrow(/while a snapshot reader of it is open/);
    reader.close();
    expect(contents(p)).toEqual(before);
    if (engineKind === 'wal') {
      // The WAL engine undoes the body's changes in memory too, so the store stays usable.
      await expect(
        engine.write(() => {
          engine.dropPartition('default', 0);
          throw new Error('body failed');
        }),
      ).rejects.toThrow('body failed');
      expect(contents(p)).toEqual(before);
      expect(ids(engine.storedPartitions())).toEqual(['default/0']);
    }
    await close(engine);
    const reopened = await open();
    expect(contents(reopened.partition('default', 0))).toEqual(before);
  });

  it('runs drop and create cycles of many partitions far beyond maxDbs, one open at a time and several at once', async () => {
    // partitionsMax 2: maxDbs is 8 (LMDB engine) or 6 (WAL engine); 60 partitions pass through.
    const engine = await open(dir, 2);
    for (let i = 0; i < 40; i++) {
      const p = engine.partition('cycle', i);
      await fill(engine, p, 3, 2, `c${i}`);
      expect(contents(p).keys).toEqual([`key-1=c${i}-1@1`, `key-2=c${i}-2@2`]);
      await engine.write(() => engine.dropPartition('cycle', i));
    }
    // The same partition again and again, with another one open beside it.
    const beside = engine.partition('beside', 0);
    await fill(engine, beside, 2, 2);
    for (let round = 0; round < 20; round++) {
      const p = engine.partition('again', 0);
      expect(contents(p)).toEqual(empty);
      await fill(engine, p, 4, 4, `r${round}`);
      await engine.write(() => engine.dropPartition('again', 0));
    }
    expect(ids(engine.storedPartitions())).toEqual(['beside/0']);
    await close(engine);
    const reopened = await open(dir, 2);
    expect(ids(reopened.storedPartitions())).toEqual(['beside/0']);
    expect(contents(reopened.partition('beside', 0)).keys).toEqual(['key-1=e-1@1', 'key-2=e-2@2']);
  });
});

describe('the WAL engine’s drop marks', () => {
  beforeEach(() => {
    kind = 'wal';
    dir = mkdtempSync(join(tmpdir(), 'quire-drop-marks-'));
  });
  afterEach(async () => {
    for (const engine of openEngines.splice(0)) await engine.close();
    for (const d of [dir, ...extraDirs.splice(0)]) rmSync(d, { recursive: true, force: true });
  });

  it('are removed once no segment holds a batch of the dropped replica', async () => {
    const engine = await openWalEngine({ lmdbPath: join(dir, 'lmdb'), walDir: join(dir, 'wal'), partitionsMax: 4, segmentBytes: 64 * 1024, applyIntervalMs: 1 });
    openEngines.push(engine);
    const p = engine.partition('default', 0);
    await fill(engine, p, 5, 5);
    await engine.write(() => engine.dropPartition('default', 0));
    // Another partition writes on until the segments of partition 0's batches are deleted.
    const busy = engine.partition('default', 1);
    const value = Buffer.alloc(2_000, 1);
    for (let i = 1; i <= 200; i++) {
      await engine.write(() => {
        busy.appendLog(i, value);
        busy.setApplied({ appliedIndex: i, epoch: 1 });
        if (i > 10) busy.truncateLogBefore(i - 9, 100);
      });
    }
    expect(readdirSync(join(dir, 'wal')).filter((n) => n.endsWith('.seg')).map((n) => Number.parseInt(n, 16))).not.toContain(1);
    await close(engine);
    expect((await metaKeys(dir)).filter((k) => k.startsWith('wal-dropped/'))).toEqual([]);
    const reopened = await open();
    expect(contents(reopened.partition('default', 0))).toEqual(empty);
    expect(reopened.partition('default', 1).lastLogIndex()).toBe(200);
  });
});
